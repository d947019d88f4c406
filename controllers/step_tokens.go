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
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// tokensFrom turns finX's answer into what is stored, from the lifetimes finX actually returned.
// finX documents that a refresh "may contain" a new refresh token: without one the old token, and
// its original expiry, stay.
func tokensFrom(st *reconcileState, tok finx.Token, p *tokenstore.Private) tokenstore.Tokens {
	t := tokenstore.Tokens{
		RefreshToken:     tok.RefreshToken,
		AccessToken:      tok.AccessToken,
		TokenType:        tok.TokenType,
		AccessIssuedAt:   st.now,
		AccessExpiresAt:  st.now.Add(tok.ExpiresIn),
		RefreshIssuedAt:  st.now,
		RefreshExpiresAt: st.now.Add(st.client.refreshLifetime),
	}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if tok.RefreshToken == "" && p != nil && p.HasRefreshToken() {
		t.RefreshToken = p.RefreshToken()
		if iss, exp := p.RefreshIssuedAt(), p.RefreshExpiresAt(); !exp.IsZero() {
			t.RefreshIssuedAt, t.RefreshExpiresAt = iss, exp
		}
	}
	return t
}

// commit stores what a spend returned: first the refresh token (the write that must never be lost;
// until it lands the result stays held in memory and no finX call is made), then the status and the
// access token.
func (r *BankConnectionReconciler) commit(ctx context.Context, st *reconcileState, sp *spend.Spend, res spend.Result) error {
	stored, err := sp.Commit(ctx, res)
	if errors.Is(err, spend.ErrSuperseded) {
		r.superseded(st)
		return nil
	}
	if err != nil {
		return r.persistFailed(st, err)
	}
	return r.committed(ctx, st, stored, res, sp.Op())
}

// committed brings status and the access-token Secret up to the chain just stored.
func (r *BankConnectionReconciler) committed(ctx context.Context, st *reconcileState, stored *tokenstore.Private, res spend.Result, op spend.Op) error {
	st.private = stored
	c := st.conn
	t := res.Tokens
	st.freshAccess, st.freshAccessExpiresAt = t.AccessToken, t.AccessExpiresAt
	c.Status.RefreshToken = chainStatus(c, stored)
	if op == spend.Exchange {
		if l := c.Status.ConsentLink; l != nil && res.StateHash != "" && l.StateHash == res.StateHash {
			// The re-consent's code, also when its tokens were held over from an earlier reconcile.
			st.consentFlow = true
		}
		r.markAuthorized(st)
		st.clearFailures() // a new authorisation starts afresh
	} else {
		if meta.IsStatusConditionTrue(c.Status.Conditions, v1.ConditionReauthorizationRequired) {
			// A refresh asked for by annotation after finX had rejected the token succeeded after all.
			st.setCondition(v1.ConditionReauthorizationRequired, metav1.ConditionFalse, v1.ReasonChainAlive, "The refresh token works again; no new authorisation is needed.")
			st.setCondition(v1.ConditionAuthorized, metav1.ConditionTrue, v1.ReasonAuthorized, "The refresh chain was recovered.")
		}
		st.clearFailures(v1.OperationRefresh, v1.OperationStoreTokens)
	}
	err := r.writeAccessSecret(ctx, st, t)
	var no *tokenstore.NotOwnedError
	switch {
	case errors.As(err, &no):
		// Another Secret holds the name: report it and leave it alone. Refreshing again would not
		// help, so the schedule stays as it is.
		st.accessConflict = &problem{reason: v1.ReasonSecretConflict, message: no.Error()}
	case err != nil:
		// The refresh token is safe; the access token is cheap to replace, so retry with a refresh.
		retry := r.Backoff.retryAt(st.now, st.attemptsFor(v1.OperationRefresh), 0, t.AccessExpiresAt)
		st.recordFailure(v1.OperationRefresh, v1.ReasonSecretWriteFailed, "Writing the access-token Secret failed: "+apiErrorSummary(err), retry)
		c.Status.RefreshToken.NextRefreshAt = ptrTime(retry)
		return nil
	}
	r.schedule(st)
	return nil
}

// chainStatus describes the chain the private Secret holds, from the Secret's own bookkeeping.
func chainStatus(c *v1.BankConnection, p *tokenstore.Private) *v1.RefreshTokenStatus {
	return &v1.RefreshTokenStatus{
		SecretName: refreshSecretName(c),
		IssuedAt:   ptrTime(p.RefreshIssuedAt()),
		ExpiresAt:  ptrTime(p.RefreshExpiresAt()),
		Rotations:  p.Rotations(),
	}
}

// salvage stores a refresh token read from a token response that was otherwise unusable: finX
// answered 2xx and has most likely rotated, so the new token is the chain. The access token is
// fetched by the next refresh, after a backoff.
func (r *BankConnectionReconciler) salvage(ctx context.Context, st *reconcileState, sp *spend.Spend, tok finx.Token, cause error, stateHash string) error {
	res := spend.Result{
		Tokens: tokenstore.Tokens{
			RefreshToken:     tok.RefreshToken,
			RefreshIssuedAt:  st.now,
			RefreshExpiresAt: st.now.Add(st.client.refreshLifetime),
		},
		Rotated:   true,
		StateHash: stateHash,
	}
	if err := r.commit(ctx, st, sp, res); err != nil {
		return err
	}
	retry := r.Backoff.retryAt(st.now, st.attemptsFor(v1.OperationRefresh), 0, tokenDeadline(st))
	msg := fmt.Sprintf("finX's token response could not be fully read (%v); its new refresh token was stored and the next refresh, at %s, fetches a usable access token.",
		cause, retry.UTC().Format(time.RFC3339))
	st.recordFailure(v1.OperationRefresh, v1.ReasonFinXBadResponse, msg, retry)
	st.conn.Status.RefreshToken.NextRefreshAt = ptrTime(retry)
	r.Metrics.RefreshResult("bad_response")
	r.event(st, corev1.EventTypeWarning, v1.ReasonFinXBadResponse, "%s", msg)
	return nil
}

