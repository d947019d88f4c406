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
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// Issue 10's memory target: 55 MiB plus 5 KiB per connection.
const (
	memTargetBaseKiB    = 55 << 10
	memTargetPerConnKiB = 5
)

// memPoint is the manager's memory at one moment of the run, with the heap profile taken then.
type memPoint struct {
	label string
	conns int // connections the manager holds at that moment
	procMemory
	profile  string // path of the heap profile ("" if it could not be taken)
	liveHeap int64  // bytes of heap in use right after a GC (0 if it could not be read)
}

// memoryPoint reads the manager's RSS and then saves a heap profile from its --pprof-bind-address
// (go tool pprof -sample_index=inuse_space <manager binary> <profile> shows where the bytes are).
// RSS is read first: fetching the profile runs a garbage collection.
func (s *scaleRun) memoryPoint(ctx context.Context, label string, conns int) memPoint {
	p := memPoint{label: label, conns: conns, procMemory: s.controllerMemory()}
	if s.pprofAddr == "" {
		return p
	}
	path := filepath.Join(s.workDir, "heap-"+label+".pb.gz")
	if err := s.saveHeapProfile(ctx, path); err != nil {
		s.t.Logf("heap profile %s: %v", label, err)
		return p
	}
	p.profile = path
	live, err := s.liveHeap(ctx)
	if err != nil {
		s.t.Logf("live heap %s: %v", label, err)
	}
	p.liveHeap = live
	return p
}

// liveHeap forces a GC in the manager and reads the heap it keeps (HeapAlloc after the GC), the
// figure that RSS follows at about twice with GOGC=100. The text form of the heap profile prints
// the runtime's MemStats.
func (s *scaleRun) liveHeap(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.pprofAddr+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no HeapAlloc in the heap profile's text form")
}

func (s *scaleRun) saveHeapProfile(ctx context.Context, path string) error {
	return s.saveProfile(ctx, "heap?gc=1", path)
}

// saveCPUProfile profiles the manager's CPU for d (BENCH_SCALE_CPU_PROFILE), to see where a
// phase's controller CPU goes.
func (s *scaleRun) saveCPUProfile(ctx context.Context, path string, d time.Duration) error {
	return s.saveProfile(ctx, fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), path)
}

