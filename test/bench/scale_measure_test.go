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

// What TestScale measures, and how: API requests counted by the kube-apiserver itself
// (apiserver_request_total) and by the harness's own client, CPU time and memory of processes from
// /proc. Nothing here runs inside the operator: every figure is read from outside it, as an
// operator of the cluster would read them.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// requests counts API requests by "VERB resource[/subresource]", the verbs as the kube-apiserver's
// apiserver_request_total names them (GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE,
// DELETECOLLECTION), with the HTTP status appended when it is not a success ("GET secrets 404"):
// a read that finds nothing costs the API server as much as one that does, and says what the
// reconciler was looking for.
type requests map[string]float64

func (r requests) sub(o requests) requests {
	out := requests{}
	for k, v := range r {
		if d := v - o[k]; d != 0 {
			out[k] = d
		}
	}
	for k, v := range o {
		if _, ok := r[k]; !ok && v != 0 {
			out[k] = -v
		}
	}
	return out
}

// Requests fall into three kinds. Reads are the synchronous GETs and LISTs a reconciler waits for.
// A WATCH is counted by the API server when it ends, so a window counts the watches that happened to
// end in it (informers reconnecting, mostly kube-controller-manager's, which watches every resource
// type): they are reported apart and left out of the reads.
const (
	kindRead  = "read"
	kindWrite = "write"
	kindWatch = "watch"
)

func kindOf(key string) string {
	switch verb, _, _ := strings.Cut(key, " "); verb {
	case "GET", "LIST":
		return kindRead
	case "WATCH":
		return kindWatch
	default:
		return kindWrite
	}
}

// reads, writes and watches sum the requests of that kind; skip leaves out resources (say
// "leases", whose renewals are leader election's and not the reconcilers').
func (r requests) reads(skip ...string) float64   { return r.sum(kindRead, skip) }
func (r requests) writes(skip ...string) float64  { return r.sum(kindWrite, skip) }
func (r requests) watches(skip ...string) float64 { return r.sum(kindWatch, skip) }

func (r requests) sum(kind string, skip []string) float64 {
	var n float64
	for k, v := range r {
		res, _, _ := strings.Cut(strings.Fields(k)[1], "/")
		if kindOf(k) == kind && !slices.Contains(skip, res) {
			n += v
		}
	}
	return n
}

// events counts the Events written (core/v1 and events.k8s.io both name the resource "events").
func (r requests) events() float64 { return r["POST events"] + r["PATCH events"] + r["PUT events"] }

// format lists the reads and writes, largest first, divided by per (1 for totals), and then how
// many watches ended. Counts that round to 0.00 per unit are left out: at N=10,000 a lease renewal
// or a stray request is not a cost per link.
func (r requests) format(per float64) string {
	keys := make([]string, 0, len(r))
	for k, v := range r {
		if kindOf(k) != kindWatch && (v/per >= 0.005 || v/per <= -0.005) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if r[a] != r[b] {
			if r[a] > r[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + trimFloat(r[k]/per)
	}
	if len(parts) == 0 {
		parts = append(parts, "no reads or writes")
	}
	if w := r.watches(); w != 0 {
		parts = append(parts, fmt.Sprintf("(and %s watches ended)", trimFloat(w)))
	}
	return strings.Join(parts, ", ")
}

func trimFloat(f float64) string {
	if f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// apiServerRequests reads apiserver_request_total from the kube-apiserver's /metrics as cluster
// admin and sums it by verb and resource (over codes, scopes and groups). Non-resource requests
// (discovery, /metrics itself, health checks) are left out: they are not what a reconciler costs.
// The API server counts a request when it completes, so a WATCH shows up when it ends.
func apiServerRequests(ctx context.Context, hc *http.Client, host string) (requests, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(host, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the kube-apiserver's /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the kube-apiserver's /metrics: HTTP %d", resp.StatusCode)
	}
	return parseRequestTotals(resp.Body)
}

func parseRequestTotals(r io.Reader) (requests, error) {
	const metric = "apiserver_request_total{"
	out := requests{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		end := strings.LastIndex(line, "}")
		if end < 0 {
			continue
		}
		labels := parseLabels(line[len(metric):end])
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil || labels["resource"] == "" {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if s := labels["subresource"]; s != "" {
			key += "/" + s
		}
		if code := labels["code"]; !strings.HasPrefix(code, "2") {
			key += " " + code
		}
		out[key] += v
	}
	return out, sc.Err()
}

// parseLabels parses `a="x",b="y"` (Prometheus text format; label values here never hold quotes).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		value, rest, _ := strings.Cut(rest, `"`)
		out[strings.TrimPrefix(name, ",")] = value
		s = rest
	}
	return out
}

// countingTransport counts the requests of one client (the harness's, or the minimal
// controller's) under the same keys as apiserver_request_total, so that the harness's own
// requests can be taken off the API server's counts and the rest attributed to the controller
// under test.
type countingTransport struct {
	mu     sync.Mutex
	counts requests
}

func newCounter() *countingTransport { return &countingTransport{counts: requests{}} }

// wrap returns a copy of cfg whose requests this counter counts.
func (c *countingTransport) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			key := requestKey(req)
			if key == "" || err != nil {
				// A request that got no answer may or may not have reached the API server; the
				// harness's requests do not fail in a run that passes.
				return resp, err
			}
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				key += " " + strconv.Itoa(resp.StatusCode)
			}
			c.mu.Lock()
			c.counts[key]++
			c.mu.Unlock()
			return resp, err
		})
	})
	return cfg
}

func (c *countingTransport) snapshot() requests {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(requests, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// requestKey maps a request to apiserver_request_total's verb and resource, or "" for a
// non-resource request.
func requestKey(req *http.Request) string {
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		segs = segs[2:] // api/v1
	case len(segs) >= 4 && segs[0] == "apis":
		segs = segs[3:] // apis/group/version
	default:
		return ""
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		segs = segs[2:] // namespaces/<ns>/<resource>...
	}
	resource, name, sub := segs[0], "", ""
	if len(segs) > 1 {
		name = segs[1]
	}
	if len(segs) > 2 {
		sub = segs[2]
	}
	verb := req.Method
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "WATCH"
		case name == "":
			verb = "LIST"
		}
	case http.MethodPatch:
		if strings.HasPrefix(req.Header.Get("Content-Type"), "application/apply-patch") {
			verb = "APPLY"
		}
	case http.MethodDelete:
		if name == "" {
			verb = "DELETECOLLECTION"
		}
	}
	key := verb + " " + resource
	if sub != "" {
		key += "/" + sub
	}
	return key
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every Linux
// architecture Go supports.
const clockTick = 10 * time.Millisecond

// processCPU is the user+system CPU time a process has used so far.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields are counted from the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// memory is a process's resident set now (VmRSS) and at its peak since it started (VmHWM), in KiB,
// and the part of the resident set that is anonymous memory (the heap, stacks, the runtime's own).
// The rest is pages of files, almost all of them the binary's own code and read-only data, which
// the kernel shares and can drop and read again under memory pressure.
type procMemory struct{ rssKiB, peakKiB, anonKiB int64 }

func processMemory(pid int) (procMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMemory{}, err
	}
	defer f.Close()
	var m procMemory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			m.rssKiB = n
		case "VmHWM":
			m.peakKiB = n
		case "RssAnon":
			m.anonKiB = n
		}
	}
	if m.rssKiB == 0 {
		return m, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return m, sc.Err()
}

func mibOf(kib int64) float64 { return float64(kib) / 1024 }
