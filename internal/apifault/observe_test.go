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
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A server that streams one line per event, as a watch does.
func eventServer(t *testing.T, events chan string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "true" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for e := range events {
			fmt.Fprintln(w, e)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDelayEventsHoldsEachEventForTheLatencyOnly(t *testing.T) {
	events := make(chan string)
	srv := eventServer(t, events)
	in := NewInjector(nil)
	hc := &http.Client{Transport: in}
	resp, err := hc.Get(srv.URL + "/apis/x/v1/things?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	next := func() (string, time.Duration) {
		start := time.Now()
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		return lines.Text(), time.Since(start)
	}

	events <- "on time"
	if e, took := next(); e != "on time" || took > 200*time.Millisecond {
		t.Fatalf("without a rule: %q after %v", e, took)
	}

	// The rule reaches the watch that is already open.
	remove := in.Add(Rule{PathContains: "/things", Action: DelayEvents, Latency: 300 * time.Millisecond})
	for i := range 3 {
		events <- fmt.Sprint("late ", i) // a burst: each is late by the latency, not by the sum
	}
	for i := range 3 {
		e, took := next()
		if e != fmt.Sprint("late ", i) {
			t.Fatalf("got %q", e)
		}
		if i == 0 && (took < 250*time.Millisecond || took > time.Second) {
			t.Fatalf("the first of the burst came after %v", took)
		}
		if i > 0 && took > 150*time.Millisecond {
			t.Fatalf("event %d came %v after the one before", i, took)
		}
	}

	remove()
	events <- "on time again"
	if e, took := next(); e != "on time again" || took > 200*time.Millisecond {
		t.Fatalf("after the rule: %q after %v", e, took)
	}
	close(events)
}

func TestRecordListsMatchingRequestsWithTheirStatus(t *testing.T) {
	srv := eventServer(t, nil)
	in := NewInjector(nil)
	hc := &http.Client{Transport: in}
	rec, stop := in.Record(Rule{Method: http.MethodGet, PathContains: "/ns-a/"})
	for _, p := range []string{"/api/v1/namespaces/ns-a/secrets/one", "/api/v1/namespaces/ns-b/secrets/two"} {
		resp, err := hc.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	stop()
	resp, err := hc.Get(srv.URL + "/api/v1/namespaces/ns-a/secrets/after")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := rec.Requests()
	want := Request{Method: http.MethodGet, Path: "/api/v1/namespaces/ns-a/secrets/one", Status: http.StatusNotFound}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("recorded %+v, want only %+v", got, want)
	}
}

// A Delay rule holds the matching request back before forwarding it, and only that request; the
// server still sees it and answers it.
func TestDelayForwardsTheMatchingRequestLate(t *testing.T) {
	arrived := make(chan time.Time, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- time.Now()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	in := NewInjector(nil)
	hc := &http.Client{Transport: in}
	const lag = 300 * time.Millisecond
	in.Add(Rule{Method: http.MethodPut, PathContains: "/slow", Action: Delay, Latency: lag, Count: 1})
	put := func(path string) time.Duration {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+path, nil)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		return (<-arrived).Sub(start)
	}
	if d := put("/slow"); d < lag {
		t.Errorf("the delayed PUT reached the server after %s, want at least %s", d, lag)
	}
	if d := put("/slow"); d >= lag {
		t.Errorf("a PUT past the rule's count reached the server after %s, want at once", d)
	}
	if n := in.Counts()["delayed"]; n != 1 {
		t.Errorf("counted %d delayed requests, want 1", n)
	}
}
