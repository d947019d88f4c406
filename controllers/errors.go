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

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
)

// finxFailure classifies a failed finX call for the step that made it. It is the one place where
// finX error classes turn into condition reasons.
type finxFailure struct {
	reason string
	// deadChain: finX rejected the code or refresh token itself; retrying cannot help.
	deadChain bool
	// noEffect: the answer proves finX did nothing with the credential. Anything else (no answer, a
	// 5xx, a redirect, an unreadable 2xx) may hide a spend, so the journal stays.
	noEffect bool
	// stalls: finX refused the request as invalid; only a change to the spec or client can help.
	stalls bool
}

// classifyFinX maps a finX client error onto what the reconciler does about it.
func classifyFinX(err error) finxFailure {
	noEffect := finx.NoEffect(err)
	switch {
	case finx.IsGrantRejected(err):
		return finxFailure{reason: v1.ReasonRefreshRejected, deadChain: true, noEffect: true}
	case finx.IsClientAuth(err):
		return finxFailure{reason: v1.ReasonClientAuthFailed, noEffect: noEffect}
	case finx.IsMalformed(err):
		return finxFailure{reason: v1.ReasonFinXBadResponse}
	case finx.IsRetryable(err), finx.IsAccessTokenRejected(err):
		return finxFailure{reason: v1.ReasonFinXUnavailable, noEffect: noEffect}
	case noEffect:
		return finxFailure{reason: v1.ReasonFinXRejectedRequest, stalls: true, noEffect: true}
	}
	var fe *finx.Error
	if errors.As(err, &fe) && fe.StatusCode != 0 {
		// A redirect or another status finX does not document: nothing to act on, nothing proved.
		return finxFailure{reason: v1.ReasonFinXRejectedRequest, stalls: true}
	}
	return finxFailure{reason: v1.ReasonFinXUnavailable}
}

// finxFailed classifies a failed finX call of this reconcile. Client credentials that finX refused
// are read again by the next call, instead of at the next check: they may have changed since.
func (s *reconcileState) finxFailed(err error) finxFailure {
	f := classifyFinX(err)
	if f.reason == v1.ReasonClientAuthFailed && s.client != nil && s.client.forgetCredentials != nil {
		s.client.forgetCredentials()
	}
	return f
}
