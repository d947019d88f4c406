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
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// codeRetryWindow is how long a failed exchange is retried. finX documents codes living 5 minutes
// (or 1 hour); after that a new link is the only way forward.
const codeRetryWindow = 4 * time.Minute

// handleCallback acts on a result the callback endpoint handed over.
func (r *BankConnectionReconciler) handleCallback(ctx context.Context, st *reconcileState) (bool, error) {
	if st.private == nil {
		return false, nil
	}
	cb := st.private.Callback()
	if cb == nil {
		return false, nil
	}
	if l := st.conn.Status.ConsentLink; l != nil && l.StateHash == cb.StateHash {
		return r.handleConsentCallback(ctx, st, cb)
	}
	if l := st.conn.Status.Link; l == nil || l.StateHash != cb.StateHash {
		if behind, err := r.cacheBehindLink(ctx, st, cb.StateHash); behind || err != nil {
			return true, err
		}
		// A result for a link that has since been replaced: its code must not be exchanged.
		return false, tokenstore.Abandon(ctx, r.Client, st.private)
	}
	switch cb.Result {
	case tokenstore.CallbackSuccess:
		if j := st.private.InFlight(); j != nil && j.Operation == string(spend.Refresh) && st.chainUsable() {
			// A refresh of the live chain whose outcome is unknown is settled first: the exchange's
			// journal would overwrite its record, and a lost rotation would then read as a plain
			// rejection. The code waits; it stays exchangeable for minutes.
			st.requeue(st.now.Add(time.Second))
			return false, nil
		}
		return true, r.exchangeCode(ctx, st, cb)
	case tokenstore.CallbackCancelled:
		return true, r.flowEnded(ctx, st, v1.ReasonCancelled, corev1.EventTypeNormal, "The user cancelled the finX widget.")
	default:
		return true, r.flowEnded(ctx, st, v1.ReasonFlowFailed, corev1.EventTypeWarning, "The finX widget reported that the flow did not succeed.")
	}
}

// cacheBehindLink confirms with the API server, before a hand-off is thrown away, that its link
// really was replaced: the cached connection can be behind a link that another process (the
// previous leader) wrote, and the callback checked against the API server. If it was not replaced,
// the reconcile waits for the cache to show it.
func (r *BankConnectionReconciler) cacheBehindLink(ctx context.Context, st *reconcileState, stateHash string) (bool, error) {
	fresh := &v1.BankConnection{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(st.conn), fresh); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if fresh.UID != st.conn.UID || fresh.Status.Link == nil || fresh.Status.Link.StateHash != stateHash {
		return false, nil
	}
	r.own.wrote(fresh)
	st.requeue(st.now.Add(cacheLagRetry))
	return true, nil
}

// exchangeCode trades the single-use code for tokens at once and stores them, through the spend
// protocol like a refresh.
func (r *BankConnectionReconciler) exchangeCode(ctx context.Context, st *reconcileState, cb *tokenstore.Callback) error {
	if !cb.ReceivedAt.IsZero() && st.now.Sub(cb.ReceivedAt) > codeRetryWindow {
		return r.codeUnusable(ctx, st, "The authorisation code could not be exchanged before it expired.")
	}
	if !st.replayOverdue(v1.OperationExchangeCode, st.unknownSpend(spend.Exchange)) && st.waitingForRetry(v1.OperationExchangeCode) {
		return nil
	}
	ctx, cancel := r.Spends.Context(ctx)
	defer cancel()
	sp, until, err := r.Spends.Begin(ctx, st.conn, st.private, spend.Exchange)
	if err != nil {
		return err
	}
	if sp == nil {
		st.requeue(until)
		return nil
	}
	tok, err := st.client.api.ExchangeCode(ctx, cb.Code)
	if err != nil && tok.RefreshToken != "" {
		return r.salvage(ctx, st, sp, tok, err, cb.StateHash)
	}
	if err != nil {
		return r.exchangeFailed(ctx, st, sp, cb, err)
	}
	res := spend.Result{Tokens: tokensFrom(st, tok, nil), Rotated: true, StateHash: cb.StateHash}
	if err := r.commit(ctx, st, sp, res); err != nil {
		return err
	}
	r.event(st, corev1.EventTypeNormal, v1.ReasonAuthorized, "The user authorised access; tokens stored, next refresh at %s", stamp(st.conn.Status.RefreshToken.NextRefreshAt))
	return nil
}

