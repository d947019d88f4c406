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
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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
	return ForCache(s.DeepCopy())
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
	access := ForCache(&corev1.Secret{Data: map[string][]byte{KeyAccessToken: []byte("at-secret")}})
	if len(access.Data) != 0 {
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

// A cached Secret is a large part of the manager's memory per connection (issue 10): its view keeps
// what the watch needs, with the strings every Secret repeats (namespace, label and annotation
// keys, the owner's kind) shared rather than decoded anew for each.
func TestCacheViewIsSmall(t *testing.T) {
	const n = 4000
	raw := make([][]byte, n)
	for i := range raw {
		conn := fmt.Sprintf("connection-%05d", i)
		s := private("rt-secret", map[string]string{
			AnnotationConsumedStates: strings.Repeat("3f7a6c9d", 8), AnnotationProtocol: "2",
		})
		s.ObjectMeta = metav1.ObjectMeta{
			Name: conn + "-finx-refresh", Namespace: "tenant-namespace", UID: "0f8fad5b-d9cb-469f-a165-70867728950e",
			ResourceVersion: "12345678", CreationTimestamp: metav1.Now(), Labels: managedLabels(conn, RoleRefreshToken),
			Annotations: s.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "banking.finx-operator.io/v1alpha1", Kind: "BankConnection",
				Name: conn, UID: "1f8fad5b-d9cb-469f-a165-70867728950e", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false)}},
		}
		s.Type = TypeRefreshToken
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = b
	}
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	views := make([]*corev1.Secret, n)
	before := heap()
	for i := range views {
		s := &corev1.Secret{} // decoded as the informer does, then reduced
		if err := s.Unmarshal(raw[i]); err != nil {
			t.Fatal(err)
		}
		views[i] = ForCache(s)
	}
	per := (heap() - before) / n
	runtime.KeepAlive(views)
	runtime.KeepAlive(raw)
	t.Logf("%d bytes per cached private Secret", per)
	// 2,143 bytes when the view was the decoded Secret with its data reduced; 1,776 with its own
	// label and annotation maps.
	if per > 1200 {
		t.Errorf("%d bytes per cached private Secret, want at most 1,200", per)
	}
}

// An owned Secret's view has no label or annotation map: its owner reference maps its events, and
// what the predicates and the replay check read of its annotations is in the view's data. A
// retained Secret (no controller) keeps its labels and retained-for annotation: its connection label
// maps it to its connection.
func TestCacheViewMetadata(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "banking.finx-operator.io/v1alpha1", Kind: "BankConnection", Name: "c", UID: "u", Controller: ptr.To(true)}
	s := private("rt-1", map[string]string{AnnotationConsumedStates: "h1,h2", AnnotationProtocol: "2", AnnotationInFlight: "refresh@x"})
	s.Labels = managedLabels("c", RoleRefreshToken)
	s.OwnerReferences = []metav1.OwnerReference{owner}
	v := view(s)
	if v.Labels != nil || v.Annotations != nil {
		t.Errorf("an owned Secret's view keeps labels %v and annotations %v", v.Labels, v.Annotations)
	}
	if got := CachedConsumedStates(v); !slices.Equal(got, []string{"h1", "h2"}) {
		t.Errorf("consumed states in the view: %v", got)
	}
	if !journaled(v) || journaled(view(private("rt-1", nil))) {
		t.Error("the view does not tell a journaled spend from none")
	}
	if CachedConsumedStates(view(private("rt-1", nil))) != nil {
		t.Error("consumed states in the view of a Secret without any")
	}
	access := view(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: managedLabels("c", RoleAccessToken),
		OwnerReferences: []metav1.OwnerReference{owner}}, Data: map[string][]byte{KeyAccessToken: []byte("at")}})
	if access.Labels != nil || access.Annotations != nil || access.Data != nil || len(access.OwnerReferences) != 1 {
		t.Errorf("an access-token Secret's view keeps more than its owner: %+v", access.ObjectMeta)
	}

	retained := private("rt-1", map[string]string{AnnotationRetainedFor: "old-uid", AnnotationRetainedClient: "x"})
	retained.Labels = managedLabels("c", RoleRefreshToken)
	rv := view(retained)
	if rv.Labels[LabelConnection] != "c" || rv.Annotations[AnnotationRetainedFor] != "old-uid" || len(rv.Annotations) != 1 {
		t.Errorf("a retained Secret's view: labels %v, annotations %v", rv.Labels, rv.Annotations)
	}
}
