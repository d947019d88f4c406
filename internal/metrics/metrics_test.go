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

package metrics

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

const (
	mRefreshes   = "finx_operator_token_refreshes_total"
	mRequests    = "finx_operator_finx_requests_total"
	mLatency     = "finx_operator_finx_request_duration_seconds"
	mRefreshExp  = "finx_operator_bankconnection_refresh_token_expiration_timestamp_seconds"
	mAccessExp   = "finx_operator_bankconnection_access_token_expiration_timestamp_seconds"
	mNextRefresh = "finx_operator_bankconnection_next_refresh_timestamp_seconds"
	mReady       = "finx_operator_bankconnection_ready"
	mPhase       = "finx_operator_bankconnection_phase"
	mDropped     = "finx_operator_events_dropped_total"
)

var connGauges = []string{mRefreshExp, mAccessExp, mNextRefresh, mReady}

// sample is one gathered series.
type sample struct {
	labels  map[string]string
	value   float64 // counter or gauge value
	count   uint64  // histogram sample count
	sum     float64 // histogram sample sum
	buckets map[float64]uint64
}

// gather returns every series in reg by metric name.
func gather(t *testing.T, reg *prometheus.Registry) map[string][]sample {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string][]sample{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				s.count, s.sum = h.GetSampleCount(), h.GetSampleSum()
				s.buckets = map[float64]uint64{}
				for _, b := range h.GetBucket() {
					s.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
			}
			out[f.GetName()] = append(out[f.GetName()], s)
		}
	}
	return out
}

// find returns the series of name with exactly these labels.
func find(all map[string][]sample, name string, labels map[string]string) (sample, bool) {
	for _, s := range all[name] {
		if len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			return s, true
		}
	}
	return sample{}, false
}

func conn(ns, name string) map[string]string { return map[string]string{"namespace": ns, "name": name} }

func ts(t time.Time) *metav1.Time { mt := metav1.NewTime(t); return &mt }

var (
	tIssued  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tAccess  = tIssued.Add(time.Hour + 500*time.Millisecond) // sub-second part is dropped
	tRefresh = tIssued.Add(90 * 24 * time.Hour)
	tNext    = tIssued.Add(40 * time.Minute)
)

// fullConnection has every status field the gauges read.
func fullConnection(ns, name string, ready metav1.ConditionStatus) *v1.BankConnection {
	return &v1.BankConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: "6f1c2a9e-uid"},
		Status: v1.BankConnectionStatus{
			Phase: v1.PhaseConnected,
			RefreshToken: &v1.RefreshTokenStatus{
				SecretName: "refresh-secret-name", IssuedAt: ts(tIssued), ExpiresAt: ts(tRefresh), NextRefreshAt: ts(tNext), Rotations: 3,
			},
			AccessToken: &v1.AccessTokenStatus{SecretName: "access-secret-name", IssuedAt: ts(tIssued), ExpiresAt: ts(tAccess)},
			Conditions: []metav1.Condition{
				{Type: "Authorized", Status: metav1.ConditionTrue},
				{Type: v1.ConditionReady, Status: ready},
			},
		},
	}
}

func TestRefreshResultCountsByResult(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	for _, res := range []string{"success", "success", "rejected", "success", "rotation_lost"} {
		r.RefreshResult(res)
	}
	all := gather(t, reg)
	for res, want := range map[string]float64{"success": 3, "rejected": 1, "rotation_lost": 1} {
		s, ok := find(all, mRefreshes, map[string]string{"result": res})
		if !ok || s.value != want {
			t.Errorf("%s{result=%q} = %v (present %v), want %v", mRefreshes, res, s.value, ok, want)
		}
	}
	// Every other result is exported at 0 from the start, so that alerts on increase() see its
	// first occurrence.
	if n := len(all[mRefreshes]); n != len(RefreshResults) {
		t.Errorf("%d result series, want %d", n, len(RefreshResults))
	}
	if s, ok := find(all, mRefreshes, map[string]string{"result": "persist_failed"}); !ok || s.value != 0 {
		t.Errorf("persist_failed = %v (present %v), want 0", s.value, ok)
	}
}

