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

// AccessSecret is a read of the access-token Secret's name from the API server: the cache knows only
// the operator's own Secrets, so a foreign Secret holding the name would look absent there.
type AccessSecret struct {
	key    types.NamespacedName
	secret *corev1.Secret // nil: no Secret of that name
}

// ReadAccess reads the Secret named name in owner's namespace.
func ReadAccess(ctx context.Context, r client.Reader, owner metav1.Object, name string) (*AccessSecret, error) {
	a := &AccessSecret{key: types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}}
	s := &corev1.Secret{}
	if err := r.Get(ctx, a.key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return a, nil
		}
		return nil, fmt.Errorf("reading access-token Secret %s: %w", a.key, err)
	}
	a.secret = s
	return a, nil
}

// State says whether the Secret exists, and whether owner controls it.
func (a *AccessSecret) State(owner metav1.Object) (exists, owned bool) {
	s := a.secret
	if s == nil {
		return false, false
	}
	return true, s.Type == TypeAccessToken && s.Labels[LabelManagedBy] == ManagedByValue && metav1.IsControlledBy(s, owner)
}

// WriteAccessToken creates or updates the workload-facing Secret with the access token, starting
// from read (a read of this reconcile; nil reads it now). It writes only when the content changed,
// so idle reconciles cost no API writes. A write that meets a Secret changed, created or deleted
// since the read reads it once more. read is brought up to what was written.
func WriteAccessToken(ctx context.Context, c client.Client, r client.Reader, owner client.Object, name string, t Tokens, read *AccessSecret) error {
	want := map[string][]byte{
		KeyAccessToken: []byte(t.AccessToken),
		KeyTokenType:   []byte(t.TokenType),
		KeyExpiresAt:   []byte(t.AccessExpiresAt.UTC().Format(time.RFC3339)),
	}
	a := read
	for attempt := 0; ; attempt++ {
		if a == nil || a.key.Name != name {
			var err error
			if a, err = ReadAccess(ctx, r, owner, name); err != nil {
				return err
			}
		}
		err := a.write(ctx, c, owner, want)
		// Changed, created or deleted since the read (a deletion while the refresh was at finX is
		// refilled from this refresh, not from another one).
		if attempt == 0 && (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err)) {
			a = nil
			continue
		}
		if err == nil && read != nil && read != a {
			*read = *a
		}
		return err
	}
}

func (a *AccessSecret) write(ctx context.Context, c client.Client, owner client.Object, want map[string][]byte) error {
	if a.secret == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: a.key.Namespace, Name: a.key.Name, Labels: managedLabels(owner.GetName(), RoleAccessToken)},
			Type:       TypeAccessToken,
			Data:       want,
		}
		if err := controllerutil.SetControllerReference(owner, s, c.Scheme(), controllerutil.WithBlockOwnerDeletion(false)); err != nil {
			return err
		}
		if err := c.Create(ctx, s); err != nil {
			return fmt.Errorf("creating access-token Secret %s: %w", a.key, err)
		}
		a.secret = s
		return nil
	}
	if _, owned := a.State(owner); !owned {
		return &NotOwnedError{Name: a.key.String()}
	}
	if sameData(a.secret.Data, want) {
		return nil
	}
	s := a.secret.DeepCopy()
	s.Data = want
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("updating access-token Secret %s: %w", a.key, err)
	}
	a.secret = s
	return nil
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
