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

package tokenstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// A retained private Secret has no owner reference, so the garbage collector never deletes it with
// its connection, whatever the deletion propagation (Argo CD prunes in the foreground, which would
// race a finalizer). Instead it is bound to its connection by annotations:
const (
	// AnnotationRetainedFor holds the UID of the connection the Secret belongs to. A Secret with this
	// annotation and no controller is that connection's as if it controlled it.
	AnnotationRetainedFor = "banking.finx-operator.io/retained-for"
	// AnnotationRetainedUser holds the SHA-256 of the connection's userID: enough to recognise the
	// same user again without copying the id into another object.
	AnnotationRetainedUser = "banking.finx-operator.io/retained-user-sha256"
	// AnnotationRetainedClient holds the connection's client as "<kind>/<name>": tokens belong to
	// the finX client that issued them.
	AnnotationRetainedClient = "banking.finx-operator.io/retained-client"
	// AnnotationRetainedFinXUser holds the SHA-256 of the finX user_id the chain belongs to, so an
	// adopting connection continues under the same finX user. It only ever selects among the
	// user_ids the adopting connection could have anyway, so writing it cannot reach another user.
	AnnotationRetainedFinXUser = "banking.finx-operator.io/retained-finx-user-sha256"
)

// Retention is what a connection must match to adopt a retained chain (besides its namespace, which
// the Secret shares, and its name, which the Secret's connection label records).
type Retention struct {
	UserID     string
	ClientKind string
	ClientName string
	// FinXUserID is recorded, not matched (see AnnotationRetainedFinXUser).
	FinXUserID string
}

func (id Retention) userHash() string { return hashOf(id.UserID) }

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// RetainedFinXUser returns the candidate the retained chain was recorded with, if one matches.
func (p *Private) RetainedFinXUser(candidates ...string) (string, bool) {
	h := p.Secret.Annotations[AnnotationRetainedFinXUser]
	for _, c := range candidates {
		if h != "" && c != "" && hashOf(c) == h {
			return c, true
		}
	}
	return "", false
}

func (id Retention) client() string { return id.ClientKind + "/" + id.ClientName }

// controls reports whether owner may use s: it is owner's controller, or s is retained for owner.
func controls(s *corev1.Secret, owner metav1.Object) bool {
	if metav1.IsControlledBy(s, owner) {
		return true
	}
	return metav1.GetControllerOf(s) == nil && s.Annotations[AnnotationRetainedFor] == string(owner.GetUID())
}

// Retained reports whether the private Secret is kept when its connection is deleted.
func (p *Private) Retained() bool {
	return metav1.GetControllerOf(p.Secret) == nil && p.Secret.Annotations[AnnotationRetainedFor] != ""
}

// SetRetention makes the private Secret follow the connection's deletion policy: retained (no owner
// reference, bound by annotations) or owned (deleted with the connection). It writes only when the
// Secret does not match yet, with the read's resourceVersion as precondition, and leaves the token,
// the journal and the hand-off untouched.
func SetRetention(ctx context.Context, c client.Client, p *Private, owner client.Object, retain bool, id Retention) (bool, error) {
	a := p.Secret.Annotations
	if retain == p.Retained() {
		if !retain || (a[AnnotationRetainedUser] == id.userHash() && a[AnnotationRetainedClient] == id.client() &&
			(id.FinXUserID == "" || a[AnnotationRetainedFinXUser] == hashOf(id.FinXUserID))) {
			return false, nil
		}
	}
	s := p.Secret.DeepCopy()
	if err := bind(s, owner, c.Scheme(), retain, id); err != nil {
		return false, err
	}
	if err := c.Update(ctx, s); err != nil {
		return false, fmt.Errorf("applying the deletion policy to Secret %s: %w", s.Name, err)
	}
	p.Secret = s
	return true, nil
}

// bind makes s the owner's as the deletion policy says: retained for id, or owned.
func bind(s *corev1.Secret, owner client.Object, scheme *runtime.Scheme, retain bool, id Retention) error {
	if !retain {
		return Binding{}.apply(s, owner, scheme)
	}
	b := Binding{retained: map[string]string{
		AnnotationRetainedUser:   id.userHash(),
		AnnotationRetainedClient: id.client(),
	}}
	if id.FinXUserID != "" {
		b.retained[AnnotationRetainedFinXUser] = hashOf(id.FinXUserID)
	}
	return b.apply(s, owner, scheme)
}

// retainedAnnotations are the annotations that bind a retained Secret to its connection.
var retainedAnnotations = []string{AnnotationRetainedFor, AnnotationRetainedUser, AnnotationRetainedClient, AnnotationRetainedFinXUser}

// Binding is how a private Secret is tied to its connection: owned (the zero value), or retained
// with what a later connection must match to adopt its chain.
type Binding struct {
	retained map[string]string // the retained-* annotations; nil when owned
}

// Binding returns how the Secret is bound now, so that a Secret recreated in its place is bound the
// same way.
func (p *Private) Binding() Binding {
	if !p.Retained() {
		return Binding{}
	}
	b := Binding{retained: map[string]string{}}
	for _, k := range retainedAnnotations {
		if v, ok := p.Secret.Annotations[k]; ok {
			b.retained[k] = v
		}
	}
	return b
}

// apply binds s to owner: retained (no owner reference, bound by annotations) or owned (deleted
// with it). The owner reference does not block the owner's deletion, which would take a permission
// on the owner's finalizers that the operator does not have.
func (b Binding) apply(s *corev1.Secret, owner client.Object, scheme *runtime.Scheme) error {
	if b.retained == nil {
		if err := controllerutil.SetControllerReference(owner, s, scheme, controllerutil.WithBlockOwnerDeletion(false)); err != nil {
			return err
		}
		for _, k := range retainedAnnotations {
			delete(s.Annotations, k)
		}
		return nil
	}
	s.OwnerReferences = withoutOwner(s.OwnerReferences, owner.GetUID())
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	maps.Copy(s.Annotations, b.retained)
	s.Annotations[AnnotationRetainedFor] = string(owner.GetUID())
	return nil
}

// AdoptRetained binds a private Secret retained by a deleted connection to owner, if and only if it
// was retained for a connection of owner's name, user and client; anything else is a NotOwnedError,
// as before. It returns (nil, nil) when the Secret does not exist.
func AdoptRetained(ctx context.Context, c client.Client, r client.Reader, key types.NamespacedName, owner client.Object, id Retention) (*Private, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, key, s); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if controls(s, owner) {
		return &Private{Secret: s}, nil
	}
	a := s.Annotations
	if s.Type != TypeRefreshToken || s.Labels[LabelManagedBy] != ManagedByValue || metav1.GetControllerOf(s) != nil ||
		a[AnnotationRetainedFor] == "" || s.Labels[LabelConnection] != owner.GetName() ||
		a[AnnotationRetainedUser] != id.userHash() || a[AnnotationRetainedClient] != id.client() {
		return nil, &NotOwnedError{Name: key.String()}
	}
	s = s.DeepCopy()
	s.Annotations[AnnotationRetainedFor] = string(owner.GetUID())
	if err := c.Update(ctx, s); err != nil {
		return nil, fmt.Errorf("adopting the retained Secret %s: %w", key, err)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	return &Private{Secret: s}, nil
}

func withoutOwner(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	out := refs[:0:0]
	for _, ref := range refs {
		if ref.UID != uid {
			out = append(out, ref)
		}
	}
	return out
}