func TestObserveRequest(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	r.ObserveRequest("token", 200, 30*time.Millisecond)
	r.ObserveRequest("token", 200, 300*time.Millisecond)
	r.ObserveRequest("token", 429, 2*time.Second)
	r.ObserveRequest("link", 0, 45*time.Second) // no response arrived

	all := gather(t, reg)
	counts := []struct {
		endpoint, code string
		want           float64
	}{
		{"token", "200", 2}, {"token", "429", 1}, {"link", "0", 1},
	}
	for _, c := range counts {
		s, ok := find(all, mRequests, map[string]string{"endpoint": c.endpoint, "code": c.code})
		if !ok || s.value != c.want {
			t.Errorf("%s{endpoint=%q,code=%q} = %v (present %v), want %v", mRequests, c.endpoint, c.code, s.value, ok, c.want)
		}
	}
	if n := len(all[mRequests]); n != 3 {
		t.Errorf("%d request series, want 3", n)
	}

	tok, ok := find(all, mLatency, map[string]string{"endpoint": "token"})
	if !ok {
		t.Fatalf("no latency histogram for token; got %v", all[mLatency])
	}
	if tok.count != 3 || math.Abs(tok.sum-2.33) > 1e-9 {
		t.Errorf("token latency count=%d sum=%v, want 3 and 2.33", tok.count, tok.sum)
	}
	// 30ms lands in the 0.05 bucket, 300ms in 0.5, 2s in 2.5.
	for le, want := range map[float64]uint64{0.025: 0, 0.05: 1, 0.25: 1, 0.5: 2, 1: 2, 2.5: 3, 30: 3} {
		if got := tok.buckets[le]; got != want {
			t.Errorf("token latency bucket le=%v = %d, want %d", le, got, want)
		}
	}
	link, ok := find(all, mLatency, map[string]string{"endpoint": "link"})
	if !ok || link.count != 1 || link.buckets[30] != 0 {
		t.Errorf("link latency = %+v, want one sample above the last bucket", link)
	}
	if n := len(all[mLatency]); n != 2 {
		t.Errorf("%d latency series, want 2 (labelled by endpoint only)", n)
	}
}

func TestObserveConnectionSetsGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	r.ObserveConnection(fullConnection("team-a", "alice", metav1.ConditionTrue))

	all := gather(t, reg)
	want := map[string]float64{
		mRefreshExp:  float64(tRefresh.Unix()),
		mAccessExp:   float64(tIssued.Add(time.Hour).Unix()),
		mNextRefresh: float64(tNext.Unix()),
		mReady:       1,
	}
	for name, v := range want {
		s, ok := find(all, name, conn("team-a", "alice"))
		if !ok || s.value != v {
			t.Errorf("%s = %v (present %v), want %v", name, s.value, ok, v)
		}
	}
}

func TestObserveConnectionReady(t *testing.T) {
	tests := []struct {
		name  string
		conds []metav1.Condition
		want  float64
	}{
		{"ready true", []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue}}, 1},
		{"ready false", []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionFalse}}, 0},
		{"ready unknown", []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionUnknown}}, 0},
		{"no conditions", nil, 0},
		{"other condition true", []metav1.Condition{{Type: "Authorized", Status: metav1.ConditionTrue}}, 0},
	}
	reg := prometheus.NewRegistry()
	r := New(reg)
	c := fullConnection("ns", "c", metav1.ConditionTrue)
	for _, tc := range tests {
		// The same connection changes state; the gauge follows.
		c.Status.Conditions = tc.conds
		r.ObserveConnection(c)
		s, ok := find(gather(t, reg), mReady, conn("ns", "c"))
		if !ok || s.value != tc.want {
			t.Errorf("%s: ready = %v (present %v), want %v", tc.name, s.value, ok, tc.want)
		}
	}
}

func TestObserveConnectionDropsGaugesOfMissingFields(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	c := fullConnection("ns", "c", metav1.ConditionTrue)
	r.ObserveConnection(c)

	present := func() map[string]bool {
		all := gather(t, reg)
		out := map[string]bool{}
		for _, name := range connGauges {
			_, out[name] = find(all, name, conn("ns", "c"))
		}
		return out
	}
	check := func(step string, want map[string]bool) {
		t.Helper()
		got := present()
		for _, name := range connGauges {
			if got[name] != want[name] {
				t.Errorf("%s: %s present = %v, want %v", step, name, got[name], want[name])
			}
		}
	}
	check("all set", map[string]bool{mRefreshExp: true, mAccessExp: true, mNextRefresh: true, mReady: true})

	c.Status.RefreshToken.NextRefreshAt = nil
	r.ObserveConnection(c)
	check("nextRefreshAt nil", map[string]bool{mRefreshExp: true, mAccessExp: true, mReady: true})

	c.Status.AccessToken.ExpiresAt = nil
	r.ObserveConnection(c)
	check("access expiresAt nil", map[string]bool{mRefreshExp: true, mReady: true})

	c.Status.AccessToken = nil
	r.ObserveConnection(c)
	check("accessToken nil", map[string]bool{mRefreshExp: true, mReady: true})

	c.Status.RefreshToken.ExpiresAt = nil
	r.ObserveConnection(c)
	check("refresh expiresAt nil", map[string]bool{mReady: true})

	// Back again, then the whole refresh token goes (re-authorisation).
	r.ObserveConnection(fullConnection("ns", "c", metav1.ConditionTrue))
	c = fullConnection("ns", "c", metav1.ConditionFalse)
	c.Status.RefreshToken = nil
	r.ObserveConnection(c)
	check("refreshToken nil", map[string]bool{mAccessExp: true, mReady: true})

	// A connection that never had tokens only has the ready gauge.
	r.ObserveConnection(&v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "new"}})
	all := gather(t, reg)
	for _, name := range connGauges {
		_, ok := find(all, name, conn("ns", "new"))
		if ok != (name == mReady) {
			t.Errorf("new connection: %s present = %v", name, ok)
		}
	}
}

