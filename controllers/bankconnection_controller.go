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
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/metrics"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// BankConnectionReconciler drives a BankConnection through its lifecycle: issue a widget link,
// exchange the code the callback hands over, keep the tokens in their Secrets and refresh them
// before they expire, and ask for a new authorisation when the refresh chain dies.
type BankConnectionReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server: the refresh token is never taken from a
	// cache before it is spent.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Clients   *ClientSource
	Metrics   *metrics.Recorder
	Backoff   backoff
	// MaxConcurrentReconciles bounds parallel reconciles; one object is never reconciled twice at once.
	MaxConcurrentReconciles int
	// Spends runs every spend of a refresh token or code: journal, fencing, commit, recovery.
	Spends *spend.Protocol

	// own holds this process's status writes the cache may not show yet.
	own ownWrites
}

// NewBankConnectionReconciler wires a reconciler with the defaults used in production.
func NewBankConnectionReconciler(c client.Client, apiReader client.Reader, rec events.EventRecorder, clients *ClientSource, m *metrics.Recorder) *BankConnectionReconciler {
	return &BankConnectionReconciler{
		Client: c, APIReader: apiReader, Recorder: rec, Clients: clients, Metrics: m,
		Clock:   clock.RealClock{},
		Backoff: backoff{base: 2 * time.Second, max: 5 * time.Minute},
		Spends:  &spend.Protocol{Writer: c, Reader: apiReader, Identity: spend.NewIdentity("")},
	}
}

// WithBackoff overrides the retry policy (tests use short ones).
func (r *BankConnectionReconciler) WithBackoff(base, max time.Duration) *BankConnectionReconciler {
	r.Backoff = backoff{base: base, max: max}
	return r
}

// Reconcile runs the lifecycle steps for one connection and writes its status once, at the end,
// only if it changed.
func (r *BankConnectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	conn, lagging, err := r.readConnection(ctx, req.NamespacedName)
	switch {
	case lagging:
		return ctrl.Result{RequeueAfter: r.own.lagRetry(req.NamespacedName)}, nil
	case err != nil || conn == nil:
		return ctrl.Result{}, err
	}
	if !conn.DeletionTimestamp.IsZero() {
		// Owner references remove the Secrets (a retained private Secret has none, so it stays); no
		// finX call is made for a connection being deleted.
		r.Spends.Forget(conn.UID)
		return ctrl.Result{}, nil
	}
	before := conn.DeepCopy()
	st := newReconcileState(conn, r.Clock.Now())
	defer func() {
		summarize(st)
		if err := r.writeStatus(ctx, before, conn); err != nil {
			retErr = err
		}
		res = st.result(res, retErr)
	}()
	err = r.runSteps(ctx, st)
	if err == nil {
		err = r.followBankData(ctx, st)
	}
	return ctrl.Result{}, err
}

// readConnection reads the connection from the cache. A cache that does not show this process's own
// last status write yet describes a link or a token schedule that has since been replaced: lagging
// says so, and nothing may be done on it. Every token spent is still read from the API server right
// before the spend, and the status write carries the resourceVersion read here, so even a copy
// that is stale for another reason can neither spend a stale token nor overwrite a newer status.
// It returns nil for a connection that no longer exists.
func (r *BankConnectionReconciler) readConnection(ctx context.Context, key types.NamespacedName) (conn *v1.BankConnection, lagging bool, err error) {
	conn = &v1.BankConnection{}
	err = r.Get(ctx, key, conn)
	if err == nil {
		switch r.own.check(conn) {
		case cacheCurrent:
			return conn, false, nil
		case cacheBehind:
			return nil, true, nil
		}
		conn = &v1.BankConnection{} // decoding into the cached copy would keep its map entries
		if err = r.APIReader.Get(ctx, key, conn); err == nil {
			// Later reconciles wait for the cache to show at least this version.
			r.own.wrote(conn)
		}
	}
	if !apierrors.IsNotFound(err) {
		return conn, false, err
	}
	// The API server confirms a deletion before anything held for the connection is dropped: a
	// held token is the only copy of a rotated one.
	if err := r.APIReader.Get(ctx, key, &v1.BankConnection{}); !apierrors.IsNotFound(err) {
		return nil, false, err // the cache has not seen it yet (or a read failed): its own event follows
	}
	r.Metrics.Forget(key.Namespace, key.Name)
	r.Spends.ForgetOwner(key)
	r.own.forget(key)
	return nil, false, nil
}

