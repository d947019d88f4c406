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

package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/controllers"
)

// watcher is the benchmarks' own view of one namespace: an informer cache of its BankConnections
// and operator-managed Secrets, separate from the manager's. Waits are driven by watch events rather
// than polling, so a measured time is when the API server told a watcher about the change (polling
// would add its interval to every figure and load the API server the operator shares with it).
type watcher struct {
	cache cache.Cache
	stop  func()

	mu      sync.Mutex
	pending map[watchKey][]*expectation
}

type kind int

const (
	kindConnection kind = iota
	kindSecret
)

type watchKey struct {
	kind kind
	key  client.ObjectKey
}

// expectation resolves the first time a version of one object satisfies pred.
type expectation struct {
	pred func(client.Object) bool
	done chan struct{}
	at   time.Time     // set before done is closed
	obj  client.Object // a copy of the version that satisfied pred
}

var errTimeout = errors.New("timed out")

// startWatcher starts a watcher on ns and waits for its cache to sync. Stop it before measuring
// memory: it holds copies of everything it watches.
func startWatcher(ctx context.Context, e *benchEnv, ns string) (*watcher, error) {
	opts := controllers.CacheOptions(nil) // the same Secret label selector as the manager
	// but with the tokens, which the benchmarks watch change and the manager's cache leaves out.
	for obj, by := range opts.ByObject {
		if _, ok := obj.(*corev1.Secret); ok {
			by.Transform = nil
			opts.ByObject[obj] = by
		}
	}
	opts.Scheme = e.scheme
	opts.DefaultNamespaces = map[string]cache.Config{ns: {}}
	c, err := cache.New(e.cfg, opts)
	if err != nil {
		return nil, err
	}
	w := &watcher{cache: c, pending: map[watchKey][]*expectation{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Start(ctx)
	}()
	w.stop = func() { cancel(); <-done }
	for k, obj := range map[kind]client.Object{kindConnection: &v1.BankConnection{}, kindSecret: &corev1.Secret{}} {
		inf, err := c.GetInformer(ctx, obj)
		if err == nil {
			_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				AddFunc:    func(o any) { w.observe(k, o) },
				UpdateFunc: func(_, o any) { w.observe(k, o) },
			})
		}
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("watching %T in %s: %w", obj, ns, err)
		}
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, waitTimeout)
	defer syncCancel()
	if !c.WaitForCacheSync(syncCtx) {
		w.stop()
		return nil, fmt.Errorf("the watcher on %s did not sync within %s", ns, waitTimeout)
	}
	return w, nil
}

func newObject(k kind) client.Object {
	if k == kindSecret {
		return &corev1.Secret{}
	}
	return &v1.BankConnection{}
}

// observe runs on the informer's goroutine for every added or updated object; o is the informer's
// own copy, only read here.
func (w *watcher) observe(k kind, o any) {
	obj, ok := o.(client.Object)
	if !ok {
		return
	}
	now := time.Now()
	wk := watchKey{k, client.ObjectKeyFromObject(obj)}
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.pending[wk]
	if len(list) == 0 {
		return
	}
	kept := list[:0]
	for _, x := range list {
		if x.pred(obj) {
			x.resolve(now, obj)
		} else {
			kept = append(kept, x)
		}
	}
	if len(kept) == 0 {
		delete(w.pending, wk)
	} else {
		w.pending[wk] = kept
	}
}

func (x *expectation) resolve(at time.Time, obj client.Object) {
	x.at = at
	x.obj = obj.DeepCopyObject().(client.Object)
	close(x.done)
}

// expect registers pred for the object; register before the action whose effect it waits for. If
// the watcher's current copy already satisfies pred, the expectation resolves at once.
func (w *watcher) expect(k kind, key client.ObjectKey, pred func(client.Object) bool) *expectation {
	x := &expectation{pred: pred, done: make(chan struct{})}
	cur := newObject(k)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.cache.Get(context.Background(), key, cur); err == nil && pred(cur) {
		x.resolve(time.Now(), cur)
		return x
	}
	wk := watchKey{k, key}
	w.pending[wk] = append(w.pending[wk], x)
	return x
}

// get reads the watcher's copy of an object.
func (w *watcher) get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	return w.cache.Get(ctx, key, obj)
}

// wait returns when the expectation resolved and the copy that satisfied it.
func (x *expectation) wait(ctx context.Context) (time.Time, client.Object, error) {
	t := time.NewTimer(waitTimeout)
	defer t.Stop()
	select {
	case <-x.done:
		return x.at, x.obj, nil
	case <-t.C:
		return time.Time{}, nil, fmt.Errorf("%w after %s", errTimeout, waitTimeout)
	case <-ctx.Done():
		return time.Time{}, nil, ctx.Err()
	}
}