// writeAccessSecret fills the workload-facing Secret in Maintain mode.
func (r *BankConnectionReconciler) writeAccessSecret(ctx context.Context, st *reconcileState, t tokenstore.Tokens) error {
	c := st.conn
	if !maintainAccessToken(c) {
		c.Status.AccessToken = nil
		return nil
	}
	if t.AccessToken == "" {
		return nil // a salvaged refresh came without a usable access token; keep the current one
	}
	if err := tokenstore.WriteAccessToken(ctx, r.Client, r.APIReader, c, accessSecretName(c), t, st.access); err != nil {
		return err
	}
	c.Status.AccessToken = &v1.AccessTokenStatus{
		SecretName: accessSecretName(c),
		IssuedAt:   ptrTime(t.AccessIssuedAt),
		ExpiresAt:  ptrTime(t.AccessExpiresAt),
	}
	return nil
}

// schedule computes status.refreshToken.nextRefreshAt from the token lifetimes and requeues for it.
func (r *BankConnectionReconciler) schedule(st *reconcileState) {
	c := st.conn
	rt := c.Status.RefreshToken
	if rt == nil || rt.IssuedAt == nil || rt.ExpiresAt == nil {
		return
	}
	times := tokenTimes{refreshIssuedAt: rt.IssuedAt.Time, refreshExpiresAt: rt.ExpiresAt.Time}
	if at := c.Status.AccessToken; maintainAccessToken(c) && at != nil && at.IssuedAt != nil && at.ExpiresAt != nil {
		times.accessIssuedAt, times.accessExpiresAt = at.IssuedAt.Time, at.ExpiresAt.Time
	}
	var before time.Duration
	if c.Spec.RefreshBefore != nil {
		before = c.Spec.RefreshBefore.Duration
	}
	next := nextRefresh(times, before, string(c.UID)+"/"+rt.IssuedAt.UTC().Format(time.RFC3339Nano))
	rt.NextRefreshAt = ptrTime(next)
	st.requeue(next)
}

// superseded reports a result finX returned that was not stored because someone else stored a newer
// chain meanwhile (another replica's authorisation, say). The next reconcile takes that chain.
func (r *BankConnectionReconciler) superseded(st *reconcileState) {
	r.event(st, corev1.EventTypeWarning, v1.ReasonTokenSuperseded,
		"Secret %s received a newer refresh token from another writer while this one was being stored; the newer one is kept", refreshSecretName(st.conn))
	st.requeue(st.now.Add(time.Second))
}

// persistFailed records a failed token write. The tokens stay in memory; returning the error makes
// the work queue retry the write soon.
func (r *BankConnectionReconciler) persistFailed(st *reconcileState, err error) error {
	st.conn.Status.LastError = &v1.LastError{
		Operation: v1.OperationStoreTokens,
		Reason:    v1.ReasonSecretWriteFailed,
		Message:   "Tokens from finX are held in memory until their Secret can be written: " + apiErrorSummary(err),
		Time:      metav1.NewTime(st.now),
	}
	r.Metrics.RefreshResult("persist_failed")
	r.event(st, corev1.EventTypeWarning, v1.ReasonSecretWriteFailed, "The new tokens could not be written to Secret %s; retrying without calling finX", refreshSecretName(st.conn))
	return fmt.Errorf("persisting tokens: %s", apiErrorSummary(err))
}

// apiErrorSummary describes a Kubernetes API error by its reason and code only: admission denials
// and webhooks may quote the object, and the object here holds tokens.
func apiErrorSummary(err error) string {
	if st, ok := err.(apierrors.APIStatus); ok || errors.As(err, &st) {
		s := st.Status()
		return fmt.Sprintf("the API server refused the write (%s, HTTP %d)", s.Reason, s.Code)
	}
	var no *tokenstore.NotOwnedError
	if errors.As(err, &no) {
		return no.Error()
	}
	if errors.Is(err, spend.ErrOtherSpend) {
		return spend.ErrOtherSpend.Error()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "the write was interrupted (" + err.Error() + ")"
	}
	return "the write failed"
}

// tokenDeadline is the expiry of the token in hand that a retry must beat.
func tokenDeadline(st *reconcileState) time.Time {
	c := st.conn
	var deadline time.Time
	if rt := c.Status.RefreshToken; rt != nil && rt.ExpiresAt != nil {
		deadline = rt.ExpiresAt.Time
	}
	if at := c.Status.AccessToken; maintainAccessToken(c) && at != nil && at.ExpiresAt != nil && at.ExpiresAt.After(st.now) {
		if deadline.IsZero() || at.ExpiresAt.Time.Before(deadline) {
			deadline = at.ExpiresAt.Time
		}
	}
	return deadline
}

// event records a Kubernetes event for the connection. Notes never carry token material.
func (r *BankConnectionReconciler) event(st *reconcileState, eventType, reason, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(st.conn, nil, eventType, reason, reason, note, args...)
}

const (
	opRefresh  = "refresh"
	opExchange = "exchange"
)
