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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// DefaultSpendTimeout bounds a spend (journal, finX call, commit). The spend runs on a context that
// a manager shutdown does not cancel: stopping between finX rotating a token and the operator
// storing it is exactly how a token is lost. The manager's graceful-shutdown timeout is longer.
const DefaultSpendTimeout = 60 * time.Second

func (r *BankConnectionReconciler) spendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.spendTimeout())
}

func (r *BankConnectionReconciler) spendTimeout() time.Duration {
	if r.SpendTimeout > 0 {
		return r.SpendTimeout
	}
	return DefaultSpendTimeout
}

// foreignSpendMargin covers clock differences between the processes that may hold the journal.
func (r *BankConnectionReconciler) foreignSpendMargin() time.Duration {
	return min(15*time.Second, r.spendTimeout()/2)
}

// otherSpendMayRun reports a journal written by another process recently enough that its spend may
// still be running (a paused former leader, or replicas without leader election). Spending now could
// spend the same token twice; the reconcile waits until that spend must have ended.
func (r *BankConnectionReconciler) otherSpendMayRun(st *reconcileState) bool {
	j := st.private.InFlight()
	if j == nil || j.Holder == r.identity || j.Started.IsZero() {
		return false
	}
	until := j.Started.Add(r.spendTimeout() + r.foreignSpendMargin())
	if !st.now.Before(until) {
		return false
	}
	st.requeue(until)
	return true
}

// maintainTokens keeps a live chain alive: it refreshes when the schedule says so, when asked by
// annotation, when the access-token Secret needs filling, or when a crash left a refresh in flight;
// a failed refresh waits out its backoff whatever the reason for the next one.
func (r *BankConnectionReconciler) maintainTokens(ctx context.Context, st *reconcileState) error {
	c := st.conn
	dropExpiredLink(st)
	if !meta.IsStatusConditionTrue(c.Status.Conditions, v1.ConditionAuthorized) && c.Status.AuthorizedAt == nil {
		// The tokens were stored but the status write after the exchange was lost: record it now.
		r.markAuthorized(st)
	}
	forced := refreshRequested(c)
	if forced {
		c.Status.LastHandledRefreshRequest = c.Annotations[v1.AnnotationRefresh]
	}
	refill, err := r.accessSecretNeedsRefill(ctx, st)
	if err != nil {
		return err
	}
	if !forced {
		if st.waitingForRetry(v1.OperationRefresh) {
			return nil
		}
		if c.Status.ObservedGeneration != c.Generation {
			r.schedule(st) // refreshBefore or the access mode may have changed
		}
		interrupted := st.private.InFlight() != nil && st.private.InFlight().Operation == opRefresh
		if rt := c.Status.RefreshToken; !refill && !interrupted && rt != nil && rt.NextRefreshAt != nil && st.now.Before(rt.NextRefreshAt.Time) {
			st.requeue(rt.NextRefreshAt.Time)
			return nil
		}
	}
	return r.refresh(ctx, st)
}

// recoverChain tries the kept refresh token once more when a person asks (refresh annotation)
// after finX had rejected it, for example once a credentials mix-up is fixed.
func (r *BankConnectionReconciler) recoverChain(ctx context.Context, st *reconcileState) error {
	st.conn.Status.LastHandledRefreshRequest = st.conn.Annotations[v1.AnnotationRefresh]
	return r.refresh(ctx, st)
}

// refresh spends the refresh token: journal first, then finX, then the new token into its Secret
// before anything else.
func (r *BankConnectionReconciler) refresh(ctx context.Context, st *reconcileState) error {
	if r.otherSpendMayRun(st) {
		return nil
	}
	ctx, cancel := r.spendContext(ctx)
	defer cancel()
	p := st.private
	maybeLost := p.InFlight()
	spent := p.RefreshToken()
	// The resourceVersion precondition fails if anyone wrote the Secret since it was read from the
	// API server moments ago, so a token another writer already spent is never sent.
	journal, err := tokenstore.BeginSpend(ctx, r.Client, p, opRefresh, st.now, r.identity)
	if err != nil {
		return err
	}
	tok, err := st.client.api.Refresh(ctx, spent)
	if err != nil && tok.RefreshToken != "" {
		return r.salvage(ctx, st, tok, err, pendingEntry{operation: opRefresh, rotated: true, journal: journal})
	}
	if err != nil {
		return r.refreshFailed(ctx, st, err, maybeLost)
	}
	e := pendingEntry{
		tokens:    tokensFrom(st, tok, p),
		operation: opRefresh,
		rotated:   tok.RefreshToken != "" && tok.RefreshToken != spent,
		journal:   journal,
		key:       types.NamespacedName{Namespace: st.conn.Namespace, Name: st.conn.Name},
	}
	// In memory first: if the Secret write below fails, the only copy of the new token survives.
	r.pending.put(st.conn.UID, e)
	if err := r.commitTokens(ctx, st, e); err != nil {
		return err
	}
	r.Metrics.RefreshResult("success")
	if maybeLost != nil {
		log.FromContext(ctx).Info("a refresh interrupted earlier had not reached finX; the chain is intact")
	}
	r.event(st, corev1.EventTypeNormal, v1.ReasonTokenRefreshed, "Tokens refreshed; next refresh at %s", stamp(st.conn.Status.RefreshToken.NextRefreshAt))
	return nil
}

// refreshFailed decides between "the chain is dead" and "try again later".
func (r *BankConnectionReconciler) refreshFailed(ctx context.Context, st *reconcileState, err error, interrupted *tokenstore.Journal) error {
	f := classifyFinX(err)
	if !f.outcomeUnknown && interrupted == nil {
		// finX answered, so this call rotated nothing: clear the journal so a later rejection is
		// not mistaken for a lost rotation. A journal left by an earlier call whose answer never
		// came stays: this answer says nothing about that call.
		if e := tokenstore.EndSpend(ctx, r.Client, st.private); e != nil {
			log.FromContext(ctx).Error(e, "clearing the refresh journal")
		}
	}
	if f.deadChain {
		reason := v1.ReasonRefreshRejected
		msg := fmt.Sprintf("finX rejected the refresh token (%v).", err)
		if interrupted != nil {
			reason = v1.ReasonRotationLost
			msg = fmt.Sprintf("A refresh started at %s ended without a stored result and finX now rejects the token (%v): the rotated token was lost.",
				interrupted.Started.UTC().Format("2006-01-02T15:04:05Z"), err)
		}
		r.Metrics.RefreshResult(metricReason(reason))
		return r.requireReauthorization(ctx, st, reason, msg)
	}
	c := st.conn
	retry := r.Backoff.retryAt(st.now, st.attemptsFor(v1.OperationRefresh), finx.RetryAfter(err), tokenDeadline(st))
	msg := fmt.Sprintf("Refreshing the tokens failed (%v); retrying at %s.", err, retry.UTC().Format("2006-01-02T15:04:05Z"))
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
	// holding the name would look absent and be "refilled" forever.
	exists, owned, err := tokenstore.AccessSecretState(ctx, r.APIReader, c, name)
	switch {
	case err != nil:
		return false, err
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
	case v1.ReasonClientAuthFailed:
		return "client_auth_failed"
	case v1.ReasonFinXBadResponse:
		return "bad_response"
	case v1.ReasonFinXRejectedRequest:
		return "bad_request"
	}
	return "unavailable"
}
