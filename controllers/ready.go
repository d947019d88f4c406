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
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// summarize derives Ready, TokensValid and the phase from what the steps recorded, in one place and
// one fixed order, so every reconcile path ends with consistent status.
func summarize(s *reconcileState) {
	c := s.conn
	st := &c.Status
	firstChain := beforeFirstChain(st)
	reauth := meta.FindStatusCondition(st.Conditions, v1.ConditionReauthorizationRequired)
	reauthTrue := reauth != nil && reauth.Status == metav1.ConditionTrue
	if reauth == nil && !firstChain {
		s.setCondition(v1.ConditionReauthorizationRequired, metav1.ConditionFalse, v1.ReasonChainAlive, "No new authorisation is needed.")
		reauthTrue = false
	}
	if meta.FindStatusCondition(st.Conditions, v1.ConditionLinkIssued) == nil {
		s.setCondition(v1.ConditionLinkIssued, metav1.ConditionFalse, v1.ReasonLinkPending, "No widget link has been issued yet.")
	}
	if meta.FindStatusCondition(st.Conditions, v1.ConditionAuthorized) == nil && !firstChain {
		s.setCondition(v1.ConditionAuthorized, metav1.ConditionFalse, v1.ReasonAwaitingUser, "The user has not completed the finX widget yet.")
	}

	hasChain := st.RefreshToken != nil && st.RefreshToken.ExpiresAt != nil
	refreshAlive := hasChain && s.now.Before(st.RefreshToken.ExpiresAt.Time) && !reauthTrue
	accessAlive := !maintainAccessToken(c) || (st.AccessToken != nil && st.AccessToken.ExpiresAt != nil && s.now.Before(st.AccessToken.ExpiresAt.Time))

	switch {
	case firstChain:
		// TokensValid comes with the first tokens.
	case reauthTrue:
		s.setCondition(v1.ConditionTokensValid, metav1.ConditionFalse, reauth.Reason, "The refresh token can no longer be used: "+reauth.Message)
	case !hasChain:
		s.setCondition(v1.ConditionTokensValid, metav1.ConditionFalse, v1.ReasonNoTokens, "The operator holds no tokens yet.")
	case !refreshAlive:
		s.setCondition(v1.ConditionTokensValid, metav1.ConditionFalse, v1.ReasonTokenExpired, "The refresh token expired at "+stamp(st.RefreshToken.ExpiresAt)+".")
	case !accessAlive:
		s.setCondition(v1.ConditionTokensValid, metav1.ConditionFalse, v1.ReasonTokenExpired, "The access token in the Secret has expired; a refresh is pending.")
	default:
		msg := "The refresh token is valid until " + stamp(st.RefreshToken.ExpiresAt) + "."
		if maintainAccessToken(c) && st.AccessToken != nil {
			msg += " The access token is valid until " + stamp(st.AccessToken.ExpiresAt) + "."
		}
		s.setCondition(v1.ConditionTokensValid, metav1.ConditionTrue, v1.ReasonTokensValid, msg)
	}

	// A refused link request is a stall until a retry succeeds or the spec changes.
	if le := st.LastError; le != nil && le.Operation == v1.OperationIssueLink && le.Reason == v1.ReasonFinXRejectedRequest {
		s.stalled = &problem{reason: le.Reason, message: le.Message}
	}
	deriveConsent(s, refreshAlive)
	if !firstChain {
		deriveSynced(s, refreshAlive)
	}
	setReady(s, reauth, refreshAlive, accessAlive)
	setProgress(s)
	st.Phase = phase(s, reauthTrue, refreshAlive)
	if !refreshAlive && st.RefreshToken != nil {
		st.RefreshToken.NextRefreshAt = nil
	}
	// Every condition was re-evaluated or confirmed by this reconcile, so each one describes this
	// generation; a condition left at an older one would read as stale to kstatus-style checkers.
	for i := range st.Conditions {
		st.Conditions[i].ObservedGeneration = c.Generation
	}
	st.ObservedGeneration = c.Generation
}

// beforeFirstChain reports a connection that has never held a chain: no chain in status and no word
// of one in the conditions. Until its first authorisation, Ready's reason (with LinkIssued and the
// kstatus conditions) says all there is, so Authorized, TokensValid, ReauthorizationRequired and
// Synced are left out: they would repeat it four times over, in every connection still waiting for
// its user, on every write the API server makes of it and in every copy of it the manager caches.
// A callback that ends without a chain (a cancel, a refused code) still records Authorized=False.
func beforeFirstChain(st *v1.BankConnectionStatus) bool {
	return st.RefreshToken == nil &&
		meta.FindStatusCondition(st.Conditions, v1.ConditionReauthorizationRequired) == nil &&
		!meta.IsStatusConditionTrue(st.Conditions, v1.ConditionAuthorized)
}

