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

package eventrec

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/finx-operator/finx-operator/internal/testenv"
)

func TestTruncateKeepsCharacters(t *testing.T) {
	s := strings.Repeat("a", 1023) + "é" // é is two bytes: the cut falls inside it
	got := truncate(s, MaxNoteLength)
	if len(got) != 1023 || got != strings.Repeat("a", 1023) {
		t.Fatalf("truncate cut to %d bytes, want 1023 whole characters", len(got))
	}
	if truncate("short", MaxNoteLength) != "short" {
		t.Fatal("a short note changed")
	}
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	var dropped atomic.Int32
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Scheme: sch, Controller: "test", QueueLength: 2, Dropped: func() { dropped.Add(1) }})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}}
	done := make(chan struct{})
	go func() {
		for range 5 {
			r.Eventf(pod, nil, corev1.EventTypeNormal, "Reason", "Action", "note %d", 1)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Eventf blocked with no worker running")
	}
	if got := dropped.Load(); got != 3 {
		t.Fatalf("dropped %d events, want 3 (queue of 2, 5 events)", got)
	}
}

// apiServer starts a control plane for the test and returns a client of it, or skips the test when
// there is none here (the package's unit tests still run).
func apiServer(t *testing.T) (client.Client, *runtime.Scheme) {
	t.Helper()
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	return c, sch
}

// TestWritesEventsAndSeries runs against a real API server: the fields an events.k8s.io/v1 Event
// needs are accepted, a repeat within the window extends the series of the first Event, and a
// repeat after it creates a new one.
func TestWritesEventsAndSeries(t *testing.T) {
	c, sch := apiServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "subject", Namespace: "default"}}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	r := New(Options{Client: c, Scheme: sch, Controller: "finx-operator", Clock: clk})
	go func() { _ = r.Start(ctx) }()

	long := strings.Repeat("x", 3000)
	r.Eventf(cm, nil, corev1.EventTypeWarning, "RefreshFailed", "Refresh", "failed: %s", long)
	clk.Step(time.Second)
	r.Eventf(cm, nil, corev1.EventTypeWarning, "RefreshFailed", "Refresh", "failed: %s", long)
	clk.Step(time.Second)
	r.Eventf(cm, nil, corev1.EventTypeWarning, "RefreshFailed", "Refresh", "failed: %s", long)
	list := func() []eventsv1.Event {
		l := &eventsv1.EventList{}
		if err := c.List(ctx, l, client.InNamespace("default")); err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	var got []eventsv1.Event
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = list(); len(got) == 1 && got[0].Series != nil && got[0].Series.Count == 3 {
			break
		}
	}
	if len(got) != 1 || got[0].Series == nil || got[0].Series.Count != 3 {
		t.Fatalf("want one Event with a series of 3, got %+v", got)
	}
	e := got[0]
	if e.Regarding.UID != cm.UID || e.Regarding.Kind != "ConfigMap" || e.ReportingController != "finx-operator" ||
		!strings.HasPrefix(e.ReportingInstance, "finx-operator-") || e.Action != "Refresh" || e.Type != corev1.EventTypeWarning ||
		len(e.Note) != MaxNoteLength {
		t.Fatalf("event fields: %+v", e)
	}

	clk.Step(seriesWindow + time.Second)
	r.Eventf(cm, nil, corev1.EventTypeWarning, "RefreshFailed", "Refresh", "failed: %s", long)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && len(got) < 2; time.Sleep(100 * time.Millisecond) {
		got = list()
	}
	if len(got) != 2 {
		t.Fatalf("a repeat after the series window: want a second Event, have %d", len(got))
	}
}

// TestStartWritesWhatIsQueuedWhenItStops runs against a real API server: Events queued when the
// manager stops (a Warning about a lost rotation just before a rolling update) are still written.
func TestStartWritesWhatIsQueuedWhenItStops(t *testing.T) {
	c, sch := apiServer(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stopping", Namespace: "default"}}
	if err := c.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Client: c, Scheme: sch, Controller: "finx-operator"})
	const queued = 12
	for i := range queued {
		r.Eventf(cm, nil, corev1.EventTypeWarning, "RotationLost", "Refresh", "event %d", i)
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel() // the manager is already stopping when the writers get to the queue
	done := make(chan struct{})
	go func() {
		_ = r.Start(stopped)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(flushTimeout + 10*time.Second):
		t.Fatal("Start did not return after its context ended")
	}
	l := &eventsv1.EventList{}
	if err := c.List(context.Background(), l, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	notes := map[string]bool{}
	for _, e := range l.Items {
		if e.Regarding.UID == cm.UID {
			notes[e.Note] = true
		}
	}
	if len(notes) != queued {
		t.Fatalf("%d of the %d queued Events were written when the recorder stopped", len(notes), queued)
	}
}
