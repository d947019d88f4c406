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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// clientRecheck is how often a connection whose client or Secret is unusable looks again (a
// Namespace's labels or a credentials Secret can change without an event the operator watches).
const clientRecheck = 2 * time.Minute

// persistPendingTokens finishes the commit of tokens that finX returned but that are not yet in
// their Secret. Nothing else happens for the connection until they are: above all, no finX call.
func (r *BankConnectionReconciler) persistPendingTokens(ctx context.Context, st *reconcileState) (bool, error) {
	stored, res, op, held, err := r.Spends.Resume(ctx, st.conn.UID)
	if !held {
		return false, nil
	}
	if errors.Is(err, spend.ErrSuperseded) {
		r.superseded(st)
		return false, nil // go on with the chain the Secret holds
	}
	if blockedBySecret(st, err) {
		return true, nil
	}
	if err != nil {
		return true, r.persistFailed(st, err)
	}
	if err := r.committed(ctx, st, stored, res, op); err != nil {
		return true, err
	}
	log.FromContext(ctx).Info("stored tokens that were held in memory after a failed write", "operation", string(op))
	return true, nil
}

// resolveClient finds the finX client; an unusable one stops the reconcile with a Ready reason.
func (r *BankConnectionReconciler) resolveClient(ctx context.Context, st *reconcileState) (bool, error) {
	rc, err := r.Clients.Resolve(ctx, st.conn)
	var cp *clientProblemError
	if errors.As(err, &cp) {
		st.blocked = &cp.problem
		st.requeue(st.now.Add(clientRecheck))
		return true, nil
	}
	if err != nil {
		return true, err
	}
	st.client = rc
	// Fixed from now on: the connection keeps this finX user for its whole life.
	st.conn.Status.FinXUserID = rc.userID
	return false, nil
}

// loadPrivateSecret reads the operator-private Secret from the API server (it may not exist yet).
func (r *BankConnectionReconciler) loadPrivateSecret(ctx context.Context, st *reconcileState) (bool, error) {
	key := types.NamespacedName{Namespace: st.conn.Namespace, Name: refreshSecretName(st.conn)}
	p, err := tokenstore.ReadPrivate(ctx, privateReader(r.APIReader, st.conn), key, st.conn)
	var no *tokenstore.NotOwnedError
	if errors.As(err, &no) {
		// Perhaps a chain a deleted connection of this name, user and client retained: only such a
		// connection takes it over; for anyone else it stays a conflict.
		if p, err = tokenstore.AdoptRetained(ctx, r.Client, r.APIReader, key, st.conn, retention(st.conn)); err == nil && p != nil {
			if id, ok := p.RetainedFinXUser(st.client.userIDs...); ok {
				// Continue under the finX user the chain belongs to (a connection that started under
				// the legacy derivation keeps it).
				st.client.userID, st.conn.Status.FinXUserID = id, id
			}
			log.FromContext(ctx).Info("adopted a refresh chain retained by a deleted connection of the same name, user and client")
			r.event(st, corev1.EventTypeNormal, v1.ReasonRetainedChainAdopted,
				"Took over the refresh token retained in Secret %s by a deleted connection of the same name, user and client", key.Name)
		}
	}
	if blockedBySecret(st, err) {
		return true, nil
	}
	if err != nil {
		return true, err
	}
	st.private = p
	return false, r.applyDeletionPolicy(ctx, st)
}

// applyDeletionPolicy keeps the private Secret retained or owned as spec.secretsDeletionPolicy says,
// before any chain is stored in it, so that a deletion at any later moment does what the spec says.
func (r *BankConnectionReconciler) applyDeletionPolicy(ctx context.Context, st *reconcileState) error {
	if st.private == nil {
		return nil
	}
	retain := st.conn.Spec.SecretsDeletionPolicy == v1.DeletionPolicyRetain
	changed, err := tokenstore.SetRetention(ctx, r.Client, st.private, st.conn, retain, retention(st.conn))
	if changed {
		log.FromContext(ctx).Info("applied the deletion policy to the private Secret", "retain", retain)
	}
	return err
}

// retention is what a later connection must match to adopt this connection's retained chain.
func retention(c *v1.BankConnection) tokenstore.Retention {
	kind := c.Spec.ClientRef.Kind
	if kind == "" {
		kind = v1.ClientKindFinXClient
	}
	return tokenstore.Retention{UserID: c.Spec.UserID, ClientKind: string(kind), ClientName: c.Spec.ClientRef.Name,
		FinXUserID: c.Status.FinXUserID}
}

// blockedBySecret turns a private Secret this connection does not control into a stop with a Ready
// reason: it never reads or writes tokens there. A leftover of a deleted connection of the same
// name clears once the garbage collector removes it.
func blockedBySecret(st *reconcileState, err error) bool {
	var no *tokenstore.NotOwnedError
	if !errors.As(err, &no) {
		return false
	}
	st.blocked = &problem{reason: v1.ReasonSecretConflict, message: no.Error()}
	st.requeue(st.now.Add(time.Minute))
	return true
}

// privateReader is how a reconcile reads the private Secret. A connection the operator has never
// written status for holds no chain and has never had a link, so no token can be in its private
// Secret except one a retained chain left: the read only looks for a Secret in the way (a foreign
// one, or a chain to adopt) before the first link. kube-apiserver answers it from its watch cache,
// milliseconds behind etcd at most, without reading etcd. A Secret it misses is found by the next
// reconcile or by the callback's create. Every other read, the one before a spend included, is a
// read from etcd.
func privateReader(r client.Reader, c *v1.BankConnection) client.Reader {
	if c.Status.ObservedGeneration < 1 && c.Status.Link == nil && c.Status.RefreshToken == nil {
		return watchCacheReader{r}
	}
	return r
}

// watchCacheReader serves Gets from kube-apiserver's watch cache (resourceVersion "0").
type watchCacheReader struct{ client.Reader }

func (w watchCacheReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return w.Reader.Get(ctx, key, obj, append(opts, &client.GetOptions{Raw: &metav1.GetOptions{ResourceVersion: "0"}})...)
}
