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

// Package apifault puts faults between a Kubernetes client and the API server, for tests of what the
// operator does when the API misbehaves: writes refused, writes applied whose answer is lost (a 5xx
// from a proxy after the commit, or a dropped connection), latency, and watches cut short. It is a
// RoundTripper (for an in-process client) and a reverse proxy (for a process under test).
package apifault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Action is what a matching rule does to a request.
type Action int

const (
	// Refuse answers Status without forwarding: nothing was applied.
	Refuse Action = iota + 1
	// ApplyThenFail forwards the request, throws the answer away and answers Status instead; with
	// Status 0 the client sees a dropped connection. The write was applied all the same.
	ApplyThenFail
	// Observe forwards the request untouched and only counts it (under "observed").
	Observe
	// DelayEvents holds back every event of a matching watch for Latency after the API server sent
	// it, so the client's cache lags the API server as a slow network or a busy informer would make
	// it. It acts on watches already open when the rule is added.
	DelayEvents
	// Delay forwards the request after Latency, as an API server that queues it (API Priority and
	// Fairness under load) would: the request is applied late, and answered as usual.
	Delay
)

// Rule matches requests and says what happens to them.
type Rule struct {
	Method       string // "" matches any
	PathContains string
	// BodyHas and BodyLacks narrow the match to requests whose body holds every string of BodyHas
	// and none of BodyLacks.
	BodyHas, BodyLacks []string
	Action             Action
	Status             int
	// Latency is DelayEvents' and Delay's delay.
	Latency time.Duration
	// Count is how many requests the rule applies to; 0 means until it is removed.
	Count int
}

// Chaos draws random faults for every write and watch, for soak tests.
type Chaos struct {
	RefuseWrites     float64       // share of writes answered 500/503/429 without applying them
	LoseWriteAnswers float64       // share of writes applied, then answered 500 or dropped
	MaxLatency       time.Duration // each request waits up to this long
	WatchLifetime    time.Duration // watches are cut after up to this long (0: never)
}

// Injector is an http.RoundTripper that applies rules, then chaos, to requests it forwards to Next.
type Injector struct {
	Next http.RoundTripper

	mu         sync.Mutex
	rules      []*rule
	chaos      *Chaos
	rnd        *rand.Rand
	counts     map[string]int
	recordings []*Recording
}

type rule struct {
	Rule
	left int
}

// NewInjector wraps next (http.DefaultTransport if nil).
func NewInjector(next http.RoundTripper) *Injector {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Injector{Next: next, counts: map[string]int{}, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Add installs a rule and returns its removal.
func (in *Injector) Add(r Rule) (remove func()) {
	in.mu.Lock()
	defer in.mu.Unlock()
	ru := &rule{Rule: r, left: r.Count}
	in.rules = append(in.rules, ru)
	return func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		for i, x := range in.rules {
			if x == ru {
				in.rules = append(in.rules[:i], in.rules[i+1:]...)
				return
			}
		}
	}
}

// SetChaos turns random faults on (nil turns them off).
func (in *Injector) SetChaos(c *Chaos) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.chaos = c
}

// Counts returns how many faults of each kind were injected.
func (in *Injector) Counts() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]int, len(in.counts))
	for k, v := range in.counts {
		out[k] = v
	}
	return out
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// RoundTrip implements http.RoundTripper.
func (in *Injector) RoundTrip(req *http.Request) (*http.Response, error) {
	return in.roundTrip(in.Next, req)
}

// Wrap returns a RoundTripper that applies this injector's faults in front of next; for
// rest.Config.Wrap, which may build several transports from one config.
func (in *Injector) Wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) { return in.roundTrip(next, req) })
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (in *Injector) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && isWrite(req.Method) {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	action, status, latency, cut := in.decide(req, body)
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	switch action {
	case Refuse:
		return statusResponse(req, status), nil
	case ApplyThenFail:
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if status == 0 {
			return nil, errDropped
		}
		return statusResponse(req, status), nil
	}
	resp, err := next.RoundTrip(req)
	in.record(req, resp)
	if err == nil && isWatch(req) {
		resp.Body = in.delayed(req, resp.Body)
	}
	if err != nil || cut <= 0 {
		return resp, err
	}
	// Closing the body ends the stream even while the watch is idle.
	stream := resp.Body
	timer := time.AfterFunc(cut, func() { _ = stream.Close() })
	resp.Body = &stopOnClose{ReadCloser: stream, timer: timer}
	return resp, nil
}

var errDropped = errors.New("apifault: connection dropped after the request was applied")

// decide picks the fault for one request: a matching rule first, else chaos.
func (in *Injector) decide(req *http.Request, body []byte) (Action, int, time.Duration, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, r := range in.rules {
		if r.Action == DelayEvents || !r.matches(req, body) {
			continue
		}
		if r.Count > 0 {
			r.left--
			if r.left <= 0 {
				in.rules = append(in.rules[:i], in.rules[i+1:]...)
			}
		}
		in.counts[r.kind()]++
		switch r.Action {
		case Observe:
			return 0, 0, 0, 0
		case Delay:
			return 0, 0, r.Latency, 0
		}
		return r.Action, r.Status, 0, 0
	}
	c := in.chaos
	if c == nil {
		return 0, 0, 0, 0
	}
	var latency, cut time.Duration
	if c.MaxLatency > 0 {
		latency = time.Duration(in.rnd.Int64N(int64(c.MaxLatency)))
	}
	if req.URL.Query().Get("watch") == "true" && c.WatchLifetime > 0 {
		cut = time.Duration(in.rnd.Int64N(int64(c.WatchLifetime))) + time.Second
		in.counts["watch cut"]++
	}
	if !isWrite(req.Method) {
		return 0, 0, latency, cut
	}
	p := in.rnd.Float64()
	switch {
	case p < c.RefuseWrites:
		st := []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests}[in.rnd.IntN(3)]
		in.counts["write refused"]++
		return Refuse, st, latency, 0
	case p < c.RefuseWrites+c.LoseWriteAnswers:
		st := []int{http.StatusInternalServerError, 0}[in.rnd.IntN(2)]
		in.counts["write applied, answer lost"]++
		return ApplyThenFail, st, latency, 0
	}
	return 0, 0, latency, 0
}

func (r *rule) matches(req *http.Request, body []byte) bool {
	if r.Method != "" && r.Method != req.Method {
		return false
	}
	if r.PathContains != "" && !strings.Contains(req.URL.Path, r.PathContains) {
		return false
	}
	for _, has := range r.BodyHas {
		if !bytes.Contains(body, []byte(has)) {
			return false
		}
	}
	for _, lacks := range r.BodyLacks {
		if bytes.Contains(body, []byte(lacks)) {
			return false
		}
	}
	return true
}

func (r *rule) kind() string {
	switch r.Action {
	case ApplyThenFail:
		return "write applied, answer lost"
	case Observe:
		return "observed"
	case Delay:
		return "delayed"
	}
	return "refused"
}

// statusResponse is what the API server (or a proxy in front of it) would answer with an error.
func statusResponse(req *http.Request, code int) *http.Response {
	reason := "InternalError"
	if code == http.StatusConflict {
		reason = "Conflict" // as for a write whose resourceVersion precondition failed
	}
	body := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"apifault: injected %d","reason":%q,"code":%d}`, code, reason, code)
	h := http.Header{"Content-Type": []string{"application/json"}}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	return &http.Response{
		StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// stopOnClose stops the cut timer when the client ends the stream first.
type stopOnClose struct {
	io.ReadCloser
	timer *time.Timer
}

func (b *stopOnClose) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}
