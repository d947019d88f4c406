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
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

const (
	defaultConsentLifetime      = 180 * 24 * time.Hour
	defaultConsentRenewalBefore = 14 * 24 * time.Hour
)

// consentDates dates a consent given at given: it expires after the client's lifetime and is due
// for renewal consentRenewalBefore ahead, at most half the lifetime ahead so that a fresh consent
// is never due at once.
func consentDates(st *reconcileState, given time.Time) v1.ConsentStatus {
	lifetime := defaultConsentLifetime
	if st.client != nil {
		lifetime = st.client.consentLifetime
	} else {
		// Tokens held over from an earlier reconcile are stored before the client is resolved:
		// the next reconcile dates the consent by the client's lifetime (dateConsent).
		st.requeue(st.now.Add(time.Second))
	}
	lead := min(durationOr(st.conn.Spec.ConsentRenewalBefore, defaultConsentRenewalBefore), lifetime/2)
	exp := given.Add(lifetime)
	return v1.ConsentStatus{GivenAt: metav1.NewTime(given), ExpiresAt: metav1.NewTime(exp), RenewalDueAt: metav1.NewTime(exp.Add(-lead))}
}

// startConsent records a consent the user gave at given: an authorisation or a completed
// re-consent.
func startConsent(st *reconcileState, given time.Time, renewal *v1.ConsentRenewalStatus) {
	d := consentDates(st, given.Truncate(time.Second))
	d.LastRenewal = renewal
	st.conn.Status.Consent = &d
	st.accountsDue = true // the syncs a new consent allows are worth a look at once
}

// dateConsent keeps the consent's dates in line with the client's lifetime and the spec's lead,
// and dates a live chain that has none (authorised before the operator tracked consent) from its
// authorisation.
func dateConsent(st *reconcileState) {
	c := st.conn
	cs := c.Status.Consent
	if cs == nil {
		given := st.now.Truncate(time.Second)
		if c.Status.AuthorizedAt != nil {
			given = c.Status.AuthorizedAt.Time
		}
		d := consentDates(st, given)
		c.Status.Consent = &d
		return
	}
	d := consentDates(st, cs.GivenAt.Time)
	cs.ExpiresAt, cs.RenewalDueAt = d.ExpiresAt, d.RenewalDueAt
}

// consentLapsed reports a consent past its expiry, by the operator's dates or by finX's word in a
// failed sync since it was given.
func consentLapsed(st *reconcileState) bool {
	cs := st.conn.Status.Consent
	if cs == nil {
		return false
	}
	if !st.now.Before(cs.ExpiresAt.Time) {
		return true
	}
	_, expired, ok := userSideFailure(st.conn)
	return ok && expired
}

// consentNeed says why the user should renew the consent now ("" when not).
func consentNeed(st *reconcileState) (reason, msg string) {
	c := st.conn
	cs := c.Status.Consent
	if cs == nil {
		return "", ""
	}
	if consentLapsed(st) {
		return v1.ReasonConsentExpired, fmt.Sprintf("The bank consent given at %s expired (due at %s); finX's autosync has stopped until the user renews it.",
			stamp(&cs.GivenAt), stamp(&cs.ExpiresAt))
	}
	if it, _, ok := userSideFailure(c); ok {
		return v1.ReasonSyncNeedsUser, fmt.Sprintf("finX's sync of account %s failed with %q, which only the user can fix by renewing the consent.", it.ID, it.SyncMessage)
	}
	if !st.now.Before(cs.RenewalDueAt.Time) {
		return v1.ReasonConsentRenewalDue, fmt.Sprintf("The bank consent expires at %s; renewal was due at %s.", stamp(&cs.ExpiresAt), stamp(&cs.RenewalDueAt))
	}
	return "", ""
}

