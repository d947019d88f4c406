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
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func private(refresh string, annotations map[string]string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
		Data: map[string][]byte{
			KeyRefreshToken:      []byte(refresh),
			keyCallbackCode:      []byte("the-code"),
			keyCallbackStateHash: []byte("hash-1"),
			keyCallbackResult:    []byte(CallbackSuccess),
		},
	}
}

func view(s *corev1.Secret) *corev1.Secret {
	v := s.DeepCopy()
	ForCache(v)
	return v
}

func TestForCacheKeepsNoSecretData(t *testing.T) {
	v := view(private("rt-secret", nil))
	for k, b := range v.Data {
		if string(b) == "rt-secret" || string(b) == "the-code" {
			t.Errorf("the cache view keeps %q in %s", b, k)
		}
	}
	if _, ok := v.Data[KeyRefreshToken]; ok {
		t.Error("the cache view has a refresh_token key")
	}
	if string(v.Data[keyCallbackStateHash]) != "hash-1" || string(v.Data[keyCallbackResult]) != string(CallbackSuccess) {
		t.Errorf("the callback's state hash and result are gone: %v", v.Data)
	}
	access := &corev1.Secret{Data: map[string][]byte{KeyAccessToken: []byte("at-secret")}}
	if ForCache(access); len(access.Data) != 0 {
		t.Errorf("an access-token Secret's view has data: %v", access.Data)
	}
}

// The predicates judge cache views as they judge the Secrets themselves.
func TestPredicatesOnCacheViews(t *testing.T) {
	journaled := map[string]string{AnnotationInFlight: "refresh@x@y@z"}
	withCallback := private("rt-1", nil)
	withCallback.Data[keyCallbackStateHash] = []byte("hash-2")
	for _, c := range []struct {
		name               string
		old, cur           *corev1.Secret
		touched, callbacks bool
	}{
		{"unchanged", private("rt-1", nil), private("rt-1", nil), false, false},
		{"restored without a journal", private("rt-1", nil), private("rt-0", nil), true, false},
		{"rotated under a journal", private("rt-1", journaled), private("rt-2", nil), false, false},
		{"emptied", private("rt-1", journaled), private("", nil), true, false},
		{"a new callback", private("rt-1", nil), withCallback, false, true},
	} {
		for form, conv := range map[string]func(*corev1.Secret) *corev1.Secret{
			"Secret": func(s *corev1.Secret) *corev1.Secret { return s }, "cache view": view,
		} {
			old, cur := conv(c.old), conv(c.cur)
			if got := ChainTouched(old, cur); got != c.touched {
				t.Errorf("%s, %s: ChainTouched = %v, want %v", c.name, form, got, c.touched)
			}
			if got := CallbackChanged(old, cur); got != c.callbacks {
				t.Errorf("%s, %s: CallbackChanged = %v, want %v", c.name, form, got, c.callbacks)
			}
		}
	}
}
