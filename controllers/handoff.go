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
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/callback"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// CallbackHandoff connects the callback endpoint to the reconciler: it finds the connection by the
// hash of the state and stores the result in the connection's private Secret, creating that Secret
// on the connection's first hand-off. It runs on every replica and never calls finX.
type CallbackHandoff struct {
	// Cache is the manager's cached client, with the indexes from RegisterIndexes.
	Cache client.Client
	// Informers is the manager's cache; the state lookup scans its BankConnection store in place.
	// Optional: without it the lookup lists the cache.
	Informers cache.Informers
	// APIReader reads the private Secret fresh before it is written.
	APIReader client.Reader
	Clock     clock.PassiveClock
}

var _ callback.Handoff = (*CallbackHandoff)(nil)

// lookupAttempts absorb the short delay between the reconciler writing a link to status and this
// replica's cache seeing it (a user in a test harness can be that fast).
const (
	lookupAttempts    = 14
	firstLookupRetry  = 10 * time.Millisecond
	maxLookupInterval = 200 * time.Millisecond
	writeAttempts     = 5
)

// Deliver implements callback.Handoff.
func (h *CallbackHandoff) Deliver(ctx context.Context, req callback.Request) (callback.Result, error) {
	hash := StateHash(req.State)
	cached, err := h.findConnection(ctx, hash)
	if err != nil {
		return callback.Result{}, err
	}
	// The cache may lag a link replacement: confirm against the API server that this state is the
	// connection's current link before handing anything over.
	conn := &v1.BankConnection{}
	if err := h.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), conn); err != nil {
		if apierrors.IsNotFound(err) {
			return callback.Result{}, callback.ErrUnknownState
		}
		return callback.Result{}, redactAPIError(err)
	}
	link := linkForState(conn, hash)
	if link == nil {
		// The cache still showed the link; the API server no longer does. A state already used is
		// reported as such (409), not as unknown.
		if used, err := stateConsumed(ctx, h.Informers, h.Cache, hash); err == nil && used {
			return callback.Result{}, callback.ErrStateUsed
		}
		return callback.Result{}, callback.ErrUnknownState
	}
	if !conn.DeletionTimestamp.IsZero() {
		return callback.Result{}, callback.ErrUnknownState // nothing is exchanged for a connection being deleted
	}
	res := callback.Result{ReturnURL: conn.Spec.ReturnURL, AppState: conn.Spec.State}
	if exp := link.ExpiresAt; exp != nil && !h.Clock.Now().Before(exp.Time) {
		return res, callback.ErrLinkExpired
	}
	if req.Success && req.Code == "" && link != conn.Status.ConsentLink {
		// Only a re-consent may come back without a code; an authorisation needs one.
		return res, callback.ErrNoCode
	}
	cb := tokenstore.Callback{
		Result: tokenstore.CallbackFailed, StateHash: hash, FlowID: req.FlowID, ReceivedAt: h.Clock.Now(),
	}
	switch {
	case req.Success:
		cb.Result, cb.Code = tokenstore.CallbackSuccess, req.Code
	case req.Cancel:
		cb.Result = tokenstore.CallbackCancelled
	}
	key := types.NamespacedName{Namespace: conn.Namespace, Name: refreshSecretName(conn)}
	for attempt := 0; ; attempt++ {
		p, err := tokenstore.ReadPrivate(ctx, h.APIReader, key, conn)
		if err != nil {
			return res, redactAPIError(err)
		}
		var pending *tokenstore.Callback
		if p != nil {
			pending = p.Callback()
		}
		switch {
		case p == nil:
			// The first hand-off of the connection makes its private Secret, bound as its deletion
			// policy says, in the same write.
			_, err = tokenstore.CreateWithCallback(ctx, h.Cache, conn, key,
				conn.Spec.SecretsDeletionPolicy == v1.DeletionPolicyRetain, retention(conn), cb)
		case pending != nil && pending.StateHash != hash && linkForState(conn, pending.StateHash) != nil:
			// The Secret has one hand-off slot, and the other current link's result waits in it:
			// overwriting it would lose an authorisation code or a renewal. The browser retries.
			return res, errOtherFlowPending
		default:
			err = tokenstore.RecordCallback(ctx, h.Cache, p, cb)
		}
		switch {
		case errors.Is(err, tokenstore.ErrStateUsed):
			return res, callback.ErrStateUsed
		case (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < writeAttempts:
			continue // someone wrote the Secret meanwhile: re-read, and see whether it was this state
		case err != nil:
			return res, redactAPIError(err)
		}
		return res, nil
	}
}

// errOtherFlowPending: the result of the connection's other current link is still waiting for the
// reconciler (the endpoint answers "temporarily unavailable").
var errOtherFlowPending = errors.New("the result of the connection's other link is still being processed")

// linkForState returns the connection's current link, authorisation or re-consent, that carries
// this state hash (nil if none).
func linkForState(c *v1.BankConnection, hash string) *v1.LinkStatus {
	for _, l := range []*v1.LinkStatus{c.Status.Link, c.Status.ConsentLink} {
		if l != nil && l.StateHash == hash {
			return l
		}
	}
	return nil
}

// findConnection returns the connection whose current link carries this state hash.
func (h *CallbackHandoff) findConnection(ctx context.Context, hash string) (*v1.BankConnection, error) {
	wait := firstLookupRetry
	for attempt := 0; attempt < lookupAttempts; attempt++ {
		found, err := connectionsWithState(ctx, h.Informers, h.Cache, hash)
		if err != nil {
			return nil, err
		}
		if len(found) == 1 {
			return found[0], nil
		}
		used, err := stateConsumed(ctx, h.Informers, h.Cache, hash)
		if err != nil {
			return nil, err
		}
		if used {
			return nil, callback.ErrStateUsed
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxLookupInterval)
	}
	return nil, callback.ErrUnknownState
}

// redactAPIError keeps Kubernetes error text (which admission policies may fill with object content)
// out of the callback's logs: only the reason and code travel on.
func redactAPIError(err error) error {
	return errors.New(apiErrorSummary(err))
}