func TestForget(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	r.ObserveConnection(fullConnection("ns", "gone", metav1.ConditionTrue))
	r.ObserveConnection(fullConnection("ns", "kept", metav1.ConditionTrue))
	r.ObserveConnection(fullConnection("other", "gone", metav1.ConditionTrue)) // same name, other namespace
	r.RefreshResult("success")

	r.Forget("ns", "gone")
	all := gather(t, reg)
	for _, name := range connGauges {
		if _, ok := find(all, name, conn("ns", "gone")); ok {
			t.Errorf("%s still has ns/gone after Forget", name)
		}
		if _, ok := find(all, name, conn("ns", "kept")); !ok {
			t.Errorf("%s lost ns/kept", name)
		}
		if _, ok := find(all, name, conn("other", "gone")); !ok {
			t.Errorf("%s lost other/gone", name)
		}
	}
	if _, ok := find(all, mRefreshes, map[string]string{"result": "success"}); !ok {
		t.Error("Forget dropped an operator-wide counter")
	}

	// Forgetting twice, or an unknown connection, is harmless.
	r.Forget("ns", "gone")
	r.Forget("nowhere", "nothing")
	if n := len(gather(t, reg)[mReady]); n != 2 {
		t.Errorf("ready series = %d, want 2", n)
	}
}

func TestLabelSets(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	r.RefreshResult("success")
	r.ObserveRequest("token", 200, time.Millisecond)
	r.ObserveConnection(fullConnection("ns", "c", metav1.ConditionTrue))

	want := map[string][]string{
		mRefreshes:   {"result"},
		mRequests:    {"code", "endpoint"},
		mLatency:     {"endpoint"},
		mRefreshExp:  {"name", "namespace"},
		mAccessExp:   {"name", "namespace"},
		mNextRefresh: {"name", "namespace"},
		mReady:       {"name", "namespace"},
		mPhase:       {"name", "namespace", "phase"},
		mDropped:     {},
	}
	all := gather(t, reg)
	if len(all) != len(want) {
		names := make([]string, 0, len(all))
		for n := range all {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("gathered metrics %v, want exactly %d", names, len(want))
	}
	for name, labels := range want {
		series := all[name]
		if len(series) == 0 {
			t.Errorf("%s not gathered", name)
		}
		for _, s := range series {
			got := make([]string, 0, len(s.labels))
			for k, v := range s.labels {
				got = append(got, k)
				// Token material and Secret names never become label values.
				if strings.Contains(v, "secret") || strings.Contains(v, "uid") {
					t.Errorf("%s label %s=%q", name, k, v)
				}
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(labels) {
				t.Errorf("%s labels %v, want %v", name, got, labels)
			}
		}
	}

	// Naming conventions dashboards rely on: counters end in _total, the histogram and the
	// timestamps carry their unit, and every metric has help text.
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		name := f.GetName()
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		switch f.GetType().String() {
		case "COUNTER":
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case "HISTOGRAM":
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", name)
			}
		case "GAUGE":
			if strings.Contains(name, "timestamp") && !strings.HasSuffix(name, "_timestamp_seconds") {
				t.Errorf("timestamp gauge %s does not end in _timestamp_seconds", name)
			}
		}
	}
}

func TestNilRecorderIsNoOp(t *testing.T) {
	var r *Recorder
	r.RefreshResult("success")
	r.ObserveRequest("token", 200, time.Second)
	r.ObserveConnection(fullConnection("ns", "c", metav1.ConditionTrue))
	r.ObserveConnection(nil)
	r.Forget("ns", "c")
}

func TestNewRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Error("a second New on the same registry did not panic")
		}
	}()
	New(reg)
}

func TestConcurrentUse(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprintf("c%d", i%5)
				c := fullConnection("ns", name, metav1.ConditionTrue)
				if (w+i)%3 == 0 {
					c.Status.AccessToken = nil
				}
				r.ObserveConnection(c)
				r.RefreshResult("success")
				r.ObserveRequest("token", 200, time.Millisecond)
				if i%7 == 0 {
					r.Forget("ns", name)
				}
			}
		})
	}
	wg.Wait()
	s, ok := find(gather(t, reg), mRefreshes, map[string]string{"result": "success"})
	if !ok || s.value != 8*200 {
		t.Errorf("refreshes = %v, want %d", s.value, 8*200)
	}
}

