package controllers

import (
	"errors"

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
		return finxFailure{reason: v1.ReasonFinXUnavailable, outcomeUnknown: !hasResponse}
	case hasResponse:
		return finxFailure{reason: v1.ReasonFinXRejectedRequest, stalls: true}
	}
	return finxFailure{reason: v1.ReasonFinXUnavailable, outcomeUnknown: true}
}