// stallReasons are the Ready reasons that no retry by the operator can clear: a person must change
// the spec, the client, a Secret, or send the end user through a new link.
var stallReasons = map[string]bool{
	v1.ReasonClientNotFound:          true,
	v1.ReasonClientNotReady:          true,
	v1.ReasonClientNotAllowed:        true,
	v1.ReasonBaseURLNotAllowed:       true,
	v1.ReasonSecretConflict:          true,
	v1.ReasonFinXRejectedRequest:     true,
	v1.ReasonClientAuthFailed:        true,
	v1.ReasonReauthorizationRequired: true,
	// The bank data stopped and only the end user can restart it, through status.consentLink.url.
	v1.ReasonSyncNeedsUser:  true,
	v1.ReasonConsentExpired: true,
}

// setProgress derives the kstatus conditions from Ready, the way Flux uses them: Stalled=True when
// only a person can help, Reconciling=True while the operator or the end user still has a step to
// take, neither when Ready (Current) or suspended. Both are abnormal-true and removed when False,
// so they are never True together (kstatus reads whichever comes first).
func setProgress(s *reconcileState) {
	st := &s.conn.Status
	ready := meta.FindStatusCondition(st.Conditions, v1.ConditionReady)
	switch {
	case ready == nil || ready.Status == metav1.ConditionTrue || ready.Reason == v1.ReasonSuspended:
		meta.RemoveStatusCondition(&st.Conditions, v1.ConditionReconciling)
		meta.RemoveStatusCondition(&st.Conditions, v1.ConditionStalled)
	case stallReasons[ready.Reason]:
		reason, msg := ready.Reason, ready.Message
		if reauth := meta.FindStatusCondition(st.Conditions, v1.ConditionReauthorizationRequired); ready.Reason == v1.ReasonReauthorizationRequired && reauth != nil {
			// The cause says more than "reauthorisation required": rejected, lost, expired or missing.
			reason, msg = reauth.Reason, reauth.Message+" The user must authorise again through the link in status.link.url."
		}
		meta.RemoveStatusCondition(&st.Conditions, v1.ConditionReconciling)
		s.setCondition(v1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	default:
		meta.RemoveStatusCondition(&st.Conditions, v1.ConditionStalled)
		msg := ready.Message
		if ready.Reason == v1.ReasonAwaitingUser {
			msg = "Waiting for the end user to authorise access through the link in status.link.url; the operator has done its part."
		}
		s.setCondition(v1.ConditionReconciling, metav1.ConditionTrue, ready.Reason, msg)
	}
}

func setReady(s *reconcileState, reauth *metav1.Condition, refreshAlive, accessAlive bool) {
	not := func(reason, msg string) { s.setCondition(v1.ConditionReady, metav1.ConditionFalse, reason, msg) }
	synced := meta.FindStatusCondition(s.conn.Status.Conditions, v1.ConditionSynced)
	switch {
	case s.suspended:
		not(v1.ReasonSuspended, "The connection is suspended: the operator makes no finX calls and does not refresh tokens.")
	case s.blocked != nil:
		not(s.blocked.reason, s.blocked.message)
	case s.accessConflict != nil:
		not(s.accessConflict.reason, s.accessConflict.message)
	case reauth != nil && reauth.Status == metav1.ConditionTrue:
		not(v1.ReasonReauthorizationRequired, "The user must authorise again through the link in status.link.url.")
	case s.stalled != nil && !refreshAlive:
		not(s.stalled.reason, s.stalled.message)
	case !refreshAlive && linkFailing(s.conn):
		// No link for the user to open: saying "waiting for the user" would hide why.
		le := s.conn.Status.LastError
		not(le.Reason, le.Message)
	case !refreshAlive:
		not(v1.ReasonAwaitingUser, "Waiting for the user to authorise access through the link in status.link.url.")
	case !accessAlive:
		not(v1.ReasonTokenExpired, "The access token has expired and has not been refreshed yet.")
	case synced != nil && synced.Status == metav1.ConditionFalse && dataStopped[synced.Reason]:
		// Live tokens are not enough: a connection whose bank data stopped is of no use.
		not(synced.Reason, synced.Message)
	default:
		s.setCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonConnected, "Connected: the Secrets hold valid tokens.")
	}
}

// linkFailing reports a connection without a link whose last link request failed.
func linkFailing(c *v1.BankConnection) bool {
	le := c.Status.LastError
	return c.Status.Link == nil && le != nil && le.Operation == v1.OperationIssueLink
}

func phase(s *reconcileState, reauthTrue, refreshAlive bool) v1.Phase {
	authorized := meta.FindStatusCondition(s.conn.Status.Conditions, v1.ConditionAuthorized)
	switch {
	case reauthTrue:
		return v1.PhaseReauthorizationRequired
	case refreshAlive:
		return v1.PhaseConnected
	case s.stalled != nil:
		return v1.PhaseFailed
	case authorized != nil && authorized.Reason == v1.ReasonCancelled:
		return v1.PhaseCancelled
	case s.conn.Status.Link != nil:
		return v1.PhaseAwaitingAuthorization
	case s.suspended || s.blocked != nil:
		if s.conn.Status.Phase != "" {
			return s.conn.Status.Phase
		}
	}
	return v1.PhasePending
}

func stamp(t *metav1.Time) string {
	if t == nil {
		return "an unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}
