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

package apifault

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Request is one request a Recording saw, with the status of its answer (0 if none came).
type Request struct {
	Method, Path string
	Watch        bool
	Status       int
	// ResponseType is the response's Content-Type: what the API server sent back, whole objects
	// or their metadata only.
	ResponseType string
	// ResourceVersion is the request's resourceVersion parameter: "0" lets kube-apiserver answer
	// from its watch cache, "" asks etcd.
	ResourceVersion string
}

// Recording lists the requests that match its rule while it runs, so a test can say exactly which
// API requests an operation cost.
type Recording struct {
	match Rule
	mu    sync.Mutex
	reqs  []Request
}

// Record starts a recording of the requests matching m's Method and PathContains (bodies are not
// looked at); stop ends it. Recording changes nothing about the requests.
func (in *Injector) Record(m Rule) (r *Recording, stop func()) {
	r = &Recording{match: Rule{Method: m.Method, PathContains: m.PathContains}}
	in.mu.Lock()
	in.recordings = append(in.recordings, r)
	in.mu.Unlock()
	return r, func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		for i, x := range in.recordings {
			if x == r {
				in.recordings = append(in.recordings[:i], in.recordings[i+1:]...)
				return
			}
		}
	}
}

// Requests returns what was recorded so far.
func (r *Recording) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

func (in *Injector) record(req *http.Request, resp *http.Response) {
	in.mu.Lock()
	recs := append([]*Recording(nil), in.recordings...)
	in.mu.Unlock()
	for _, r := range recs {
		if !(&rule{Rule: r.match}).matches(req, nil) {
			continue
		}
		x := Request{Method: req.Method, Path: req.URL.Path, Watch: isWatch(req), ResourceVersion: req.URL.Query().Get("resourceVersion")}
		if resp != nil {
			x.Status, x.ResponseType = resp.StatusCode, resp.Header.Get("Content-Type")
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, x)
		r.mu.Unlock()
	}
}

func isWatch(req *http.Request) bool { return req.URL.Query().Get("watch") == "true" }

// eventDelay is the delay the DelayEvents rules in force give a watch request's events now.
func (in *Injector) eventDelay(req *http.Request) time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	var d time.Duration
	for _, r := range in.rules {
		if r.Action == DelayEvents && r.matches(req, nil) {
			d = max(d, r.Latency)
		}
	}
	return d
}

// delayed passes a watch stream through, each chunk no earlier than its arrival plus the delay in
// force when it arrived. Arrival times, not a sleep per read, so that the lag stays the rule's
// Latency instead of adding up over a burst of events.
func (in *Injector) delayed(req *http.Request, body io.ReadCloser) io.ReadCloser {
	d := &delayedStream{body: body, chunks: make(chan chunk, 64), done: make(chan struct{})}
	go d.pump(func() time.Duration { return in.eventDelay(req) })
	return d
}

type chunk struct {
	data []byte
	due  time.Time
	err  error
}

type delayedStream struct {
	body      io.ReadCloser
	chunks    chan chunk
	done      chan struct{}
	closeOnce sync.Once
	rest      []byte
	err       error
}

func (d *delayedStream) pump(delay func() time.Duration) {
	defer close(d.chunks)
	for {
		buf := make([]byte, 32<<10)
		n, err := d.body.Read(buf)
		c := chunk{data: buf[:n], due: time.Now().Add(delay()), err: err}
		select {
		case d.chunks <- c:
		case <-d.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (d *delayedStream) Read(p []byte) (int, error) {
	for len(d.rest) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		c, ok := <-d.chunks
		if !ok {
			return 0, io.ErrClosedPipe
		}
		if wait := time.Until(c.due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-d.done:
				return 0, io.ErrClosedPipe
			}
		}
		d.rest, d.err = c.data, c.err
	}
	n := copy(p, d.rest)
	d.rest = d.rest[n:]
	return n, nil
}

func (d *delayedStream) Close() error {
	d.closeOnce.Do(func() { close(d.done) })
	return d.body.Close()
}
