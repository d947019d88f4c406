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
	"bytes"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// WriteAccessToken creates or updates the workload-facing Secret with the access token. It writes
// only when the content changed, so idle reconciles cost no API writes.
func WriteAccessToken(ctx context.Context, c client.Client, r client.Reader, owner client.Object, name string, t Tokens) error {
	key := types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}
	want := map[string][]byte{
		KeyAccessToken: []byte(t.AccessToken),
		KeyTokenType:   []byte(t.TokenType),
		KeyExpiresAt:   []byte(t.AccessExpiresAt.UTC().Format(time.RFC3339)),
	}
	s := &corev1.Secret{}
	err := r.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: managedLabels(owner.GetName(), RoleAccessToken)},
			Type:       TypeAccessToken,
			Data:       want,
		}
		if err := controllerutil.SetControllerReference(owner, s, c.Scheme(), controllerutil.WithBlockOwnerDeletion(false)); err != nil {
			return err
		}
		if err := c.Create(ctx, s); err != nil {
			return fmt.Errorf("creating access-token Secret %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading access-token Secret %s: %w", key, err)
	}
	if s.Type != TypeAccessToken || s.Labels[LabelManagedBy] != ManagedByValue || !metav1.IsControlledBy(s, owner) {
		return &NotOwnedError{Name: key.String()}
	}
	if sameData(s.Data, want) {
		return nil
	}
	s.Data = want
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("updating access-token Secret %s: %w", key, err)
	}
	return nil
}

// AccessSecretState says whether the access-token Secret exists, and whether this connection
// controls it.
func AccessSecretState(ctx context.Context, r client.Reader, owner metav1.Object, name string) (exists, owned bool, err error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return false, false, nil
		}
		return false, false, err
	}
	owned = s.Type == TypeAccessToken && s.Labels[LabelManagedBy] == ManagedByValue && metav1.IsControlledBy(s, owner)
	return true, owned, nil
}

func sameData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if !bytes.Equal(a[k], v) {
			return false
		}
	}
	return true
}

// ReadAccessToken returns the access token in the workload-facing Secret and when it expires, or
// "" when the Secret is absent, not this connection's, or holds no token. The token goes only to
// finX; it never appears in an error.
func ReadAccessToken(ctx context.Context, r client.Reader, owner metav1.Object, name string) (string, time.Time, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", time.Time{}, nil
		}
		return "", time.Time{}, fmt.Errorf("reading access-token Secret %s/%s: %w", owner.GetNamespace(), name, err)
	}
	if s.Type != TypeAccessToken || s.Labels[LabelManagedBy] != ManagedByValue || !metav1.IsControlledBy(s, owner) {
		return "", time.Time{}, nil
	}
	exp, err := time.Parse(time.RFC3339, string(s.Data[KeyExpiresAt]))
	if err != nil {
		return "", time.Time{}, nil
	}
	return string(s.Data[KeyAccessToken]), exp, nil
}
