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

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
)

// FinXClientReconciler sets Ready on FinXClients and ClusterFinXClients from their base URL (it must
// be on the operator's allowlist) and their credentials Secret. A change of Ready re-triggers the
// connections that use the client (through their watch).
type FinXClientReconciler struct {
	client.Client
	// Credentials reads the credentials Secrets; this reconciler's reads are the periodic check
	// that the connections of the client rely on.
	Credentials *Credentials
	// Allowlist holds the base URLs the operator may call (--allowed-finx-base-urls).
	Allowlist *finx.Allowlist
	// Cluster selects ClusterFinXClient instead of FinXClient.
	Cluster bool
}

// Reconcile checks the credentials Secret and writes the Ready condition if it changed.
func (r *FinXClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var (
		obj    client.Object
		spec   v1.FinXClientSpec
		status *v1.FinXClientStatus
		secret types.NamespacedName
	)
	if r.Cluster {
		cc := &v1.ClusterFinXClient{}
		if err := r.Get(ctx, req.NamespacedName, cc); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		obj, spec, status = cc, cc.Spec.FinXClientSpec, &cc.Status
		secret = types.NamespacedName{Namespace: spec.CredentialsSecretRef.Namespace, Name: spec.CredentialsSecretRef.Name}
	} else {
		fc := &v1.FinXClient{}
		if err := r.Get(ctx, req.NamespacedName, fc); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		obj, spec, status = fc, fc.Spec, &fc.Status
		secret = types.NamespacedName{Namespace: fc.Namespace, Name: spec.CredentialsSecretRef.Name}
	}
	before := obj.DeepCopyObject().(client.Object)
	cond := metav1.Condition{
		Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonCredentialsFound,
		Message: "The credentials Secret " + secret.String() + " holds a client id and secret.", ObservedGeneration: obj.GetGeneration(),
	}
	var err error
	if r.Allowlist.Allows(spec.BaseURL) {
		_, _, _, err = r.Credentials.Check(ctx, secret, spec.CredentialsSecretRef)
	} else {
		err = notUsable(v1.ReasonBaseURLNotAllowed, "The client cannot be used: %s", baseURLNotAllowed(r.Allowlist, spec.BaseURL))
	}
	var cp *clientProblemError
	switch {
	case errors.As(err, &cp):
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, cp.reason, cp.message
	case err != nil:
		return ctrl.Result{}, err
	}
	meta.SetStatusCondition(&status.Conditions, cond)
	status.ObservedGeneration = obj.GetGeneration()
	if !equality.Semantic.DeepEqual(before, obj) {
		if err := r.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{RequeueAfter: credentialsRecheck}, nil
}

// SetupWithManager registers the controller for one of the two kinds.
func (r *FinXClientReconciler) SetupWithManager(mgr ctrl.Manager) error {
	var obj client.Object = &v1.FinXClient{}
	name := "finxclient"
	if r.Cluster {
		obj, name = &v1.ClusterFinXClient{}, "clusterfinxclient"
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(obj, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named(name).
		Complete(r)
}