// saveAPIServerProfile profiles kube-apiserver's CPU for d, to see what a controller costs it.
func (s *scaleRun) saveAPIServerProfile(ctx context.Context, path string, d time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.host, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := s.metricsHC.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// profilePhase profiles kube-apiserver, and the manager when it runs, from now for d
// (BENCH_SCALE_CPU_PROFILE; 0: not at all), into <name>-*.pb.gz in the work directory.
func (s *scaleRun) profilePhase(ctx context.Context, name string, withManager bool) {
	d := envDuration("BENCH_SCALE_CPU_PROFILE", 0)
	if d <= 0 {
		return
	}
	go func() {
		if err := s.saveAPIServerProfile(ctx, filepath.Join(s.workDir, name+"-apiserver-cpu.pb.gz"), d); err != nil {
			s.logf("CPU profile of kube-apiserver in %s: %v", name, err)
		}
	}()
	if withManager {
		go func() {
			if err := s.saveCPUProfile(ctx, filepath.Join(s.workDir, name+"-manager-cpu.pb.gz"), d); err != nil {
				s.logf("CPU profile of the manager in %s: %v", name, err)
			}
		}()
	}
}

func (s *scaleRun) saveProfile(ctx context.Context, query, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.pprofAddr+"/debug/pprof/"+query, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// printMemory is the memory table: each point, its growth per connection over the start, and the
// target for the connections held then.
func (s *scaleRun) printMemory(points []memPoint) {
	if len(points) == 0 {
		return
	}
	start := points[0]
	s.logf("manager memory (VmRSS of the manager process; target %d MiB + %d KiB per connection):",
		memTargetBaseKiB>>10, memTargetPerConnKiB)
	s.logf("  %-30s %7s %10s %14s %13s %13s %17s %12s %s", "when", "conns", "RSS MiB", "KiB/conn>start", "of it anon MiB",
		"live heap MiB", "heap B/conn>start", "target MiB", "")
	for _, p := range points {
		per, heapPer := "-", "-"
		if p.conns > 0 && p.label != start.label {
			per = fmt.Sprintf("%.1f", float64(p.rssKiB-start.rssKiB)/float64(p.conns))
			if p.liveHeap > 0 && start.liveHeap > 0 {
				heapPer = fmt.Sprintf("%.0f", float64(p.liveHeap-start.liveHeap)/float64(p.conns))
			}
		}
		target := memTargetBaseKiB + memTargetPerConnKiB*int64(p.conns)
		verdict := "within"
		if p.rssKiB > target {
			verdict = fmt.Sprintf("OVER by %.1f MiB", mibOf(p.rssKiB-target))
		}
		s.logf("  %-30s %7d %10.1f %14s %13.1f %13.1f %17s %12.1f %s", p.label, p.conns, mibOf(p.rssKiB), per,
			mibOf(p.anonKiB), float64(p.liveHeap)/(1<<20), heapPer, mibOf(target), verdict)
	}
	last := points[len(points)-1]
	// The manager restarts after "linked" (the second baseline run): the run's peak is the highest
	// VmHWM either process showed at a memory point.
	var peak int64
	for _, p := range points {
		peak = max(peak, p.peakKiB)
	}
	peakTarget := memTargetBaseKiB + memTargetPerConnKiB*int64(last.conns)
	verdict := "within"
	if peak > peakTarget {
		verdict = fmt.Sprintf("OVER by %.1f MiB", mibOf(peak-peakTarget))
	}
	s.logf("  %-30s %7d %10.1f %14s %13s %13s %17s %12.1f %s", "peak (VmHWM) over the run", last.conns, mibOf(peak), "-", "-", "-", "-",
		mibOf(peakTarget), verdict)
	s.logf("  (the manager is restarted after \"linked\", for the second baseline run: the later points are of the restarted process)")
	s.logf("  (RSS less anon is file pages, almost all the binary's code and read-only data: shared, and dropped and read again under memory pressure)")
	if last.profile != "" {
		s.logf("  heap profiles: %s/heap-*.pb.gz (go tool pprof -sample_index=inuse_space %s <profile>)",
			s.workDir, filepath.Join(s.workDir, "bin", "manager"))
	}
}

// stormResult is what a refresh storm did.
type stormResult struct {
	n             int
	patchedIn     time.Duration   // how long the harness took to make all of them due
	latencies     []time.Duration // due → rotated, per connection
	pastAccessExp int             // rotated after the access token in hand had expired
	pastChainExp  int             // rotated after the refresh token in hand had expired
	calls         finxCalls
	finxLatency   time.Duration // the sandbox's delay of each refresh
}

// stormPhase makes every one of names due at once, the refresh annotation patched onto all of them
// as fast as the harness can, and waits until each has stored its rotated token (the operator marks
// the request handled after that). It records when each connection was made due and when it was
// rotated, and counts those whose tokens in hand had expired by then.
func (s *scaleRun) stormPhase(ctx context.Context, tr *tracker, ns string, names []string, par int, finxLatency, timeout time.Duration) (phase, stormResult) {
	t := s.t
	res := stormResult{n: len(names), finxLatency: finxLatency}
	if finxLatency > 0 {
		// The sandbox's documented test control: a fault that only delays every refresh.
		body := fmt.Sprintf(`{"endpoint":"token","grant_type":"refresh_token","latency":%q}`, finxLatency.String())
		if err := s.sandboxPost(ctx, "/_sandbox/faults", body); err != nil {
			t.Fatalf("storm: delaying the sandbox's refreshes: %v", err)
		}
		defer func() {
			if err := s.sandboxDelete(ctx, "/_sandbox/faults"); err != nil {
				t.Errorf("storm: clearing the sandbox's delay: %v", err)
			}
		}()
	}
	accessExp := make(map[string]time.Time, len(names))
	chainExp := make(map[string]time.Time, len(names))
	for _, n := range names {
		c := tr.get(n)
		if c == nil {
			t.Fatalf("storm: %s is not tracked", n)
		}
		if at := c.Status.AccessToken; at != nil && at.ExpiresAt != nil {
			accessExp[n] = at.ExpiresAt.Time
		}
		if rt := c.Status.RefreshToken; rt != nil && rt.ExpiresAt != nil {
			chainExp[n] = rt.ExpiresAt.Time
		}
	}
	value := fmt.Sprintf("storm-%d", time.Now().UnixNano())
	handled := tr.expect(names, func(c *v1.BankConnection) bool { return c.Status.LastHandledRefreshRequest == value })
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{v1.AnnotationRefresh: value}}})
	due := make([]time.Time, len(names))
	before := s.sandboxStats(ctx)
	st := s.begin(ctx)
	if err := parallel(ctx, len(names), par, func(ctx context.Context, i int) error {
		due[i] = time.Now()
		c := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[i]}}
		return s.admin.Patch(ctx, c, client.RawPatch(types.MergePatchType, patch))
	}); err != nil {
		t.Fatalf("storm: annotating: %v", err)
	}
	res.patchedIn = time.Since(st.at)
	t.Logf("storm: %d connections made due in %s", len(names), res.patchedIn.Round(100*time.Millisecond))
	if err := tr.wait(ctx, handled, timeout); err != nil {
		t.Fatalf("storm: %v", err)
	}
	at := tr.matched(handled)
	var last time.Time
	for i, n := range names {
		done := at[n]
		last = later(last, done)
		res.latencies = append(res.latencies, done.Sub(due[i]))
		if exp, ok := accessExp[n]; ok && done.After(exp) {
			res.pastAccessExp++
		}
		if exp, ok := chainExp[n]; ok && done.After(exp) {
			res.pastChainExp++
		}
	}
	time.Sleep(settleAfter)
	p := s.end(ctx, "storm", st, last.Sub(st.at))
	p.applied = res.patchedIn
	res.calls = s.sandboxStats(ctx).sub(before)
	return p, res
}

