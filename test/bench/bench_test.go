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
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// seq makes every connection name in the process unique.
var seq atomic.Int64

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, seq.Add(1))
	}
	return out
}

var connectTenant fixture[tenant]

// BenchmarkConnect measures one connection at a time from `kubectl apply` to Connected: the operator
// issues a link (apply→link), the user completes the widget, the browser follows finX's redirect to
// the callback endpoint, and the operator exchanges the code and stores the tokens
// (callback→Connected). All connections share one namespace and FinXClient.
func BenchmarkConnect(b *testing.B) {
	e := environment(b)
	t := connectTenant.get(b, func(ctx context.Context) (tenant, error) {
		return e.newTenant(ctx, "bench-connect-")
	})
	ctx := b.Context()
	w, err := startWatcher(ctx, e, t.ns)
	if err != nil {
		b.Fatal(err)
	}
	defer w.stop()
	toLink := make([]time.Duration, 0, b.N)
	toConnected := make([]time.Duration, 0, b.N)

	b.ResetTimer()
	for _, name := range names("connect", b.N) {
		tm, err := e.connect(ctx, w, t, name, v1.AccessTokenModeMaintain)
		if err != nil {
			b.Fatal(err)
		}
		toLink = append(toLink, tm.linked.Sub(tm.applied))
		toConnected = append(toConnected, tm.connected.Sub(tm.calledBack))
	}
	b.StopTimer()

	b.ReportMetric(ms(b.Elapsed())/float64(b.N), "ms/connect")
	b.ReportMetric(ms(quantile(toLink, 0.50)), "ms-p50-link")
	b.ReportMetric(ms(quantile(toLink, 0.95)), "ms-p95-link")
	b.ReportMetric(ms(quantile(toConnected, 0.50)), "ms-p50-connected")
	b.ReportMetric(ms(quantile(toConnected, 0.95)), "ms-p95-connected")
}

type refreshSet struct {
	t     tenant
	names []string
}

var refreshConnections fixture[refreshSet]

// BenchmarkRefreshThroughput forces a refresh of BENCH_CONNECTIONS Connected connections at once
// (the refresh annotation, a new value each round) and measures the time until every connection's
// refresh token in its Secret has changed. One round per b.N; refreshes/s is connections × rounds
// over the measured time. The connections keep no access-token Secret (accessToken.mode Disabled),
// so a refresh is: journal the spend in the refresh-token Secret, call finX, store the rotated token.
func BenchmarkRefreshThroughput(b *testing.B) {
	e := environment(b)
	set := refreshConnections.get(b, func(ctx context.Context) (refreshSet, error) {
		t, err := e.newTenant(ctx, "bench-refresh-")
		if err != nil {
			return refreshSet{}, err
		}
		w, err := startWatcher(ctx, e, t.ns)
		if err != nil {
			return refreshSet{}, err
		}
		defer w.stop()
		set := refreshSet{t: t, names: names("refresh", envInt("BENCH_CONNECTIONS", 50))}
		return set, e.connectMany(ctx, w, t, set.names, v1.AccessTokenModeDisabled)
	})
	ctx := b.Context()
	w, err := startWatcher(ctx, e, set.t.ns)
	if err != nil {
		b.Fatal(err)
	}
	defer w.stop()
	m := len(set.names)
	latencies := make([]time.Duration, 0, m*b.N)

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		value := fmt.Sprintf("bench-%d", seq.Add(1))
		rotated := make([]*expectation, m)
		handled := make([]*expectation, m)
		for i, name := range set.names {
			key := client.ObjectKey{Namespace: set.t.ns, Name: name + "-finx-refresh"}
			s := &corev1.Secret{}
			if err := w.get(ctx, key, s); err != nil {
				b.Fatalf("reading Secret %s: %v", key, err)
			}
			rotated[i] = w.expect(kindSecret, key, refreshTokenChangedFrom(string(s.Data[tokenstore.KeyRefreshToken])))
			handled[i] = w.expect(kindConnection, client.ObjectKey{Namespace: set.t.ns, Name: name}, handledRefresh(value))
		}
		b.StartTimer()

		start := time.Now()
		if err := e.requestRefresh(ctx, set.t.ns, set.names, value); err != nil {
			b.Fatal(err)
		}
		for i, x := range rotated {
			at, _, err := x.wait(ctx)
			if err != nil {
				key := client.ObjectKey{Namespace: set.t.ns, Name: set.names[i]}
				b.Fatalf("refresh token of %s did not change: %v (%s)", key, err, e.describe(ctx, key))
			}
			latencies = append(latencies, at.Sub(start))
		}

		// Not measured: the operator records the handled request in status after storing the token;
		// the next round starts once every connection has done so.
		b.StopTimer()
		for i, x := range handled {
			if _, _, err := x.wait(ctx); err != nil {
				key := client.ObjectKey{Namespace: set.t.ns, Name: set.names[i]}
				b.Fatalf("%s did not record the refresh request: %v (%s)", key, err, e.describe(ctx, key))
			}
		}
		b.StartTimer()
	}
	b.StopTimer()

	b.ReportMetric(float64(m*b.N)/b.Elapsed().Seconds(), "refreshes/s")
	b.ReportMetric(ms(quantile(latencies, 0.50)), "ms-p50-refresh")
	b.ReportMetric(ms(quantile(latencies, 0.95)), "ms-p95-refresh")
}

