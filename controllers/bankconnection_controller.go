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
	// Read from the API server, not the cache: the cache can lag this reconciler's own status write
	// of a moment ago, and acting on a stale link or schedule would issue duplicate links or drop a
	// callback meant for the newest link.
	conn := &v1.BankConnection{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, conn); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.Forget(req.Namespace, req.Name)
			r.Spends.ForgetOwner(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
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
	err := r.runSteps(ctx, st)
	if err == nil {
		err = r.followBankData(ctx, st)
	}
	return ctrl.Result{}, err
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

// writeStatus patches the status subresource when, and only when, it changed.
func (r *BankConnectionReconciler) writeStatus(ctx context.Context, before, conn *v1.BankConnection) error {
	r.Metrics.ObserveConnection(conn)
	if equality.Semantic.DeepEqual(before.Status, conn.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, conn, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		log.FromContext(ctx).Error(err, "writing status")
		return err
	}
	return nil
}

// SetupWithManager registers the controller and the indexes the callback hand-off relies on.
func (r *BankConnectionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := RegisterIndexes(context.Background(), mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.BankConnection{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
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
// hand-off written, or a refresh token removed or replaced by someone else. Everything else on its
// Secrets is its own doing.
func secretEventsThatMatter() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
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