// renewConsent keeps a re-consent link (POST /ongoing/sync) in status.consentLink while the
// consent needs renewing, and drops it once it does not. The link has its own slot: the
// authorisation link in status.link is never touched.
func (r *BankConnectionReconciler) renewConsent(ctx context.Context, st *reconcileState) error {
	c := st.conn
	need, why := consentNeed(st)
	if consentLapsed(st) && !meta.IsStatusConditionTrue(c.Status.Conditions, v1.ConditionConsentExpired) {
		r.event(st, corev1.EventTypeWarning, v1.ReasonConsentExpired, "%s", why)
	}
	if need == "" {
		c.Status.ConsentLink = nil
		return nil
	}
	if l := c.Status.ConsentLink; l != nil && (l.ExpiresAt == nil || st.now.Before(l.ExpiresAt.Time)) {
		if l.ExpiresAt != nil {
			st.requeue(l.ExpiresAt.Time)
		}
		return nil
	}
	if lr := c.Status.Consent.LastRenewal; lr != nil && lr.Result == v1.ConsentLinkRequestFailed && lr.RetryAt != nil && st.now.Before(lr.RetryAt.Time) {
		st.requeue(lr.RetryAt.Time)
		return nil
	}
	var ids []string
	if a := c.Status.Accounts; a != nil {
		for _, it := range a.Items {
			ids = append(ids, it.ID)
		}
	}
	if len(ids) == 0 {
		return nil // /ongoing/sync needs the account ids: the next read of the accounts brings them
	}
	state, err := newState()
	if err != nil {
		return err
	}
	link, err := st.client.api.CreateOngoingSync(ctx, syncRequest(c, st.client.userID, state, ids))
	if err != nil {
		retry := st.now.Add(max(r.Backoff.max, finx.RetryAfter(err)))
		msg := fmt.Sprintf("Creating the re-consent link failed (%v); retrying at %s.", err, retry.UTC().Format(time.RFC3339))
		c.Status.Consent.LastRenewal = &v1.ConsentRenewalStatus{Result: v1.ConsentLinkRequestFailed, Time: metav1.NewTime(st.now), Message: msg, RetryAt: ptrTime(retry)}
		st.requeue(retry)
		r.event(st, corev1.EventTypeWarning, v1.ReasonConsentLinkFailed, "%s", msg)
		return nil
	}
	c.Status.ConsentLink = newLinkStatus(st, link, state)
	expires := c.Status.ConsentLink.ExpiresAt.Time
	if lr := c.Status.Consent.LastRenewal; lr != nil && lr.Result == v1.ConsentLinkRequestFailed {
		c.Status.Consent.LastRenewal = nil
	}
	st.requeue(expires)
	if meta.IsStatusConditionTrue(c.Status.Conditions, v1.ConditionConsentRenewalDue) {
		// Renewal was already reported; this replaces a link that expired unused or ended unrenewed.
		r.event(st, corev1.EventTypeNormal, v1.ReasonConsentLinkIssued, "Issued a new re-consent link in status.consentLink.url: %s", why)
		return nil
	}
	r.event(st, corev1.EventTypeWarning, v1.ReasonConsentRenewalDue, "%s Issued a re-consent link for the user in status.consentLink.url.", why)
	return nil
}

// syncRequest is the body of POST /ongoing/sync: the user, the accounts to re-consent, and the
// flow settings that apply to an existing access (the bank and account selection do not).
func syncRequest(c *v1.BankConnection, userID, state string, accountIDs []string) finx.SyncRequest {
	return finx.SyncRequest{
		AccessRequest: finx.AccessRequest{
			UserID:      userID,
			RedirectURI: c.Spec.RedirectURI,
			State:       state,
			TrackingID:  c.Spec.TrackingID,
			Language:    c.Spec.Language,
			SyncPeriod:  c.Spec.SyncPeriod,
			SaveSecrets: c.Spec.SaveSecrets,
		},
		AccountIDs: accountIDs,
	}
}

// handleConsentCallback acts on the redirect of a re-consent flow. Only a successful exchange of
// its code replaces the live chain (through the spend protocol, like any exchange); a codeless
// success renews the consent and keeps the chain; a cancel or failure keeps both chain and consent.
func (r *BankConnectionReconciler) handleConsentCallback(ctx context.Context, st *reconcileState, cb *tokenstore.Callback) (bool, error) {
	st.consentFlow = true
	switch {
	case cb.Result == tokenstore.CallbackSuccess && cb.Code != "":
		if j := st.private.InFlight(); j != nil && j.Operation == string(spend.Refresh) && st.chainUsable() {
			st.requeue(st.now.Add(time.Second)) // settle the refresh first, as for an authorisation
			return false, nil
		}
		return true, r.exchangeCode(ctx, st, cb)
	case cb.Result == tokenstore.CallbackSuccess:
		// The hand-off is the only record of this renewal, so it stays in the Secret until status
		// holds the renewal: a failed status write must not lose it. The next reconcile finds it
		// for no current link and drops it. Dated from its arrival, a repeat records the same.
		given := cb.ReceivedAt
		if given.IsZero() {
			given = st.now
		}
		startConsent(st, given, &v1.ConsentRenewalStatus{Result: v1.ConsentRenewed, Time: metav1.NewTime(given.Truncate(time.Second)),
			Message: "The user renewed the bank consent; the refresh chain is unchanged."})
		st.conn.Status.ConsentLink = nil
		st.requeue(st.now.Add(time.Second))
		r.event(st, corev1.EventTypeNormal, v1.ReasonConsentRenewed, "The user renewed the bank consent; it now expires at %s", stamp(&st.conn.Status.Consent.ExpiresAt))
		return false, nil
	case cb.Result == tokenstore.CallbackCancelled:
		return false, r.consentFlowEnded(ctx, st, v1.ConsentRenewalCancelled, corev1.EventTypeNormal, v1.ReasonConsentRenewalCancelled,
			"The user cancelled the re-consent; the current consent and tokens are kept.")
	default:
		return false, r.consentFlowEnded(ctx, st, v1.ConsentRenewalFailed, corev1.EventTypeWarning, v1.ReasonConsentRenewalFailed,
			"The finX widget reported that the re-consent did not succeed; the current consent and tokens are kept.")
	}
}

