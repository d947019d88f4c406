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

// Package eventrec records events.k8s.io/v1 Events with memory that does not grow with the number
// of objects. client-go's events broadcaster keeps a full copy of every Event it sent for 6 to 12
// minutes, to merge repeats into a series: with thousands of connections each linking or refreshing
// in that window, those copies were the largest part of the manager's heap. This recorder keeps a
// bounded queue of Events still to write and, for series, a bounded table (1,024 entries) of where
// each recent Event is.
package eventrec

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// MaxNoteLength is the API server's limit on an Event's note, in bytes.
	MaxNoteLength = 1024
	// DefaultQueueLength bounds the Events waiting for each writer: about 2 MiB in all at most,
	// enough for a burst of thousands of new links while the writers catch up.
	DefaultQueueLength = 512
	// writers is how many Events are written at once: one writer, at a few milliseconds a request,
	// fell behind a burst of links and dropped Events. Repeats of an Event always go to the same
	// writer, so that they extend one series.
	writers = 4
	// seriesWindow is how long a repeat of an Event extends its series instead of creating a new
	// Event, as client-go does.
	seriesWindow = 6 * time.Minute
	// maxSeries bounds the series table (about 250 bytes an entry, measured: 1 MiB at 4,096). When
	// it is full of live series, a repeat creates a new Event: more Events, never more memory.
	maxSeries = 1024
	// flushTimeout bounds how long Start goes on writing the Events still queued once its context
	// ends. A Warning queued just before a restart (a lost rotation, a refused refresh) is what
	// someone looks for afterwards; the manager's graceful shutdown allows far more than this.
	flushTimeout = 5 * time.Second
)

// Recorder implements events.EventRecorder. Eventf never blocks: it queues the Event, and Start's
// worker writes it. When the queue is full the Event is dropped and Dropped is called.
type Recorder struct {
	client               client.Client
	scheme               *runtime.Scheme
	controller, instance string
	clock                clock.PassiveClock
	log                  logr.Logger
	queues               [writers]chan *eventsv1.Event
	dropped              func()

	mu     sync.Mutex
	series map[[sha256.Size]byte]*series
}

// series is what the table keeps of an Event already written: where it is, not what it says.
type series struct {
	namespace, name string
	count           int32
	last            time.Time
}

var _ events.EventRecorder = &Recorder{}

// Options configure a Recorder. Only Client and Scheme are required.
type Options struct {
	Client client.Client
	Scheme *runtime.Scheme
	// Controller is the reportingController; the reportingInstance is Controller-<hostname>.
	Controller string
	Clock      clock.PassiveClock
	Log        logr.Logger
	// QueueLength bounds the Events not yet written, per writer (DefaultQueueLength if zero).
	QueueLength int
	// Dropped is called for each Event dropped because the queue was full (optional).
	Dropped func()
}

// New returns a Recorder. Add it to the manager (it is a Runnable) so that its worker runs.
func New(o Options) *Recorder {
	host, _ := os.Hostname()
	n := o.QueueLength
	if n <= 0 {
		n = DefaultQueueLength
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	r := &Recorder{
		client: o.Client, scheme: o.Scheme, controller: o.Controller, instance: o.Controller + "-" + host,
		clock: clk, log: o.Log, dropped: o.Dropped,
		series: map[[sha256.Size]byte]*series{},
	}
	for i := range r.queues {
		r.queues[i] = make(chan *eventsv1.Event, n)
	}
	return r
}

// Eventf queues an Event about regarding. It returns at once.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		r.log.Error(nil, "unsupported event type, not recorded", "type", eventtype, "reason", reason)
		return
	}
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		r.log.Error(err, "no reference for the event's object, not recorded", "reason", reason)
		return
	}
	var rel *corev1.ObjectReference
	if related != nil {
		rel, _ = reference.GetReference(r.scheme, related)
	}
	now := r.clock.Now()
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()), Namespace: ns},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             rel,
		Note:                truncate(fmt.Sprintf(note, args...), MaxNoteLength),
		Type:                eventtype,
	}
	k := key(ev)
	select {
	case r.queues[int(k[0])%writers] <- ev:
	default:
		if r.dropped != nil {
			r.dropped()
		}
	}
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// NeedLeaderElection is false: every replica's reconciler and callback may record events.
func (r *Recorder) NeedLeaderElection() bool { return false }

