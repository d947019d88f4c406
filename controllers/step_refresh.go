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
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// maintainTokens keeps a live chain alive: it refreshes when the schedule says so, when asked by
// annotation, when the access-token Secret needs filling, or when a spend's outcome is unknown; a
// failed refresh waits out its backoff, except that a spend with an unknown outcome is replayed
// within seconds (finX's reuse grace counts from the first spend).
func (r *BankConnectionReconciler) maintainTokens(ctx context.Context, st *reconcileState) error {
	c := st.conn
	dropExpiredLink(st)
	adopted := r.adoptChain(ctx, st)
	forced := refreshRequested(c)
	if forced {
		st.refreshRequest = c.Annotations[v1.AnnotationRefresh]
	}
	refill, err := r.accessSecretNeedsRefill(ctx, st)
	if err != nil {
		return err
	}
	if forced {
		return r.refresh(ctx, st)
	}
	unknown := st.unknownSpend(spend.Refresh)
	if st.replayOverdue(v1.OperationRefresh, unknown) {
		return r.refresh(ctx, st) // a backoff from before (another run, say) must not hold a replay
	}
	if st.waitingForRetry(v1.OperationRefresh) {
		return nil
	}
	if c.Status.ObservedGeneration != c.Generation && !adopted {
		r.schedule(st) // refreshBefore or the access mode may have changed; an adopted chain is proved now
	}
	if rt := c.Status.RefreshToken; !refill && unknown == nil && rt != nil && rt.NextRefreshAt != nil && st.now.Before(rt.NextRefreshAt.Time) {
		st.requeue(rt.NextRefreshAt.Time)
		return nil
	}
	return r.refresh(ctx, st)
}

// adoptChain makes status describe the chain the private Secret holds, which is the truth: a status
// write lost after a commit (a crash, an API error) or a Secret restored from a backup leaves status
// describing another chain. The adopted chain is refreshed at once, which both proves it alive and
// fills the access-token Secret.
func (r *BankConnectionReconciler) adoptChain(ctx context.Context, st *reconcileState) bool {
	c := st.conn
	want := chainStatus(c, st.private)
	rt := c.Status.RefreshToken
	reauth := meta.IsStatusConditionTrue(c.Status.Conditions, v1.ConditionReauthorizationRequired)
	authorized := meta.IsStatusConditionTrue(c.Status.Conditions, v1.ConditionAuthorized)
	if rt != nil && sameTime(rt.IssuedAt, want.IssuedAt) && sameTime(rt.ExpiresAt, want.ExpiresAt) && !reauth && authorized {
		if rt.Rotations != want.Rotations {
			rt.Rotations = want.Rotations
		}
		return false
	}
	c.Status.RefreshToken = want
	if reauth || !authorized {
		// A new chain stored by an exchange whose status write was lost: the link it came from is
		// used up (the callback refuses its state now).
		r.markAuthorized(st)
		if st.private.Callback() == nil {
			c.Status.Link = nil
		}
	} else if reconsentExchanged(st) {
		// Likewise for a re-consent: its link is used up and the consent was renewed.
		st.consentFlow = true
		r.markAuthorized(st)
	}
	log.FromContext(ctx).Info("status did not describe the chain in the private Secret; adopted the Secret's and refreshing it now")
	return true
}

// reconsentExchanged reports a chain in the private Secret that the re-consent link's code
// produced: not yet refreshed (an exchange starts the count at zero), and the link's state was
// handed over and is no longer waiting in the Secret.
func reconsentExchanged(st *reconcileState) bool {
	l := st.conn.Status.ConsentLink
	if l == nil || st.private.Rotations() != 0 || !st.private.StateConsumed(l.StateHash) {
		return false
	}
	cb := st.private.Callback()
	return cb == nil || cb.StateHash != l.StateHash
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sameTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Unix() == b.Unix()
}

