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
	"slices"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// keyCachedRefreshDigest stands in for the refresh token in a cache view. It is not a key of any
// stored Secret.
const keyCachedRefreshDigest = "cached-refresh-token-sha256"

// ForCache reduces a Secret, as it enters the manager's cache, to what the watches read: its
// metadata (labels, annotations and owner references map a change to its connection and index the
// consumed states) and, of its data, only what the predicates compare (ChainTouched,
// CallbackChanged): a digest of the refresh token and the callback's state hash and result. No
// token, code or other data stays in memory for the life of the process; every read that needs data
// goes to the API server. It returns a new, smaller object: managedFields are dropped, and the
// strings every Secret repeats (namespace, label and annotation keys, the owner's kind) are shared.
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
	for _, k := range []string{keyCallbackStateHash, keyCallbackResult} {
		if v, ok := s.Data[k]; ok {
			add(k, v)
		}
	}
	m := s.ObjectMeta
	v := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: intern(s.APIVersion), Kind: intern(s.Kind)},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: intern(m.Namespace), UID: m.UID, ResourceVersion: m.ResourceVersion,
			Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
			DeletionGracePeriodSeconds: m.DeletionGracePeriodSeconds, Finalizers: m.Finalizers,
			Labels: internKeys(m.Labels, LabelManagedBy, LabelRole), Annotations: internKeys(m.Annotations),
		},
		Type: corev1.SecretType(intern(string(s.Type))),
		Data: data,
	}
	if len(m.OwnerReferences) > 0 {
		v.OwnerReferences = make([]metav1.OwnerReference, len(m.OwnerReferences))
		for i, o := range m.OwnerReferences {
			o.APIVersion, o.Kind = intern(o.APIVersion), intern(o.Kind)
			v.OwnerReferences[i] = o
		}
	}
	return v
}

// intern returns the one shared copy of a string that many cached objects repeat.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// internKeys copies m with shared keys, and shared values for the keys whose values repeat.
func internKeys(m map[string]string, repeating ...string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if slices.Contains(repeating, k) {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
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
