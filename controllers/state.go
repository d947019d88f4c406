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
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// minRequeue keeps a schedule that is already due from turning into a hot loop.
const minRequeue = time.Second

// reconcileState is everything one reconcile knows, passed to each step instead of loose pointers.
type reconcileState struct {
	conn *v1.BankConnection
	now  time.Time

	client  *resolvedClient     // nil until resolved, or when the client is unusable
	private *tokenstore.Private // the operator-private Secret as read from the API server
	// access is the access-token Secret's name as read from the API server in this reconcile (nil
	// until read): the refresh that follows writes from this read instead of reading again.
	access *tokenstore.AccessSecret

	// refreshRequest is the refresh annotation's value being acted on; it is recorded as handled
	// once its spend is journaled.
	refreshRequest string

	suspended      bool
	linkIssued     bool     // a new link was issued in this reconcile
	blocked        *problem // the client or the private Secret cannot be used (Ready=False, no finX call)
	accessConflict *problem // the access-token Secret's name is taken by a Secret this connection does not control
	stalled        *problem // finX refused a link request itself: needs a change by a person (set by summarize)

	// freshAccess is an access token a spend returned in this reconcile, held for reading the
	// accounts without another spend.
	freshAccess          string
	freshAccessExpiresAt time.Time
	authorizedNow        bool // a code was exchanged in this reconcile
	accountsDue          bool // read the accounts in this reconcile, whatever their schedule
	consentFlow          bool // the callback being handled belongs to the re-consent link

	requeueAt time.Time
}

type problem struct{ reason, message string }

func newReconcileState(conn *v1.BankConnection, now time.Time) *reconcileState {
	return &reconcileState{conn: conn, now: now}
}

// requeue asks for the next reconcile no later than at.
func (s *reconcileState) requeue(at time.Time) {
	if at.IsZero() {
		return
	}
	if s.requeueAt.IsZero() || at.Before(s.requeueAt) {
		s.requeueAt = at
	}
}

// result turns the earliest requested time into a RequeueAfter; an error lets the rate limiter decide.
func (s *reconcileState) result(res ctrl.Result, err error) ctrl.Result {
	if err != nil || s.requeueAt.IsZero() {
		return res
	}
	return ctrl.Result{RequeueAfter: max(s.requeueAt.Sub(s.now), minRequeue)}
}

// chainUsable reports whether the connection holds a refresh token worth refreshing. The private
// Secret decides, not status: a status write can be lost, and then status describes another chain.
func (s *reconcileState) chainUsable() bool {
	if s.private == nil || !s.private.HasRefreshToken() {
		return false
	}
	if _, _, ended := s.private.Ended(); ended {
		return false
	}
	exp := s.private.RefreshExpiresAt()
	return exp.IsZero() || s.now.Before(exp)
}

// chainExpired reports a refresh token that ran out unrefreshed and is not yet reported as such.
func (s *reconcileState) chainExpired() bool {
	if s.private == nil || !s.private.HasRefreshToken() {
		return false
	}
	if _, _, ended := s.private.Ended(); ended {
		return false
	}
	if cond := meta.FindStatusCondition(s.conn.Status.Conditions, v1.ConditionReauthorizationRequired); cond != nil &&
		cond.Status == metav1.ConditionTrue && cond.Reason == v1.ReasonTokenExpired {
		return false
	}
	exp := s.private.RefreshExpiresAt()
	return !exp.IsZero() && !s.now.Before(exp)
}

// chainEnded reports a refresh token the private Secret marks as refused by finX.
func (s *reconcileState) chainEnded() bool {
	if s.private == nil || !s.private.HasRefreshToken() {
		return false
	}
	_, _, ended := s.private.Ended()
	return ended
}

// chainVanished reports a connection whose status records a chain while the private Secret holds no
// refresh token: someone deleted the Secret or emptied its key. Nothing held in memory can refill it
// (persistPendingTokens ran first).
func (s *reconcileState) chainVanished() bool {
	if s.private != nil && s.private.HasRefreshToken() {
		return false
	}
	return s.conn.Status.RefreshToken != nil
}

// setCondition sets a condition stamped with the generation it was computed for.
func (s *reconcileState) setCondition(typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.conn.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message,
		ObservedGeneration: s.conn.Generation,
	})
}

// attemptsFor returns the attempt number of a new failure of op: consecutive failures of the same
// operation back off further; another operation's failures do not count.
func (s *reconcileState) attemptsFor(op v1.Operation) int32 {
	if le := s.conn.Status.LastError; le != nil && le.Operation == op {
		return s.conn.Status.FailedAttempts + 1
	}
	return 1
}

// unknownSpend returns the journal of an earlier spend of op whose outcome is unknown (nil if none).
func (s *reconcileState) unknownSpend(op spend.Op) *tokenstore.Journal {
	if j := s.private.InFlight(); j != nil && j.Operation == string(op) {
		return j
	}
	return nil
}

// replayOverdue reports a spend whose outcome is unknown and whose retry a backoff recorded before
// it began (by another run, say) holds past finX's reuse grace: it is replayed now instead.
func (s *reconcileState) replayOverdue(op v1.Operation, unknown *tokenstore.Journal) bool {
	le := s.conn.Status.LastError
	return unknown != nil && le != nil && le.Operation == op && le.NextAttemptAt != nil &&
		spend.ReplayNow(unknown, le.Time.Time, le.NextAttemptAt.Time, s.now)
}

// recordFailure notes a failed attempt of op and schedules its retry.
func (s *reconcileState) recordFailure(op v1.Operation, reason, message string, retryAt time.Time) {
	st := &s.conn.Status
	st.FailedAttempts = s.attemptsFor(op)
	st.LastError = &v1.LastError{
		Operation: op, Reason: reason, Message: message, Time: metav1.NewTime(s.now),
		NextAttemptAt: ptrTime(retryAt),
	}
	s.requeue(retryAt)
}

// clearFailures resets the failure bookkeeping after a success of one of ops (all when none are
// given): another operation's failure stays on record with its backoff.
func (s *reconcileState) clearFailures(ops ...v1.Operation) {
	le := s.conn.Status.LastError
	if le != nil && len(ops) > 0 && !slices.Contains(ops, le.Operation) {
		return
	}
	s.conn.Status.FailedAttempts = 0
	s.conn.Status.LastError = nil
}

// waitingForRetry reports whether an earlier failure of op is still backing off. Each operation
// backs off on its own: a failing link request never delays a refresh, nor a refresh an exchange.
func (s *reconcileState) waitingForRetry(op v1.Operation) bool {
	le := s.conn.Status.LastError
	if le == nil || le.Operation != op || le.NextAttemptAt == nil || !s.now.Before(le.NextAttemptAt.Time) {
		return false
	}
	if op == v1.OperationIssueLink && s.conn.Status.ObservedGeneration != s.conn.Generation {
		return false // a changed spec is worth trying at once
	}
	s.requeue(le.NextAttemptAt.Time)
	return true
}

func ptrTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}