// recoverChain tries the kept refresh token once more when a person asks (refresh annotation)
// after finX had rejected it, for example once a credentials mix-up is fixed.
func (r *BankConnectionReconciler) recoverChain(ctx context.Context, st *reconcileState) error {
	st.refreshRequest = st.conn.Annotations[v1.AnnotationRefresh]
	return r.refresh(ctx, st)
}

// refresh spends the refresh token through the spend protocol: journal, finX, commit.
func (r *BankConnectionReconciler) refresh(ctx context.Context, st *reconcileState) error {
	ctx, cancel := r.Spends.Context(ctx)
	defer cancel()
	sp, until, err := r.Spends.Begin(ctx, st.conn, st.private, spend.Refresh)
	if err != nil {
		return err
	}
	if sp == nil {
		st.requeue(until) // another process may still be spending this token
		return nil
	}
	if st.refreshRequest != "" {
		// Handled once the spend is journaled: a request that meets a failed journal write or a
		// fence is acted on by the retry.
		st.conn.Status.LastHandledRefreshRequest = st.refreshRequest
	}
	spent := st.private.RefreshToken()
	tok, err := st.client.api.Refresh(ctx, spent)
	if err != nil && tok.RefreshToken != "" {
		return r.salvage(ctx, st, sp, tok, err, "")
	}
	if err != nil {
		return r.refreshFailed(ctx, st, sp, err)
	}
	res := spend.Result{
		Tokens:  tokensFrom(st, tok, st.private),
		Rotated: tok.RefreshToken != "" && tok.RefreshToken != spent,
	}
	if err := r.commit(ctx, st, sp, res); err != nil {
		return err
	}
	r.Metrics.RefreshResult("success")
	if sp.Prior != nil {
		log.FromContext(ctx).Info("a refresh whose outcome was unknown is settled: the chain is intact")
	}
	r.event(st, corev1.EventTypeNormal, v1.ReasonTokenRefreshed, "Tokens refreshed; next refresh at %s", stamp(st.conn.Status.RefreshToken.NextRefreshAt))
	return nil
}

// refreshFailed decides between "the chain is dead", "try again later" and "replay at once".
func (r *BankConnectionReconciler) refreshFailed(ctx context.Context, st *reconcileState, sp *spend.Spend, err error) error {
	f := st.finxFailed(err)
	if f.deadChain {
		reason := v1.ReasonRefreshRejected
		msg := fmt.Sprintf("finX rejected the refresh token (%v).", err)
		if sp.Prior != nil {
			reason = v1.ReasonRotationLost
			msg = fmt.Sprintf("A refresh started at %s ended without a stored result and finX now rejects the token (%v): the rotated token was lost.",
				sp.Prior.Since.UTC().Format("2006-01-02T15:04:05Z"), err)
		}
		if err := sp.Ended(ctx, reason); err != nil {
			return err // the next reconcile asks finX again and gets the same answer
		}
		r.Metrics.RefreshResult(metricReason(reason))
		return r.requireReauthorization(ctx, st, reason, msg)
	}
	c := st.conn
	var retry time.Time
	if f.noEffect {
		// finX's answer proves it did nothing with the token: no rotation can have been lost.
		if e := sp.Refused(ctx); e != nil {
			log.FromContext(ctx).Error(e, "clearing the refresh journal")
		}
	} else if at, ok := spend.ReplayAt(st.private.InFlight(), st.now); ok {
		// Soon, inside finX's reuse grace; but never before finX's own Retry-After.
		retry = maxTime(at, st.now.Add(finx.RetryAfter(err)))
	}
	if retry.IsZero() {
		retry = r.Backoff.retryAt(st.now, st.attemptsFor(v1.OperationRefresh), finx.RetryAfter(err), tokenDeadline(st))
	}
	msg := fmt.Sprintf("Refreshing the tokens failed (%v); retrying at %s.", err, retry.UTC().Format("2006-01-02T15:04:05Z"))
	if !f.noEffect {
		msg = fmt.Sprintf("Refreshing the tokens failed (%v) and finX may have rotated the token; repeating the refresh at %s, inside finX's reuse grace where possible.",
			err, retry.UTC().Format("2006-01-02T15:04:05Z"))
	}
	st.recordFailure(v1.OperationRefresh, f.reason, msg, retry)
	if c.Status.RefreshToken != nil {
		c.Status.RefreshToken.NextRefreshAt = ptrTime(retry)
	}
	r.Metrics.RefreshResult(metricReason(f.reason))
	r.event(st, corev1.EventTypeWarning, v1.ReasonRefreshFailed, "%s", msg)
	return nil
}

