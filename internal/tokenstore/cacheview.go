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
	"crypto/sha256"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/finx-operator/finx-operator/internal/intern"
)

// Keys that exist only in a cache view's data, never in a stored Secret: the view keeps in its one
// data map what the watches read of the Secret's data and annotations, so that it needs no
// annotation or label map of its own (each map costs about 300 bytes, per Secret, per connection).
const (
	keyCachedRefreshDigest  = "cached-refresh-token-sha256"
	keyCachedJournaled      = "cached-in-flight"
	keyCachedConsumedStates = "cached-consumed-states"
)

// ForCache reduces a Secret, as it enters the manager's cache, to what the watches read, and nothing
// else: the owner references (an owned Secret's event maps to its owner), and in its data map only
// what the predicates and the hand-off's replay check compare (ChainTouched, CallbackChanged,
// CachedConsumedStates): a digest of the refresh token, whether a spend is journaled, the callback's
// state hash and result, and the consumed states. A Secret with no controller (retained by a
// deleted connection) keeps its labels and its retained-for annotation: its connection label maps
// it to its connection. No token, code or other data stays in memory for the life of the process;
// every read that needs data goes to the API server. The strings every Secret repeats (namespace,
// label keys, the owner's kind) are shared.
//
// A cache view must never be written back: it has no data.
func ForCache(s *corev1.Secret) *corev1.Secret {
	var data map[string][]byte // nil for most: an access-token Secret, a private one with no token yet
	add := func(k string, v []byte) {
		if data == nil {
			data = map[string][]byte{}
		}
		data[k] = v
	}
	if d := refreshDigest(s); d != "" {
		add(keyCachedRefreshDigest, []byte(d))
	}
	if _, ok := s.Annotations[AnnotationInFlight]; ok {
		add(keyCachedJournaled, nil)
	}
	if v := s.Annotations[AnnotationConsumedStates]; v != "" {
		add(keyCachedConsumedStates, []byte(v))
	}
	for _, k := range []string{keyCallbackStateHash, keyCallbackResult} {
		if v, ok := s.Data[k]; ok {
			add(k, v)
		}
	}
	m := s.ObjectMeta
	v := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: intern.String(s.APIVersion), Kind: intern.String(s.Kind)},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: intern.String(m.Namespace), UID: m.UID, ResourceVersion: m.ResourceVersion,
			Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
			DeletionGracePeriodSeconds: m.DeletionGracePeriodSeconds, Finalizers: m.Finalizers,
		},
		Type: corev1.SecretType(intern.String(string(s.Type))),
		Data: data,
	}
	if metav1.GetControllerOf(s) == nil {
		v.Labels = intern.Keys(m.Labels, LabelManagedBy, LabelRole)
		if r := m.Annotations[AnnotationRetainedFor]; r != "" {
			v.Annotations = map[string]string{AnnotationRetainedFor: r}
		}
	}
	if len(m.OwnerReferences) > 0 {
		v.OwnerReferences = make([]metav1.OwnerReference, len(m.OwnerReferences))
		for i, o := range m.OwnerReferences {
			o.APIVersion, o.Kind = intern.String(o.APIVersion), intern.String(o.Kind)
			v.OwnerReferences[i] = o
		}
	}
	return v
}

// journaled reports whether a spend is journaled on a private Secret or its cache view: its
// outcome is unknown until the commit clears the journal.
func journaled(s *corev1.Secret) bool {
	if _, ok := s.Annotations[AnnotationInFlight]; ok {
		return true
	}
	_, ok := s.Data[keyCachedJournaled]
	return ok
}

// CachedConsumedStates returns the hashes of the states the callback already accepted, as a cache
// view of a private Secret keeps them.
func CachedConsumedStates(v *corev1.Secret) []string {
	if b := v.Data[keyCachedConsumedStates]; len(b) > 0 {
		return strings.Split(string(b), ",")
	}
	return nil
}

// refreshDigest identifies the refresh token of a Secret or of its cache view ("" when there is
// none), so the predicates compare the two forms alike. A SHA-256 of a random token cannot be
// spent and gives nothing to guess it from.
func refreshDigest(s *corev1.Secret) string {
	if rt, ok := s.Data[KeyRefreshToken]; ok {
		if len(rt) == 0 {
			return ""
		}
		sum := sha256.Sum256(rt)
		return string(sum[:])
	}
	return string(s.Data[keyCachedRefreshDigest])
}
