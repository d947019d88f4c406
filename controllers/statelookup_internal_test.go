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
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

func cachedConnections(n int) []any {
	objs := make([]any, n)
	for i := range objs {
		c := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%d", i), Namespace: "team"}}
		c.Status.Link = &v1.LinkStatus{URL: "https://finx.example/w", StateHash: StateHash(fmt.Sprint("state", i))}
		if i%2 == 0 {
			c.Status.ConsentLink = &v1.LinkStatus{URL: "https://finx.example/c", StateHash: StateHash(fmt.Sprint("consent", i))}
		}
		objs[i] = c
	}
	return objs
}

// The hand-off must find exactly the connection whose link or consent link carries the hash, and
// must see an ambiguity (two connections with one hash) as such.
func TestStoreWithStateFindsLinkAndConsentLink(t *testing.T) {
	objs := cachedConnections(4)
	twin := objs[1].(*v1.BankConnection).DeepCopy() // the same link on two connections
	twin.Name = "twin"
	objs = append(objs, twin)
	if got := storeWithState(objs, StateHash("state2")); len(got) != 1 || got[0].Name != "c2" {
		t.Fatalf("link: got %v", got)
	}
	if got := storeWithState(objs, StateHash("consent2")); len(got) != 1 || got[0].Name != "c2" {
		t.Fatalf("consent link: got %v", got)
	}
	if got := storeWithState(objs, StateHash("state1")); len(got) != 2 {
		t.Fatalf("ambiguous hash: got %d connections, want 2", len(got))
	}
	if got := storeWithState(objs, StateHash("nobody")); len(got) != 0 {
		t.Fatalf("unknown hash: got %v", got)
	}
	got := storeWithState(objs, StateHash("state3"))
	got[0].Status.Link.URL = "changed"
	if objs[3].(*v1.BankConnection).Status.Link.URL == "changed" {
		t.Fatal("the returned connection shares its status with the cache")
	}
}

// BenchmarkConnectionsWithState measures a callback's lookup without an index. store: the scan of
// the informer's store (plus the store's List, a slice of its pointers, which the benchmark copies
// as the store does). list: the fallback for a cache limited to namespaces, an
// UnsafeDisableDeepCopy List, whose items are shallow copies.
func BenchmarkConnectionsWithState(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		objs := cachedConnections(n)
		want := StateHash(fmt.Sprint("state", n/2))
		b.Run(fmt.Sprintf("store/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := storeWithState(slices.Clone(objs), want); len(got) != 1 {
					b.Fatalf("found %d", len(got))
				}
			}
		})
		b.Run(fmt.Sprintf("list/%d", n), func(b *testing.B) {
			rt := make([]runtime.Object, n)
			for i, o := range objs {
				rt[i] = o.(runtime.Object)
			}
			b.ReportAllocs()
			for b.Loop() {
				list := &v1.BankConnectionList{}
				if err := meta.SetList(list, rt); err != nil {
					b.Fatal(err)
				}
				found := 0
				for i := range list.Items {
					found += len(withState(&list.Items[i], want))
				}
				if found != 1 {
					b.Fatalf("found %d", found)
				}
			}
		})
	}
}