// requireReauthorization ends the chain's use and issues a new link for the user at once. The dead
// token stays in its Secret (it is replaced by the next authorisation): if finX's answer was a
// mistake, the refresh annotation can still try it.
func (r *BankConnectionReconciler) requireReauthorization(ctx context.Context, st *reconcileState, reason, msg string) error {
	st.setCondition(v1.ConditionReauthorizationRequired, metav1.ConditionTrue, reason, msg)
	st.setCondition(v1.ConditionAuthorized, metav1.ConditionFalse, reason, msg)
	st.conn.Status.LastError = &v1.LastError{Reason: reason, Message: msg, Time: metav1.NewTime(st.now)}
	st.conn.Status.FailedAttempts = 0
	r.event(st, corev1.EventTypeWarning, v1.ReasonReauthorizationRequired, "%s A new link was issued for the user.", msg)
	return r.issueLink(ctx, st, "the refresh chain ended ("+reason+")")
}

// endReasons are the reasons a chain-ended mark may carry; anything else (a hand-edited mark) is
// reported as a plain rejection.
var endReasons = []string{v1.ReasonRefreshRejected, v1.ReasonRotationLost}

// reportEnded makes status say what the private Secret says: finX refused its refresh token. It
// matters when the status write that should have said so was lost (an API error, a crash right
// after the mark was written); otherwise it only keeps a link ready for the user.
func (r *BankConnectionReconciler) reportEnded(ctx context.Context, st *reconcileState) error {
	reason, at, _ := st.private.Ended()
	if !slices.Contains(endReasons, reason) {
		reason = v1.ReasonRefreshRejected
	}
	if cond := meta.FindStatusCondition(st.conn.Status.Conditions, v1.ConditionReauthorizationRequired); cond == nil || cond.Status != metav1.ConditionTrue {
		msg := fmt.Sprintf("finX refused the stored refresh token at %s (%s).", at.UTC().Format(time.RFC3339), reason)
		st.setCondition(v1.ConditionReauthorizationRequired, metav1.ConditionTrue, reason, msg)
		st.setCondition(v1.ConditionAuthorized, metav1.ConditionFalse, reason, msg)
		st.conn.Status.LastError = &v1.LastError{Reason: reason, Message: msg, Time: metav1.NewTime(st.now)}
		st.conn.Status.FailedAttempts = 0
		r.event(st, corev1.EventTypeWarning, v1.ReasonReauthorizationRequired, "%s The user must authorise again through the link in status.", msg)
	}
	return r.ensureLink(ctx, st)
}

// markLegacyEnd moves a dead chain recorded only in status (by a version before the chain-ended
// mark) into the private Secret, so the upgrade neither sends the refused token again nor replaces
// the link the user was given. Only the very chain status describes is marked: a newer one in the
// Secret (an exchange whose status write was lost) is adopted instead.
func (r *BankConnectionReconciler) markLegacyEnd(ctx context.Context, st *reconcileState) error {
	p, c := st.private, st.conn
	if p == nil || !p.StoredByEarlierVersion() || c.Status.RefreshToken == nil {
		return nil
	}
	if _, _, ended := p.Ended(); ended {
		return nil
	}
	cond := meta.FindStatusCondition(c.Status.Conditions, v1.ConditionReauthorizationRequired)
	if cond == nil || cond.Status != metav1.ConditionTrue || !slices.Contains(endReasons, cond.Reason) {
		return nil
	}
	if !sameTime(c.Status.RefreshToken.IssuedAt, ptrTime(p.RefreshIssuedAt())) {
		return nil
	}
	if refreshRequested(c) {
		return nil // a person asked to try the kept token once more
	}
	return tokenstore.MarkEnded(ctx, r.Client, p, cond.Reason, cond.LastTransitionTime.Time)
}

