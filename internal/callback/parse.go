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

package callback

import (
	"fmt"
	"net/url"
	"strings"
)

// Limits on untrusted input. finX codes and the operator's states are far shorter; anything longer
// is not a genuine redirect.
const (
	maxStateLen  = 512
	maxCodeLen   = 8192
	maxFlowIDLen = 256
)

// inputError is a problem with the request itself, shown to the user as a 400 page.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// parseRequest validates the redirect parameters. Parameter order is not a contract, so they are
// read by name; a parameter given twice is refused rather than guessed at.
func parseRequest(v url.Values) (Request, error) {
	var r Request
	get := func(name string, max int) (string, bool, error) {
		vals, ok := v[name]
		if !ok {
			return "", false, nil
		}
		if len(vals) != 1 {
			return "", true, badInput("The parameter %q appears more than once.", name)
		}
		if len(vals[0]) > max {
			return "", true, badInput("The parameter %q is too long.", name)
		}
		return vals[0], true, nil
	}
	state, ok, err := get("state", maxStateLen)
	if err != nil {
		return r, err
	}
	if !ok || state == "" {
		return r, badInput("The request has no state parameter, so it cannot be matched to a bank connection.")
	}
	r.State = state

	success, ok, err := get("success", 8)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, badInput("The request has no success parameter.")
	}
	if r.Success, err = parseBool("success", success); err != nil {
		return r, err
	}
	if cancel, ok, err := get("cancel", 8); err != nil {
		return r, err
	} else if ok {
		if r.Cancel, err = parseBool("cancel", cancel); err != nil {
			return r, err
		}
	}
	if r.Success && r.Cancel {
		return r, badInput("The request says both success and cancel.")
	}
	if r.FlowID, _, err = get("flow_id", maxFlowIDLen); err != nil {
		return r, err
	}
	code, _, err := get("code", maxCodeLen)
	if err != nil {
		return r, err
	}
	if r.Success {
		// finX's documentation disagrees on whether a re-consent's redirect carries a code, so a
		// success without one is the hand-off's to judge: it knows which kind of link the state is.
		r.Code = code
	}
	return r, nil
}

// noCodeMessage explains a success without a code for a link that needs one.
const noCodeMessage = "The request reports success but carries no authorisation code."

func parseBool(name, s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badInput("The parameter %q must be true or false.", name)
}
