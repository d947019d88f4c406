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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
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

// commitTokens stores tokens finX returned: first the refresh token (the write that must never be
// lost; until it succeeds the tokens stay in memory and no finX call is made), then the access
// token, then the status.
func (r *BankConnectionReconciler) commitTokens(ctx context.Context, st *reconcileState, e pendingEntry) error {
	t := e.tokens
	// The count lives next to the token it describes, so a crash before the status write
	// cannot lose a rotation from it.
	t.Rotations = 0
	if e.operation == opRefresh {
		t.Rotations = st.private.Rotations()
		if e.rotated {
			t.Rotations++
		}
	}
	if err := tokenstore.CommitTokens(ctx, r.Client, st.private, t); err != nil {
		return r.persistFailed(st, err)
	}
	r.pending.drop(st.conn.UID)
	c := st.conn
	c.Status.RefreshToken = &v1.RefreshTokenStatus{
		SecretName: refreshSecretName(c),
		IssuedAt:   ptrTime(t.RefreshIssuedAt),
		ExpiresAt:  ptrTime(t.RefreshExpiresAt),
		Rotations:  t.Rotations,
	}
	if e.operation == opExchange {
		r.markAuthorized(st)
	}
	st.clearFailures()
	if err := r.writeAccessSecret(ctx, st, t); err != nil {
		// The refresh token is safe; the access token is cheap to replace, so retry with a refresh.
		retry := r.Backoff.retryAt(st.now, c.Status.FailedAttempts+1, 0, t.AccessExpiresAt)
		st.recordFailure(v1.ReasonSecretWriteFailed, "Writing the access-token Secret failed: "+err.Error(), retry)
		c.Status.RefreshToken.NextRefreshAt = ptrTime(retry)
		return nil
	}
	r.schedule(st)
	return nil
}

// writeAccessSecret fills the workload-facing Secret in Maintain mode.
func (r *BankConnectionReconciler) writeAccessSecret(ctx context.Context, st *reconcileState, t tokenstore.Tokens) error {
	c := st.conn
	if !maintainAccessToken(c) {
		c.Status.AccessToken = nil
		return nil
	}
	if err := tokenstore.WriteAccessToken(ctx, r.Client, r.APIReader, c, accessSecretName(c), t); err != nil {
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

// persistFailed records a failed token write. The tokens stay in memory; returning the error makes
// the work queue retry the write soon.
func (r *BankConnectionReconciler) persistFailed(st *reconcileState, err error) error {
	st.conn.Status.LastError = &v1.LastError{
		Reason:  v1.ReasonSecretWriteFailed,
		Message: "Tokens from finX are held in memory until their Secret can be written: " + err.Error(),
		Time:    metav1.NewTime(st.now),
	}
	r.Metrics.RefreshResult("persist_failed")
	r.event(st, corev1.EventTypeWarning, v1.ReasonSecretWriteFailed, "The new tokens could not be written to Secret %s; retrying without calling finX", refreshSecretName(st.conn))
	return fmt.Errorf("persisting tokens: %w", err)
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