// chainMissing reports a refresh token that vanished from its Secret (deleted, or its key emptied or
// removed) while status still records the chain: the chain cannot be refreshed any more, so the user
// must authorise again, and says so at once rather than when the access token runs out.
func (r *BankConnectionReconciler) chainMissing(ctx context.Context, st *reconcileState) error {
	msg := fmt.Sprintf("The refresh token is missing from Secret %s (the Secret was deleted or its %s key emptied); the chain cannot be refreshed.",
		refreshSecretName(st.conn), tokenstore.KeyRefreshToken)
	st.conn.Status.RefreshToken = nil
	r.Metrics.RefreshResult(metricReason(v1.ReasonRefreshTokenMissing))
	return r.requireReauthorization(ctx, st, v1.ReasonRefreshTokenMissing, msg)
}

// accessSecretNeedsRefill reports whether the workload-facing Secret must be (re)filled now, and
// removes one the spec no longer asks for.
func (r *BankConnectionReconciler) accessSecretNeedsRefill(ctx context.Context, st *reconcileState) (bool, error) {
	c := st.conn
	current := c.Status.AccessToken
	if !maintainAccessToken(c) {
		if current != nil {
			if err := r.deleteAccessSecret(ctx, c, current.SecretName); err != nil {
				return false, err
			}
			c.Status.AccessToken = nil
		}
		return false, nil
	}
	name := accessSecretName(c)
	if current != nil && current.SecretName != name {
		if err := r.deleteAccessSecret(ctx, c, current.SecretName); err != nil {
			return false, err
		}
		current = nil
	}
	// Read from the API server: the cache only knows the operator's Secrets, so a foreign Secret
	// holding the name would look absent and be "refilled" forever. A refresh writes from this read.
	a, err := tokenstore.ReadAccess(ctx, r.APIReader, c, name)
	if err != nil {
		return false, err
	}
	st.access = a
	exists, owned := a.State(c)
	switch {
	case exists && !owned:
		st.accessConflict = &problem{reason: v1.ReasonSecretConflict, message: (&tokenstore.NotOwnedError{Name: c.Namespace + "/" + name}).Error()}
		return false, nil
	}
	return !exists || current == nil, nil
}

func (r *BankConnectionReconciler) deleteAccessSecret(ctx context.Context, owner *v1.BankConnection, name string) error {
	ns := owner.Namespace
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		return client404(err)
	}
	if s.Type != tokenstore.TypeAccessToken || s.Labels[tokenstore.LabelManagedBy] != tokenstore.ManagedByValue || !metav1.IsControlledBy(s, owner) {
		return nil // not this connection's: leave it alone
	}
	return client404(r.Delete(ctx, s))
}

func client404(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// metricReason maps a condition reason to the bounded label set of the refresh counter.
func metricReason(reason string) string {
	switch reason {
	case v1.ReasonRefreshRejected:
		return "rejected"
	case v1.ReasonRotationLost:
		return "rotation_lost"
	case v1.ReasonRefreshTokenMissing:
		return "token_missing"
	case v1.ReasonClientAuthFailed:
		return "client_auth_failed"
	case v1.ReasonFinXBadResponse:
		return "bad_response"
	case v1.ReasonFinXRejectedRequest:
		return "bad_request"
	}
	return "unavailable"
}