// requestRefresh sets the refresh annotation on every connection, several patches in flight so
// that the requests land together.
func (e *benchEnv) requestRefresh(ctx context.Context, ns string, names []string, value string) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{v1.AnnotationRefresh: value}},
	})
	if err != nil {
		return err
	}
	return parallel(ctx, len(names), 16, func(ctx context.Context, i int) error {
		c := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[i]}}
		if err := e.client.Patch(ctx, c, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("annotating %s/%s: %w", ns, names[i], err)
		}
		return nil
	})
}

func refreshTokenChangedFrom(old string) func(client.Object) bool {
	return func(o client.Object) bool {
		s, ok := o.(*corev1.Secret)
		if !ok {
			return false
		}
		tok := string(s.Data[tokenstore.KeyRefreshToken])
		return tok != "" && tok != old
	}
}

func handledRefresh(value string) func(client.Object) bool {
	return func(o client.Object) bool {
		c, ok := o.(*v1.BankConnection)
		return ok && c.Status.LastHandledRefreshRequest == value
	}
}

// memoryFigures are heap samples (bytes in use after a full GC) taken while building the memory
// fixture.
type memoryFigures struct {
	connections, unrelated int
	base                   uint64 // before the fixture's connections
	withConnections        uint64 // after connecting them, the benchmark's own watcher stopped
	withUnrelated          uint64 // after creating the unrelated Secrets
	holdingUnrelated       uint64 // control: while the test itself holds a List of those Secrets
}

var (
	memory    fixture[memoryFigures]
	memoryLog sync.Once
)

// BenchmarkManagerMemory reports the heap with BENCH_MEMORY_CONNECTIONS Connected connections (both
// Secrets each, accessToken.mode Maintain) plus BENCH_UNRELATED_SECRETS unlabelled Secrets of
// BENCH_UNRELATED_SECRET_SIZE bytes in another namespace. The manager caches only Secrets labelled
// app.kubernetes.io/managed-by=finx-operator, so the unrelated Secrets should not grow its heap.
//
// The manager runs in this process, so every figure is this process's heap: it also holds the
// in-process finX sandbox (its flow, code, token and user records), the test's API client and the
// connections of the benchmarks that ran before. That is why the per-connection and per-Secret
// figures are differences between samples rather than ratios of the total:
//
//	MiB-heap                           heap in use now (median over b.N samples, one full GC each)
//	KiB-heap/connection                heap growth from creating and connecting the connections, per
//	                                   connection (includes the sandbox's records of each one)
//	KiB-heap-per-1k-unrelated-secrets  heap growth from creating the unrelated Secrets, per 1,000
//	KiB-per-1k-secrets-if-cached       control: heap growth while the test holds a List of those
//	                                   Secrets, per 1,000 — about what caching them would cost, so the
//	                                   figure above can be read against it (and against sampling noise)
func BenchmarkManagerMemory(b *testing.B) {
	e := environment(b)
	f := memory.get(b, func(ctx context.Context) (memoryFigures, error) {
		return e.buildMemoryFixture(ctx,
			envInt("BENCH_MEMORY_CONNECTIONS", 200),
			envInt("BENCH_UNRELATED_SECRETS", 2000),
			envInt("BENCH_UNRELATED_SECRET_SIZE", 1024))
	})

	memoryLog.Do(func() {
		b.Logf("heap in use: %.1f MiB before the %d connections, %.1f MiB with them, %.1f MiB after %d unrelated Secrets, %.1f MiB while holding a List of those",
			mib(f.base), f.connections, mib(f.withConnections), mib(f.withUnrelated), f.unrelated, mib(f.holdingUnrelated))
	})

	b.ResetTimer()
	samples := make([]uint64, 0, b.N)
	for range b.N {
		samples = append(samples, heapInUseOnce())
	}
	b.StopTimer()

	perK := float64(f.unrelated) / 1000
	b.ReportMetric(0, "ns/op") // the time of a GC says nothing here
	b.ReportMetric(mib(median(samples)), "MiB-heap")
	b.ReportMetric(kib(diff(f.withConnections, f.base))/float64(f.connections), "KiB-heap/connection")
	b.ReportMetric(kib(diff(f.withUnrelated, f.withConnections))/perK, "KiB-heap-per-1k-unrelated-secrets")
	b.ReportMetric(kib(diff(f.holdingUnrelated, f.withUnrelated))/perK, "KiB-per-1k-secrets-if-cached")
}

