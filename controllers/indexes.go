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
	"strings"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// Cache indexes. The callback endpoint finds a connection by the hash of the state it receives
// (the state itself is stored nowhere) and recognises a replayed state by the consumed list kept
// on the private Secret.
const (
	indexStateHash     = "status.link.stateHash"
	indexConsumedState = "metadata.annotations.consumedStates"
	indexClientRef     = "spec.clientRef"
)

// RegisterIndexes adds the cache indexes used by the reconciler and the callback hand-off.
// BankConnectionReconciler.SetupWithManager calls it; call it once per manager.
func RegisterIndexes(ctx context.Context, mgr ctrl.Manager) error {
	fi := mgr.GetFieldIndexer()
	if err := fi.IndexField(ctx, &v1.BankConnection{}, indexStateHash, func(o client.Object) []string {
		c := o.(*v1.BankConnection)
		var hashes []string
		for _, l := range []*v1.LinkStatus{c.Status.Link, c.Status.ConsentLink} {
			if l != nil && l.StateHash != "" {
				hashes = append(hashes, l.StateHash)
			}
		}
		return hashes
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &v1.BankConnection{}, indexClientRef, func(o client.Object) []string {
		c := o.(*v1.BankConnection)
		kind := c.Spec.ClientRef.Kind
		if kind == "" {
			kind = v1.ClientKindFinXClient
		}
		return []string{clientRefKey(kind, c.Spec.ClientRef.Name)}
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &corev1.Secret{}, indexConsumedState, func(o client.Object) []string {
		v := o.GetAnnotations()[tokenstore.AnnotationConsumedStates]
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}); err != nil {
		return err
	}
	return nil
}

func clientRefKey(kind v1.ClientKind, name string) string { return string(kind) + "/" + name }
