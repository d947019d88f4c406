/*
Copyright 2026 The finx-operator authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package callback serves the endpoint finX redirects the end user's browser to after the widget
// (redirect_uri). It validates the redirect's parameters, hands the result to a Handoff (which stores
// it for the reconciler), and sends the browser on to the application. It never calls finX and never
// shows or forwards the authorisation code.
package callback

import (
	"context"
	"errors"
)

// Request is a parsed finX redirect.
type Request struct {
	State   string // the operator's state, as sent with the widget link
	Code    string // authorisation code; only on success, and possibly absent on a re-consent
	FlowID  string
	Success bool
	Cancel  bool
}

// Result tells the endpoint where to send the browser afterwards.
type Result struct {
	// ReturnURL is the application's page; empty means show the endpoint's own result page.
	ReturnURL string
	// AppState is the application's own state (BankConnection spec.state), handed back on ReturnURL.
	AppState string
}

// Handoff finds the connection a state belongs to and records the result for its reconciler.
type Handoff interface {
	Deliver(ctx context.Context, r Request) (Result, error)
}

// Errors a Handoff returns for a request the endpoint must refuse. Anything else is treated as a
// temporary failure (503): nothing was recorded and the user may retry.
var (
	ErrUnknownState = errors.New("unknown state")
	ErrStateUsed    = errors.New("state already used")
	ErrLinkExpired  = errors.New("link expired")
	// ErrNoCode: a success without a code for a link that needs one (an authorisation; only a
	// re-consent may come back without a code).
	ErrNoCode = errors.New("success without a code")
)