// settle is how long the fixture lets the manager finish whatever the last change started before a
// heap sample.
const settle = 2 * time.Second

func (e *benchEnv) buildMemoryFixture(ctx context.Context, k, unrelated, size int) (memoryFigures, error) {
	f := memoryFigures{connections: k, unrelated: unrelated}
	t, err := e.newTenant(ctx, "bench-memory-")
	if err != nil {
		return f, err
	}
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-unrelated-"}}
	if err := e.client.Create(ctx, other); err != nil {
		return f, err
	}
	time.Sleep(settle)
	f.base = heapInUse()

	w, err := startWatcher(ctx, e, t.ns)
	if err != nil {
		return f, err
	}
	err = e.connectMany(ctx, w, t, names("memory", k), v1.AccessTokenModeMaintain)
	w.stop() // its copies of the connections and Secrets are garbage from here on
	if err != nil {
		return f, err
	}
	time.Sleep(settle)
	f.withConnections = heapInUse()

	if err := e.createUnrelatedSecrets(ctx, other.Name, unrelated, size); err != nil {
		return f, err
	}
	time.Sleep(settle)
	f.withUnrelated = heapInUse()

	held := &corev1.SecretList{}
	if err := e.client.List(ctx, held, client.InNamespace(other.Name)); err != nil {
		return f, err
	}
	if len(held.Items) != unrelated {
		return f, fmt.Errorf("namespace %s holds %d Secrets, want %d", other.Name, len(held.Items), unrelated)
	}
	f.holdingUnrelated = heapInUse()
	runtime.KeepAlive(held)
	return f, nil
}

// createUnrelatedSecrets creates n unlabelled Secrets of size random bytes each in ns.
func (e *benchEnv) createUnrelatedSecrets(ctx context.Context, ns string, n, size int) error {
	return parallel(ctx, n, 16, func(ctx context.Context, i int) error {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("unrelated-%05d", i)},
			Data:       map[string][]byte{"payload": data},
		}
		if err := e.client.Create(ctx, s); err != nil {
			return fmt.Errorf("creating Secret %s/%s: %w", ns, s.Name, err)
		}
		return nil
	})
}

// heapInUseOnce is runtime.MemStats.HeapInuse right after a full collection.
func heapInUseOnce() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// heapInUse is the median of a few heapInUseOnce samples, against the odd sample taken while the
// manager or an informer had something large in flight.
func heapInUse() uint64 {
	samples := make([]uint64, 5)
	for i := range samples {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		samples[i] = heapInUseOnce()
	}
	return median(samples)
}

func median(v []uint64) uint64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// quantile is the nearest-rank q-quantile of d (with 20 samples, p95 is the second largest).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func diff(a, b uint64) float64 { return float64(int64(a) - int64(b)) }

func kib(bytes float64) float64 { return bytes / 1024 }

func mib(bytes uint64) float64 { return float64(bytes) / (1 << 20) }