// consentFlowEnded records a re-consent that ended without renewal. The live chain and the old
// consent stay as they are; a new re-consent link follows while renewal is still due.
func (r *BankConnectionReconciler) consentFlowEnded(ctx context.Context, st *reconcileState, result v1.ConsentRenewalResult, eventType, reason, msg string) error {
	if err := tokenstore.Abandon(ctx, r.Client, st.private); err != nil {
		return err
	}
	c := st.conn
	c.Status.ConsentLink = nil
	if c.Status.Consent != nil {
		c.Status.Consent.LastRenewal = &v1.ConsentRenewalStatus{Result: result, Time: metav1.NewTime(st.now), Message: msg}
	}
	r.event(st, eventType, reason, "%s", msg)
	return nil
}

// deriveConsent sets ConsentRenewalDue and ConsentExpired from the consent's dates, finX's sync
// results and the latest re-consent attempt. Without a live chain they are removed: a re-consent
// cannot help then, the authorisation link takes over, and the next authorisation dates a new
// consent.
func deriveConsent(s *reconcileState, chainAlive bool) {
	c := s.conn
	cs := c.Status.Consent
	if cs == nil || !chainAlive {
		meta.RemoveStatusCondition(&c.Status.Conditions, v1.ConditionConsentRenewalDue)
		meta.RemoveStatusCondition(&c.Status.Conditions, v1.ConditionConsentExpired)
		return
	}
	for _, at := range []time.Time{cs.RenewalDueAt.Time, cs.ExpiresAt.Time} {
		if s.now.Before(at) {
			s.requeue(at)
		}
	}
	if consentLapsed(s) {
		_, msg := consentNeed(s)
		s.setCondition(v1.ConditionConsentExpired, metav1.ConditionTrue, v1.ReasonConsentExpired, msg+" Send the user to status.consentLink.url.")
	} else {
		s.setCondition(v1.ConditionConsentExpired, metav1.ConditionFalse, v1.ReasonConsentValid, "The bank consent is valid until "+stamp(&cs.ExpiresAt)+".")
	}
	reason, msg := consentNeed(s)
	if reason == "" {
		s.setCondition(v1.ConditionConsentRenewalDue, metav1.ConditionFalse, v1.ReasonConsentValid,
			"The bank consent is valid until "+stamp(&cs.ExpiresAt)+"; renewal is due at "+stamp(&cs.RenewalDueAt)+".")
		return
	}
	if lr := cs.LastRenewal; lr != nil && (lr.Result == v1.ConsentRenewalCancelled || lr.Result == v1.ConsentRenewalFailed || lr.Result == v1.ConsentLinkRequestFailed) {
		reason = map[v1.ConsentRenewalResult]string{
			v1.ConsentRenewalCancelled:  v1.ReasonConsentRenewalCancelled,
			v1.ConsentRenewalFailed:     v1.ReasonConsentRenewalFailed,
			v1.ConsentLinkRequestFailed: v1.ReasonConsentLinkFailed,
		}[lr.Result]
		msg += " " + lr.Message + " (" + stamp(&lr.Time) + ")"
	}
	if c.Status.ConsentLink != nil {
		msg += " Send the user to status.consentLink.url."
	}
	s.setCondition(v1.ConditionConsentRenewalDue, metav1.ConditionTrue, reason, msg)
}
