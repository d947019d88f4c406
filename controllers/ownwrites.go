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
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// cacheLagRetry is how soon a reconcile that found the cache behind its own last status write looks
// again. The cache is usually milliseconds behind.
const cacheLagRetry = 100 * time.Millisecond

// maxCacheLagRetry bounds the backoff of a reconcile that keeps finding the cache behind: a stalled
// watch (kube-apiserver restarting, say) would otherwise have every connection with a recent write
// looked at ten times a second until it resumes.
const maxCacheLagRetry = 2 * time.Second

// ownWrites remembers the resourceVersion of each connection's last status write until the cache
// shows it. The reconciler reads connections from the cache; one that still shows an older version
// describes a link or a schedule this process has already replaced, and acting on it would issue a
// second link or spend a token again. Such a reconcile waits for the cache instead.
type ownWrites struct {
	mu      sync.Mutex
	written map[types.NamespacedName]writtenVersion
}

type writtenVersion struct {
	uid types.UID
	rv  string
	// lagLooks counts the reconciles that found the cache behind this write.
	lagLooks int
}

// wrote records a status write that left obj at its current resourceVersion.
func (w *ownWrites) wrote(obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written == nil {
		w.written = map[types.NamespacedName]writtenVersion{}
	}
	w.written[client.ObjectKeyFromObject(obj)] = writtenVersion{uid: obj.GetUID(), rv: obj.GetResourceVersion()}
}

// unsure records a status write whose outcome is unknown (an error that does not prove it was not
// applied, such as a 500 or a dropped connection after the API server took it): the cache cannot be
// checked against a version this process never saw, so the next reconcile reads the API server.
func (w *ownWrites) unsure(obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written == nil {
		w.written = map[types.NamespacedName]writtenVersion{}
	}
	w.written[client.ObjectKeyFromObject(obj)] = writtenVersion{uid: obj.GetUID()}
}

// cacheState is what the cache's copy of a connection is, against this process's own last write.
type cacheState int

const (
	cacheCurrent cacheState = iota // it shows the last write, or something newer
	cacheBehind                    // it does not show the last write yet
	cacheUnknown                   // the versions cannot be compared: read the API server instead
)

// check compares a cached connection with the last write of it.
func (w *ownWrites) check(cached client.Object) cacheState {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := client.ObjectKeyFromObject(cached)
	last, ok := w.written[key]
	if !ok {
		return cacheCurrent
	}
	if last.uid != cached.GetUID() {
		delete(w.written, key) // another object of the same name: the write concerned the old one
		return cacheCurrent
	}
	if last.rv == "" {
		return cacheUnknown // a write whose outcome is unknown
	}
	// resourceVersions are comparable integers on Kubernetes 1.35 and later (and have always been
	// etcd revisions); if one is not, the reconciler falls back to an uncached read.
	cmp, err := resourceversion.CompareResourceVersion(cached.GetResourceVersion(), last.rv)
	switch {
	case err != nil:
		return cacheUnknown
	case cmp < 0:
		return cacheBehind
	}
	delete(w.written, key)
	return cacheCurrent
}

// lagRetry is how soon to look again at a connection whose cached copy is behind its last write:
// cacheLagRetry, doubled with each look that finds it still behind, up to maxCacheLagRetry.
func (w *ownWrites) lagRetry(key types.NamespacedName) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.written[key]
	if !ok {
		return cacheLagRetry
	}
	d := min(cacheLagRetry<<min(v.lagLooks, 5), maxCacheLagRetry)
	v.lagLooks++
	w.written[key] = v
	return d
}

// forget drops what is remembered of a connection that is gone.
func (w *ownWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.written, key)
}

// seenByCache is a predicate that triggers nothing: it lets the cache's own update events clear
// what it now shows, so that nothing is kept for connections that are not reconciled again soon.
func (w *ownWrites) seenByCache() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		DeleteFunc: func(e event.DeleteEvent) bool {
			w.forget(client.ObjectKeyFromObject(e.Object))
			return false
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			w.check(e.ObjectNew)
			return false
		},
	}
}
