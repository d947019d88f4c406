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

package controllers

import (
	"errors"
	"net/http"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
)

// finxFailure classifies a failed finX call for the step that made it. It is the one place where
// finX error classes turn into condition reasons.
type finxFailure struct {
	reason string
	// deadChain: finX rejected the code or refresh token itself; retrying cannot help.
	deadChain bool
	// outcomeUnknown: no definite answer arrived (connection dropped, unreadable 2xx), so finX may
	// have spent the token anyway.
	outcomeUnknown bool
	// stalls: finX refused the request as invalid; only a change to the spec or client can help.
	stalls bool
}

func classifyFinX(err error) finxFailure {
	var fe *finx.Error
	hasResponse := errors.As(err, &fe) && fe.StatusCode != 0
	switch {
	case finx.IsGrantRejected(err):
		return finxFailure{reason: v1.ReasonRefreshRejected, deadChain: true}
	case finx.IsClientAuth(err):
		return finxFailure{reason: v1.ReasonClientAuthFailed}
	case finx.IsMalformed(err):
		return finxFailure{reason: v1.ReasonFinXBadResponse, outcomeUnknown: true}
	case finx.IsRetryable(err), finx.IsAccessTokenRejected(err):
		// A gateway's 502 or 504 says nothing about whether finX behind it acted.
		gateway := hasResponse && (fe.StatusCode == http.StatusBadGateway || fe.StatusCode == http.StatusGatewayTimeout)
		return finxFailure{reason: v1.ReasonFinXUnavailable, outcomeUnknown: !hasResponse || gateway}
	case hasResponse:
		return finxFailure{reason: v1.ReasonFinXRejectedRequest, stalls: true}
	}
	return finxFailure{reason: v1.ReasonFinXUnavailable, outcomeUnknown: true}
}
