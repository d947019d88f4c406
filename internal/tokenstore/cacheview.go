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

	corev1 "k8s.io/api/core/v1"
)

// keyCachedRefreshDigest stands in for the refresh token in a cache view. It is not a key of any
// stored Secret.
const keyCachedRefreshDigest = "cached-refresh-token-sha256"

// ForCache reduces a Secret, as it enters the manager's cache, to what the watch predicates compare
// (ChainTouched, CallbackChanged): a digest of the refresh token and the callback's state hash and
// result. No token, code or other data stays in memory for the life of the process; every read that
// needs data goes to the API server. Metadata (labels, annotations, owner references) is kept: the
// predicates, the event mapping and the consumed-state index read it.
//
// A cache view must never be written back: it has no data.
func ForCache(s *corev1.Secret) {
	view := map[string][]byte{}
	if d := refreshDigest(s); d != "" {
		view[keyCachedRefreshDigest] = []byte(d)
	}
	for _, k := range []string{keyCallbackStateHash, keyCallbackResult} {
		if v, ok := s.Data[k]; ok {
			view[k] = v
		}
	}
	s.Data, s.StringData = view, nil
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
