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
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
)

const defaultLinkLifetime = time.Hour

// ensureLink keeps a usable widget link in status while the connection has no live chain.
func (r *BankConnectionReconciler) ensureLink(ctx context.Context, st *reconcileState) error {
	l := st.conn.Status.Link
	switch {
	case l == nil:
		return r.issueLink(ctx, st, "the connection needs an authorisation")
	case l.ExpiresAt != nil && !st.now.Before(l.ExpiresAt.Time):
		return r.issueLink(ctx, st, "the previous link expired unused")
	case l.ForGeneration != st.conn.Generation && l.SettingsHash != settingsHash(st.conn, st.client.userID):
		return r.issueLink(ctx, st, "the flow settings changed before the link was used")
	}
	if l.ExpiresAt != nil {
		st.requeue(l.ExpiresAt.Time)
	}
	return nil
}

// issueLink asks finX for a new widget link with a fresh state and puts it in status. The state is
// sent to finX and then forgotten: only its hash is kept, for the callback to match.
func (r *BankConnectionReconciler) issueLink(ctx context.Context, st *reconcileState, why string) error {
	c := st.conn
	if st.waitingForRetry(v1.OperationIssueLink) {
		return nil
	}
	// A first link is what applying the connection asks for, and status shows it: an Event for it
	// would be one more write per connection, thousands at once when a fleet is applied. Links that
	// replace one (expired, relinked, re-authorised, after a failure) are Events: someone may hold
	// the old one.
	first := meta.FindStatusCondition(c.Status.Conditions, v1.ConditionLinkIssued) == nil
	// No private Secret is made for the link: the callback creates it if the user comes back.
	state, err := newState()
	if err != nil {
		return err
	}
	link, err := st.client.api.CreateOngoingAccess(ctx, accessRequest(c, st.client.userID, state))
	if err != nil {
		return r.linkFailed(st, err)
	}
	c.Status.Link = newLinkStatus(st, link, state)
	c.Status.Link.SettingsHash = settingsHash(c, st.client.userID)
	expires := c.Status.Link.ExpiresAt.Time
	// The same words for every connection (the times are in status.link): one copy in the cache.
	st.setCondition(v1.ConditionLinkIssued, metav1.ConditionTrue, v1.ReasonLinkIssued,
		"Send the user to status.link.url to authorise access; an unused link is replaced at status.link.expiresAt.")
	st.clearFailures(v1.OperationIssueLink) // a refresh's failures stay on record
	st.linkIssued = true
	st.requeue(expires)
	if !first {
		r.event(st, corev1.EventTypeNormal, v1.ReasonLinkIssued, "Issued a widget link because %s", why)
	}
	return nil
}

// newLinkStatus records a link finX issued for this state, authorisation or re-consent alike: only
// the state's hash is kept, and the link expires after spec.linkLifetime.
func newLinkStatus(st *reconcileState, link finx.Link, state string) *v1.LinkStatus {
	return &v1.LinkStatus{
		URL:           link.Location,
		FlowID:        link.ID,
		IssuedAt:      metav1.NewTime(st.now),
		ExpiresAt:     ptrTime(st.now.Add(durationOr(st.conn.Spec.LinkLifetime, defaultLinkLifetime))),
		StateHash:     StateHash(state),
		ForGeneration: st.conn.Generation,
	}
}

func (r *BankConnectionReconciler) linkFailed(st *reconcileState, err error) error {
	f := st.finxFailed(err)
	retry := r.Backoff.retryAt(st.now, st.attemptsFor(v1.OperationIssueLink), finx.RetryAfter(err), time.Time{})
	msg := fmt.Sprintf("Creating the widget link failed (%v).", err)
	if f.stalls {
		msg += " finX refused the request: check the connection's spec and the client."
	}
	st.recordFailure(v1.OperationIssueLink, f.reason, msg, retry) // summarize derives a stall from it
	st.setCondition(v1.ConditionLinkIssued, metav1.ConditionFalse, f.reason, msg)
	r.event(st, corev1.EventTypeWarning, f.reason, "%s", msg)
	return nil
}

// dropExpiredLink removes a link that was issued while connected (relink) and then expired unused.
func dropExpiredLink(st *reconcileState) {
	l := st.conn.Status.Link
	if l == nil {
		return
	}
	if l.ExpiresAt != nil && !st.now.Before(l.ExpiresAt.Time) {
		st.conn.Status.Link = nil
		st.setCondition(v1.ConditionLinkIssued, metav1.ConditionFalse, v1.ReasonAuthorized, "No link is needed: the connection is authorised.")
		return
	}
	if l.ExpiresAt != nil {
		st.requeue(l.ExpiresAt.Time)
	}
}

// accessRequest maps the spec's flow settings onto POST /ongoing/access.
func accessRequest(c *v1.BankConnection, userID, state string) finx.AccessRequest {
	req := finx.AccessRequest{
		UserID:              userID,
		RedirectURI:         c.Spec.RedirectURI,
		State:               state,
		TrackingID:          c.Spec.TrackingID,
		Language:            c.Spec.Language,
		ProviderID:          c.Spec.ProviderID,
		AccountTypes:        c.Spec.AccountTypes,
		AllowMultiSelection: c.Spec.AllowMultiSelection,
		SyncPeriod:          c.Spec.SyncPeriod,
		SaveSecrets:         c.Spec.SaveSecrets,
	}
	for _, a := range c.Spec.Accounts {
		req.Accounts = append(req.Accounts, a.ID)
	}
	return req
}

// newState returns 256 random bits, URL-safe: unguessable, so only finX's redirect can present it.
func newState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// StateHash is how a state is stored and looked up: never the state itself.
func StateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// settingsHash fingerprints what a link request sends to finX, except the state.
func settingsHash(c *v1.BankConnection, userID string) string {
	b, _ := json.Marshal(accessRequest(c, userID, ""))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