// runSteps is the lifecycle in order. Each step either finishes the reconcile (returns true or an
// error) or hands over to the next.
func (r *BankConnectionReconciler) runSteps(ctx context.Context, st *reconcileState) error {
	if done, err := r.persistPendingTokens(ctx, st); done || err != nil {
		return err
	}
	if st.conn.Spec.Suspend {
		st.suspended = true
		return nil
	}
	if done, err := r.resolveClient(ctx, st); done || err != nil {
		return err
	}
	if done, err := r.loadPrivateSecret(ctx, st); done || err != nil {
		return err
	}
	if done, err := r.handleCallback(ctx, st); done || err != nil {
		return err
	}
	if relinkRequested(st.conn) {
		err := r.issueLink(ctx, st, "a new link was requested with the "+v1.AnnotationRelink+" annotation")
		if st.linkIssued {
			// Only now: a request that meets a backoff is acted on when the backoff ends.
			st.conn.Status.LastHandledRelinkRequest = st.conn.Annotations[v1.AnnotationRelink]
		}
		if err != nil || !st.chainUsable() {
			return err
		}
		// A relink is additive: the live chain is still maintained below, whatever the link did.
	}
	if refreshRequested(st.conn) && st.private != nil && st.private.HasRefreshToken() && !st.chainUsable() {
		return r.recoverChain(ctx, st)
	}
	if err := r.markLegacyEnd(ctx, st); err != nil {
		return err
	}
	if st.chainUsable() {
		return r.maintainTokens(ctx, st)
	}
	if st.chainEnded() {
		return r.reportEnded(ctx, st)
	}
	if st.chainVanished() {
		return r.chainMissing(ctx, st)
	}
	if st.chainExpired() {
		return r.requireReauthorization(ctx, st, v1.ReasonTokenExpired,
			"The refresh token expired at "+st.private.RefreshExpiresAt().UTC().Format(time.RFC3339)+" before it could be refreshed.")
	}
	return r.ensureLink(ctx, st)
}

// writeStatus patches the status subresource when, and only when, it changed. The patch carries the
// resourceVersion the reconcile started from, so a status computed from a stale copy never lands.
func (r *BankConnectionReconciler) writeStatus(ctx context.Context, before, conn *v1.BankConnection) error {
	r.Metrics.ObserveConnection(conn)
	if equality.Semantic.DeepEqual(before.Status, conn.Status) {
		return nil
	}
	err := patchStatus(ctx, r.Status(), before, conn)
	if apierrors.IsConflict(err) {
		err = r.rewriteStatus(ctx, before, conn)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		if !apierrors.IsConflict(err) {
			r.own.unsure(conn) // it may have been applied all the same
		}
		log.FromContext(ctx).Error(err, "writing status")
		return err
	}
	r.own.wrote(conn)
	return nil
}

// rewriteStatus handles a status patch that met a newer connection. Only this reconciler writes
// status, so usually someone changed the spec or the metadata meanwhile: if the status on the API
// server is still the one this reconcile started from, the new status describes what was just done
// (a link issued, tokens stored) and is written on top of the newer version. Otherwise the reconcile
// started from a stale status, and its result is dropped: the next reconcile starts afresh, once the
// cache shows the status found here.
func (r *BankConnectionReconciler) rewriteStatus(ctx context.Context, before, conn *v1.BankConnection) error {
	fresh := &v1.BankConnection{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(conn), fresh); err != nil {
		return err
	}
	if fresh.UID != conn.UID || !equality.Semantic.DeepEqual(fresh.Status, before.Status) {
		r.own.wrote(fresh)
		return apierrors.NewConflict(v1.GroupVersion.WithResource("bankconnections").GroupResource(), conn.Name,
			errors.New("the status changed since this reconcile read it"))
	}
	patched := fresh.DeepCopy()
	patched.Status = conn.Status
	if err := patchStatus(ctx, r.Status(), fresh, patched); err != nil {
		return err
	}
	conn.ResourceVersion = patched.ResourceVersion
	return nil
}