// exchangeFailed gives up on a refused code, or retries one whose exchange may still work.
func (r *BankConnectionReconciler) exchangeFailed(ctx context.Context, st *reconcileState, sp *spend.Spend, cb *tokenstore.Callback, err error) error {
	f := st.finxFailed(err)
	if f.deadChain || f.stalls {
		return r.codeUnusable(ctx, st, fmt.Sprintf("finX refused the authorisation code (%v).", err))
	}
	var retry time.Time
	if f.noEffect {
		if e := sp.Refused(ctx); e != nil {
			return e
		}
	} else if at, ok := spend.ReplayAt(st.private.InFlight(), st.now); ok {
		retry = maxTime(at, st.now.Add(finx.RetryAfter(err)))
	}
	if retry.IsZero() {
		retry = r.Backoff.retryAt(st.now, st.attemptsFor(v1.OperationExchangeCode), finx.RetryAfter(err), cb.ReceivedAt.Add(codeRetryWindow))
	}
	st.recordFailure(v1.OperationExchangeCode, f.reason, fmt.Sprintf("Exchanging the authorisation code failed (%v); retrying.", err), retry)
	r.event(st, corev1.EventTypeWarning, v1.ReasonExchangeFailed, "Exchanging the authorisation code failed (%v); retrying", err)
	return nil
}

// markAuthorized records a successful exchange (called once its tokens are stored).
func (r *BankConnectionReconciler) markAuthorized(st *reconcileState) {
	c := st.conn
	c.Status.AuthorizedAt = ptrTime(st.now)
	st.authorizedNow = true
	if st.consentFlow {
		// A re-consent whose code was exchanged: a new chain and a renewed consent. A pending
		// authorisation link (a relink) is left to the user.
		c.Status.ConsentLink = nil
		startConsent(st, st.now, &v1.ConsentRenewalStatus{Result: v1.ConsentRenewed, Time: metav1.NewTime(st.now),
			Message: "The user renewed the bank consent; its code was exchanged for a new refresh chain."})
	} else {
		c.Status.Link = nil
		startConsent(st, st.now, nil)
	}
	st.setCondition(v1.ConditionAuthorized, metav1.ConditionTrue, v1.ReasonAuthorized, "The user authorised access through the finX widget.")
	if c.Status.Link == nil {
		st.setCondition(v1.ConditionLinkIssued, metav1.ConditionFalse, v1.ReasonAuthorized, "No link is needed: the connection is authorised.")
	}
	st.setCondition(v1.ConditionReauthorizationRequired, metav1.ConditionFalse, v1.ReasonChainAlive, "No new authorisation is needed.")
}

// codeUnusable gives up on a code and offers the user a new link.
func (r *BankConnectionReconciler) codeUnusable(ctx context.Context, st *reconcileState, msg string) error {
	if st.consentFlow {
		// The live chain and the old consent stay; renewal, still due, brings a new re-consent link.
		return r.consentFlowEnded(ctx, st, v1.ConsentRenewalFailed, corev1.EventTypeWarning, v1.ReasonConsentRenewalFailed,
			msg+" The current consent and tokens are kept.")
	}
	if err := tokenstore.Abandon(ctx, r.Client, st.private); err != nil {
		return err
	}
	if !st.chainUsable() {
		st.setCondition(v1.ConditionAuthorized, metav1.ConditionFalse, v1.ReasonCodeRejected, msg)
	}
	st.conn.Status.LastError = &v1.LastError{Reason: v1.ReasonCodeRejected, Message: msg, Time: metav1.NewTime(st.now)}
	st.conn.Status.FailedAttempts = 0
	r.event(st, corev1.EventTypeWarning, v1.ReasonExchangeFailed, "%s A new link was issued.", msg)
	st.conn.Status.Link = nil
	return r.issueLink(ctx, st, "the authorisation code could not be used")
}

// flowEnded handles a cancelled or failed widget flow: record it and offer a new link.
func (r *BankConnectionReconciler) flowEnded(ctx context.Context, st *reconcileState, reason, eventType, msg string) error {
	if err := tokenstore.Abandon(ctx, r.Client, st.private); err != nil {
		return err
	}
	// A cancelled re-link leaves an existing, live authorisation as it was.
	if !st.chainUsable() || !meta.IsStatusConditionTrue(st.conn.Status.Conditions, v1.ConditionAuthorized) {
		st.setCondition(v1.ConditionAuthorized, metav1.ConditionFalse, reason, msg)
	}
	r.event(st, eventType, reason, "%s", msg)
	st.conn.Status.Link = nil
	return r.issueLink(ctx, st, "the previous flow ended without authorisation")
}
