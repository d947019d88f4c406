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
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func copyAt(uid types.UID, rv string) client.Object {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: uid, ResourceVersion: rv}}
}

// The envtest specs in linkpath_test.go show what the reconciler does with a lagging cache; these
// cover the comparisons a real API server does not produce on demand.
func TestOwnWritesTellsALaggingCacheFromACurrentOne(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cached client.Object
		want   cacheState
		after  cacheState // a second check of the same copy
	}{
		{"behind", copyAt("u1", "99"), cacheBehind, cacheBehind},
		{"shows the write", copyAt("u1", "100"), cacheCurrent, cacheCurrent},
		{"newer than the write", copyAt("u1", "1000"), cacheCurrent, cacheCurrent},
		{"another object of the name", copyAt("u2", "5"), cacheCurrent, cacheCurrent},
		{"versions that are not integers", copyAt("u1", "x7"), cacheUnknown, cacheUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w ownWrites
			w.wrote(copyAt("u1", "100"))
			if got := w.check(tc.cached); got != tc.want {
				t.Fatalf("check = %v, want %v", got, tc.want)
			}
			if got := w.check(tc.cached); got != tc.after {
				t.Fatalf("second check = %v, want %v", got, tc.after)
			}
		})
	}
}

func TestOwnWritesForgetsWhatTheCacheShowedOrLost(t *testing.T) {
	var w ownWrites
	w.wrote(copyAt("u1", "100"))
	seen := w.seenByCache()
	if seen.Update(event.UpdateEvent{ObjectOld: copyAt("u1", "99"), ObjectNew: copyAt("u1", "100")}) {
		t.Fatal("the predicate triggers a reconcile")
	}
	if len(w.written) != 0 {
		t.Fatalf("kept %v after the cache showed it", w.written)
	}
	w.wrote(copyAt("u1", "101"))
	if seen.Delete(event.DeleteEvent{Object: copyAt("u1", "101")}) {
		t.Fatal("the predicate triggers a reconcile")
	}
	if len(w.written) != 0 {
		t.Fatalf("kept %v after a deletion", w.written)
	}
}

// A cache that stays behind (a stalled watch) is looked at less and less often, not ten times a
// second for as long as the stall lasts; a new write starts again from cacheLagRetry.
func TestOwnWritesBacksOffWhileTheCacheStaysBehind(t *testing.T) {
	var w ownWrites
	key := types.NamespacedName{Namespace: "ns", Name: "c"}
	w.wrote(copyAt("u1", "100"))
	var got []time.Duration
	for range 8 {
		if s := w.check(copyAt("u1", "99")); s != cacheBehind {
			t.Fatalf("check = %v, want cacheBehind", s)
		}
		got = append(got, w.lagRetry(key))
	}
	want := []time.Duration{cacheLagRetry, 2 * cacheLagRetry, 4 * cacheLagRetry, 8 * cacheLagRetry, 16 * cacheLagRetry,
		maxCacheLagRetry, maxCacheLagRetry, maxCacheLagRetry}
	if !slices.Equal(got, want) {
		t.Fatalf("retries = %v, want %v", got, want)
	}
	w.wrote(copyAt("u1", "101"))
	if d := w.lagRetry(key); d != cacheLagRetry {
		t.Fatalf("after a new write the first retry is %v, want %v", d, cacheLagRetry)
	}
}