// SetupWithManager registers the controller and the indexes the callback hand-off relies on.
func (r *BankConnectionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := RegisterIndexes(context.Background(), mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.BankConnection{}, builder.WithPredicates(predicate.Or[client.Object](
			r.own.seenByCache(), predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// The callback writes the private Secret; a deleted access-token Secret must be refilled.
		// The operator's own writes (journal, commits) trigger nothing.
		Owns(&corev1.Secret{}, builder.WithPredicates(secretEventsThatMatter())).
		// A retained private Secret has no owner reference; its connection label names its connection.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(retainedSecretConnection),
			builder.WithPredicates(secretEventsThatMatter(), predicate.NewPredicateFuncs(isRetained))).
		Watches(&v1.FinXClient{}, handler.EnqueueRequestsFromMapFunc(r.connectionsUsing(v1.ClientKindFinXClient)),
			builder.WithPredicates(clientChangesThatMatter())).
		Watches(&v1.ClusterFinXClient{}, handler.EnqueueRequestsFromMapFunc(r.connectionsUsing(v1.ClientKindClusterFinXClient)),
			builder.WithPredicates(clientChangesThatMatter())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles),
			// Retries of failed API writes start fast and stay frequent: a rotated token may be
			// waiting in memory for its Secret write.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](200*time.Millisecond, time.Minute),
		}).
		Named("bankconnection").
		Complete(r)
}

// connectionsUsing maps a FinXClient or ClusterFinXClient event to the connections that use it.
func (r *BankConnectionReconciler) connectionsUsing(kind v1.ClientKind) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &v1.BankConnectionList{}
		opts := []client.ListOption{client.MatchingFields{indexClientRef: clientRefKey(kind, obj.GetName())}}
		if kind == v1.ClientKindFinXClient {
			opts = append(opts, client.InNamespace(obj.GetNamespace()))
		}
		if err := r.List(ctx, list, opts...); err != nil {
			log.FromContext(ctx).Error(err, "listing connections of a client", "client", obj.GetName())
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, c := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}})
		}
		return reqs
	}
}

// secretEventsThatMatter lets through what the reconciler must act on: a Secret deleted, a callback
// hand-off written (also into a Secret the callback creates), or a refresh token removed or replaced
// by someone else. Everything else on its Secrets is its own doing.
func secretEventsThatMatter() predicate.Funcs {
	return predicate.Funcs{
		// The callback creates the private Secret with its first hand-off in it.
		CreateFunc: func(e event.CreateEvent) bool {
			s, ok := e.Object.(*corev1.Secret)
			return ok && tokenstore.HoldsCallback(s)
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, oldOK := e.ObjectOld.(*corev1.Secret)
			cur, curOK := e.ObjectNew.(*corev1.Secret)
			return oldOK && curOK && (tokenstore.CallbackChanged(old, cur) || tokenstore.ChainTouched(old, cur))
		},
	}
}

func isRetained(o client.Object) bool {
	return o.GetAnnotations()[tokenstore.AnnotationRetainedFor] != "" && metav1.GetControllerOf(o) == nil
}

// retainedSecretConnection maps a retained private Secret to the connection of its label.
func retainedSecretConnection(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[tokenstore.LabelConnection]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// clientChangesThatMatter lets through the client events its connections must act on: a client
// created or deleted, its spec changed, or its readiness changed. A label or an annotation, or a
// status rewritten with the same readiness, reconciles none of the (possibly thousands of)
// connections that use it.
func clientChangesThatMatter() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				return true
			}
			return clientReadiness(e.ObjectOld) != clientReadiness(e.ObjectNew)
		},
	}
}

// clientReadiness is the Ready condition's status and reason.
func clientReadiness(o client.Object) string {
	var conds []metav1.Condition
	switch c := o.(type) {
	case *v1.FinXClient:
		conds = c.Status.Conditions
	case *v1.ClusterFinXClient:
		conds = c.Status.Conditions
	}
	if r := meta.FindStatusCondition(conds, v1.ConditionReady); r != nil {
		return string(r.Status) + "/" + r.Reason
	}
	return ""
}

func relinkRequested(c *v1.BankConnection) bool {
	v, ok := c.Annotations[v1.AnnotationRelink]
	return ok && v != c.Status.LastHandledRelinkRequest
}

func refreshRequested(c *v1.BankConnection) bool {
	v, ok := c.Annotations[v1.AnnotationRefresh]
	return ok && v != c.Status.LastHandledRefreshRequest
}

// refreshSecretName and accessSecretName return the effective names of the two Secrets.
func refreshSecretName(c *v1.BankConnection) string {
	if c.Spec.RefreshTokenSecretName != "" {
		return c.Spec.RefreshTokenSecretName
	}
	return c.Name + "-finx-refresh"
}

func accessSecretName(c *v1.BankConnection) string {
	if c.Spec.AccessToken.SecretName != "" {
		return c.Spec.AccessToken.SecretName
	}
	return c.Name + "-finx-access"
}

func maintainAccessToken(c *v1.BankConnection) bool {
	return c.Spec.AccessToken.Mode != v1.AccessTokenModeDisabled
}
