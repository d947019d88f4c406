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
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// tracker follows the BankConnections of one namespace with one LIST and one WATCH, so that
// waiting for thousands of links costs the API server a single stream rather than polling GETs
// that would be counted with the controller's requests. It records when it first saw each
// connection with a link. Matching is done per event against the registered waiters, which keeps
// it cheap at 10,000 connections.
type tracker struct {
	mu       sync.Mutex
	objs     map[string]*v1.BankConnection
	linkedAt map[string]time.Time
	waiters  []*connWaiter
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
}

type connWaiter struct {
	pred      func(*v1.BankConnection) bool
	remaining map[string]bool
	// matchedAt is when the tracker first saw each connection match.
	matchedAt map[string]time.Time
	done      chan struct{}
}

func startTracker(ctx context.Context, wc client.WithWatch, ns string) (*tracker, error) {
	list := &v1.BankConnectionList{}
	if err := wc.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing BankConnections in %s: %w", ns, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &tracker{objs: map[string]*v1.BankConnection{}, linkedAt: map[string]time.Time{}, cancel: cancel, done: make(chan struct{})}
	for i := range list.Items {
		t.update(&list.Items[i])
	}
	go t.run(ctx, wc, ns, list.ResourceVersion)
	return t, nil
}

func (t *tracker) stop() {
	t.cancel()
	<-t.done
}

// run watches from rv on; when a watch ends it resumes from the last resourceVersion seen, and
// lists again only if that is too old (410 Gone).
func (t *tracker) run(ctx context.Context, wc client.WithWatch, ns, rv string) {
	defer close(t.done)
	for ctx.Err() == nil {
		if rv == "" {
			list := &v1.BankConnectionList{}
			if err := wc.List(ctx, list, client.InNamespace(ns)); err != nil {
				t.fail(err)
				time.Sleep(time.Second)
				continue
			}
			for i := range list.Items {
				t.update(&list.Items[i])
			}
			rv = list.ResourceVersion
		}
		w, err := wc.Watch(ctx, &v1.BankConnectionList{}, client.InNamespace(ns),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err != nil {
			t.fail(err)
			rv = ""
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				rv = "" // expired: list again
				break
			}
			c, ok := ev.Object.(*v1.BankConnection)
			if !ok {
				continue
			}
			rv = c.ResourceVersion
			switch ev.Type {
			case watch.Added, watch.Modified:
				t.update(c)
			case watch.Deleted:
				t.mu.Lock()
				delete(t.objs, c.Name)
				t.mu.Unlock()
			}
		}
		w.Stop()
	}
}

func (t *tracker) fail(err error) {
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
}

func (t *tracker) update(c *v1.BankConnection) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.objs[c.Name] = c
	if hasLink(c) {
		if _, seen := t.linkedAt[c.Name]; !seen {
			t.linkedAt[c.Name] = now
		}
	}
	t.waiters = slices.DeleteFunc(t.waiters, func(w *connWaiter) bool {
		if w.remaining[c.Name] && w.pred(c) {
			delete(w.remaining, c.Name)
			w.matchedAt[c.Name] = now
		}
		if len(w.remaining) == 0 {
			close(w.done)
			return true
		}
		return false
	})
}

// expect registers a wait for pred to hold for every one of names. Register before causing the
// change, so that no event is missed.
func (t *tracker) expect(names []string, pred func(*v1.BankConnection) bool) *connWaiter {
	w := &connWaiter{pred: pred, remaining: make(map[string]bool, len(names)), matchedAt: map[string]time.Time{}, done: make(chan struct{})}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range names {
		if c, ok := t.objs[n]; !ok || !pred(c) {
			w.remaining[n] = true
		} else {
			w.matchedAt[n] = now
		}
	}
	if len(w.remaining) == 0 {
		close(w.done)
	} else {
		t.waiters = append(t.waiters, w)
	}
	return w
}

// wait returns nil once every connection matched, or an error naming how many did not (and a
// few of them) after timeout.
func (t *tracker) wait(ctx context.Context, w *connWaiter, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var some []string
	for n := range w.remaining {
		if len(some) == 3 {
			break
		}
		some = append(some, n)
	}
	return fmt.Errorf("%d connections did not get there within %s (for example %v; tracker error: %v)",
		len(w.remaining), timeout, some, t.err)
}

func (t *tracker) get(name string) *v1.BankConnection {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.objs[name]
}

// matched returns when each connection was first seen to match w (after w.done).
func (t *tracker) matched(w *connWaiter) map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(w.matchedAt)
}

func (t *tracker) firstLinked(name string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.linkedAt[name]
}