// Start writes queued Events until ctx ends, and then, for at most flushTimeout, the Events still
// queued. Events queued after that are not written.
func (r *Recorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range r.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.writeQueued(ctx, q)
		}()
	}
	wg.Wait()
	return nil
}

func (r *Recorder) writeQueued(ctx context.Context, q <-chan *eventsv1.Event) {
	for {
		select {
		case <-ctx.Done():
			r.flush(ctx, q, nil)
			return
		case ev := <-q:
			err := r.write(ctx, ev)
			if err != nil && ctx.Err() != nil {
				// Cut off by the shutdown, or taken from the queue as it began: written again
				// with the rest. The Event keeps its name, so a create that did happen is not
				// repeated.
				r.flush(ctx, q, ev)
				return
			}
			if err != nil {
				r.log.V(1).Info("could not write an event", "reason", ev.Reason, "error", err.Error())
			}
		}
	}
}

// flush writes first (if any) and then the Events queued in q, until q is empty or flushTimeout
// has passed since ctx ended.
func (r *Recorder) flush(ctx context.Context, q <-chan *eventsv1.Event, first *eventsv1.Event) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	ev := first
	for fctx.Err() == nil {
		if ev == nil {
			select {
			case ev = <-q:
			default:
				return
			}
		}
		if err := r.write(fctx, ev); err != nil && !apierrors.IsAlreadyExists(err) {
			r.log.V(1).Info("could not write an event while stopping", "reason", ev.Reason, "error", err.Error())
		}
		ev = nil
	}
}

// key identifies Events that are repeats of each other: same object, type, reason, action and note.
func key(ev *eventsv1.Event) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{string(ev.Regarding.UID), ev.Regarding.Namespace, ev.Regarding.Name, ev.Type, ev.Reason, ev.Action, ev.Note} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// write creates ev, or extends the series of the Event it repeats.
func (r *Recorder) write(ctx context.Context, ev *eventsv1.Event) error {
	k, now := key(ev), ev.EventTime.Time
	r.mu.Lock()
	s := r.series[k]
	if s != nil && now.Sub(s.last) > seriesWindow {
		delete(r.series, k)
		s = nil
	}
	r.mu.Unlock()
	if s != nil {
		r.mu.Lock() // another writer may be pruning the table, which reads last
		s.count++
		s.last = now
		repeat := *s
		r.mu.Unlock()
		err := r.patchSeries(ctx, &repeat)
		if err == nil || !apierrors.IsNotFound(err) {
			return err
		}
		// The Event expired or was deleted: start again with a new one.
		r.mu.Lock()
		delete(r.series, k)
		r.mu.Unlock()
	}
	if err := r.client.Create(ctx, ev); err != nil {
		return err
	}
	r.remember(k, &series{namespace: ev.Namespace, name: ev.Name, count: 1, last: now})
	return nil
}

// patchSeries writes the series' count and last time onto its Event.
func (r *Recorder) patchSeries(ctx context.Context, s *series) error {
	base := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.name}}
	ev := base.DeepCopy()
	ev.Series = &eventsv1.EventSeries{Count: s.count, LastObservedTime: metav1.NewMicroTime(s.last)}
	return r.client.Patch(ctx, ev, client.MergeFrom(base))
}

// remember adds a series, making room by forgetting ended ones; when every entry is live, the new
// one is not kept.
func (r *Recorder) remember(k [sha256.Size]byte, s *series) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.series) >= maxSeries {
		for old, e := range r.series {
			if s.last.Sub(e.last) > seriesWindow {
				delete(r.series, old)
			}
		}
		if len(r.series) >= maxSeries {
			return
		}
	}
	r.series[k] = s
}