// printStorm reports the storm's throughput against what the finX rate limit allows.
func (s *scaleRun) printStorm(p phase, r stormResult) {
	if r.n == 0 {
		return
	}
	secs := p.wall.Seconds()
	rate := float64(r.n) / secs
	// What the limiter allows: the burst at once, the rest at the rate.
	bound := float64(max(r.n-s.finxBurst(), 0)) / float64(s.finxRate)
	s.logf("refresh storm, %d connections made due at once (by annotation, in %.1fs), each finX refresh delayed %s:",
		r.n, r.patchedIn.Seconds(), r.finxLatency)
	s.logf("  all rotated %.1fs after the first was due: %.1f rotations/s with --max-concurrent-reconciles %d;"+
		" the FinXClient allows %d/s, burst %d (the limit alone would take %.1fs; %.0f%% of the rate used)",
		secs, rate, s.concurrency, s.finxRate, s.finxBurst(), bound, 100*rate/float64(s.finxRate))
	s.logf("  due → rotated per connection: p50 %.0fms, p95 %.0fms, max %.0fms; rotated after the access token expired: %d,"+
		" after the refresh token expired: %d", ms(quantile(r.latencies, 0.5)), ms(quantile(r.latencies, 0.95)),
		ms(quantile(r.latencies, 1)), r.pastAccessExp, r.pastChainExp)
	fn := float64(r.n)
	rq := p.controller()
	s.logf("  per rotation: %.2f finX calls (%s), %.2f writes without Events and leases, %.2f reads; manager CPU %.1fs (%.1fms per rotation),"+
		" kube-apiserver + etcd CPU %.1fs", float64(r.calls.total())/fn, formatCalls(r.calls), rq.writes("events", "leases")/fn,
		rq.reads("leases")/fn, p.mgrCPU.Seconds(), ms(p.mgrCPU)/fn, (p.apiCPU + p.etcdCPU).Seconds())
	limit := "the finX rate limit"
	if rate < 0.8*float64(s.finxRate) {
		// Each worker spent concurrency × wall / N on a rotation, queueing for the API server included.
		limit = fmt.Sprintf("the reconcile workers (%d, each %.0fms per rotation), not the finX rate limit",
			s.concurrency, 1000*float64(s.concurrency)*secs/fn)
		if r.patchedIn > p.wall/2 {
			limit = "how fast the harness could make them due"
		}
	}
	s.logf("  limited by %s", limit)
}

func (s *scaleRun) sandboxPost(ctx context.Context, path, body string) error {
	return s.sandboxSend(ctx, http.MethodPost, path, strings.NewReader(body))
}

func (s *scaleRun) sandboxDelete(ctx context.Context, path string) error {
	return s.sandboxSend(ctx, http.MethodDelete, path, nil)
}

func (s *scaleRun) sandboxSend(ctx context.Context, method, path string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, method, s.sandboxURL+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return nil
}

// quiesce waits until the manager has nothing left to do: its process CPU time has not moved for
// two seconds (at most two minutes). A phase that ends when the last object got there can leave
// work behind it (status writes, Secret events), which must not be counted with the next phase.
func (s *scaleRun) quiesce(ctx context.Context) {
	deadline := time.Now().Add(2 * time.Minute)
	_, _, last := s.cpu()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		_, _, now := s.cpu()
		// Leader election and the cache's watches cost a few milliseconds in two seconds.
		if now-last < 40*time.Millisecond {
			return
		}
		last = now
	}
	s.t.Logf("the manager was still busy after two minutes")
}