func TestPhaseGaugeFollowsThePhase(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg)
	c := fullConnection("ns", "alice", metav1.ConditionFalse)
	c.Status.Phase = v1.PhaseAwaitingAuthorization
	r.ObserveConnection(c)
	c.Status.Phase = v1.PhaseConnected
	r.ObserveConnection(c)
	bob := fullConnection("ns", "bob", metav1.ConditionFalse)
	bob.Status.Phase = "" // not reconciled yet
	r.ObserveConnection(bob)

	phases := gather(t, reg)[mPhase]
	if len(phases) != 1 || phases[0].labels["phase"] != string(v1.PhaseConnected) || phases[0].labels["name"] != "alice" || phases[0].value != 1 {
		t.Errorf("phase series %+v, want one for alice, Connected", phases)
	}
	r.Forget("ns", "alice")
	if n := len(gather(t, reg)[mPhase]); n != 0 {
		t.Errorf("%d phase series after Forget", n)
	}
}

func TestObserveConnectionConsentAndSyncGauges(t *testing.T) {
	const (
		mConsentExp  = "finx_operator_bankconnection_consent_expiration_timestamp_seconds"
		mSyncSuccess = "finx_operator_bankconnection_last_sync_success_timestamp_seconds"
	)
	reg := prometheus.NewRegistry()
	r := New(reg)
	c := fullConnection("ns", "c", metav1.ConditionTrue)
	given := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Status.Consent = &v1.ConsentStatus{GivenAt: metav1.NewTime(given), ExpiresAt: metav1.NewTime(given.Add(180 * 24 * time.Hour)),
		RenewalDueAt: metav1.NewTime(given.Add(166 * 24 * time.Hour))}
	older, newer := given.Add(time.Hour), given.Add(3*time.Hour)
	c.Status.Accounts = &v1.AccountsStatus{Count: 3, Items: []v1.BankAccountStatus{
		{ID: "A1", SucceededAt: ts(newer)}, {ID: "A2", SucceededAt: ts(older)}, {ID: "A3"},
	}}
	r.ObserveConnection(c)
	all := gather(t, reg)
	if s, ok := find(all, mConsentExp, conn("ns", "c")); !ok || s.value != float64(given.Add(180*24*time.Hour).Unix()) {
		t.Errorf("consent expiration = %v (present %v)", s.value, ok)
	}
	// The oldest success is what says whether the data still flows.
	if s, ok := find(all, mSyncSuccess, conn("ns", "c")); !ok || s.value != float64(older.Unix()) {
		t.Errorf("last sync success = %v (present %v), want %d", s.value, ok, older.Unix())
	}
	for _, s := range all[mConsentExp] {
		if len(s.labels) != 2 {
			t.Errorf("labels %v: only namespace and name are allowed", s.labels)
		}
	}
	c.Status.Consent, c.Status.Accounts = nil, nil
	r.ObserveConnection(c)
	all = gather(t, reg)
	for _, name := range []string{mConsentExp, mSyncSuccess} {
		if _, ok := find(all, name, conn("ns", "c")); ok {
			t.Errorf("%s kept after its status field went", name)
		}
	}
	c.Status.Consent = &v1.ConsentStatus{ExpiresAt: metav1.NewTime(given)}
	r.ObserveConnection(c)
	r.Forget("ns", "c")
	if _, ok := find(gather(t, reg), mConsentExp, conn("ns", "c")); ok {
		t.Error("consent gauge kept after Forget")
	}
}

// The per-connection gauges are the part of the manager's memory that grows with connections
// (issue 10: 5 KiB per connection in all, the cached objects included): a connection's five
// series must cost a few hundred bytes, not a few KiB.
func TestConnectionGaugesStaySmall(t *testing.T) {
	const n = 5000
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	reg := prometheus.NewRegistry()
	r := New(reg)
	before := heap()
	// Each status is garbage once observed, as in a reconcile: what stays is the recorder's.
	for i := range n {
		r.ObserveConnection(fullConnection("tenant-namespace", fmt.Sprintf("connection-%05d", i), metav1.ConditionTrue))
	}
	per := float64(heap()-before) / n
	runtime.KeepAlive(r)
	if per > 512 {
		t.Errorf("%.0f bytes of heap per connection for its gauges, want at most 512", per)
	}
	t.Logf("%.0f bytes of heap per connection", per)
	if got := len(gather(t, reg)[mRefreshExp]); got != n {
		t.Errorf("%d refresh-expiry series, want %d", got, n)
	}
}
