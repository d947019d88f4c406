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

package chart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"sigs.k8s.io/yaml"
)

// The alerts are evaluated with Prometheus's own query engine over series scraped from the real
// manager: a metric renamed, a label value that never occurs or a counter that only appears on its
// first increment shows up here rather than as an alert that never fires in production.

var promParser = parser.NewParser(parser.Options{})

type timedScrape struct {
	at   time.Time
	text string
}

type alertRule struct {
	Alert  string            `json:"alert"`
	Expr   string            `json:"expr"`
	For    string            `json:"for"`
	Labels map[string]string `json:"labels"`
	Annots map[string]string `json:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string      `json:"name"`
		Rules []alertRule `json:"rules"`
	} `json:"groups"`
}

func loadRules(t *testing.T) []alertRule {
	t.Helper()
	var f ruleFile
	if err := yaml.UnmarshalStrict(readFile(t, "charts", "finx-operator", "files", "prometheus-rules.yaml"), &f); err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatal("no alerting rules")
	}
	return out
}

// Every alert has a severity, a summary and a runbook section in docs/operations.md.
func TestAlertsHaveRunbooks(t *testing.T) {
	doc := strings.ToLower(string(readFile(t, "docs", "operations.md")))
	for _, r := range loadRules(t) {
		if _, err := promParser.ParseExpr(r.Expr); err != nil {
			t.Errorf("%s: %v", r.Alert, err)
		}
		if r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical" {
			t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
		}
		if r.Annots["summary"] == "" {
			t.Errorf("%s has no summary", r.Alert)
		}
		anchor := strings.ToLower(r.Alert)
		if r.Annots["runbook"] != "docs/operations.md#"+anchor || !strings.Contains(doc, "### "+anchor) {
			t.Errorf("%s: runbook %q, and docs/operations.md needs a section \"### %s\"", r.Alert, r.Annots["runbook"], r.Alert)
		}
	}
}

// The kustomize PrometheusRule carries the chart's rules.
func TestKustomizeRulesAreTheChartRules(t *testing.T) {
	var chartRules, kustomizeRule map[string]any
	if err := yaml.Unmarshal(readFile(t, "charts", "finx-operator", "files", "prometheus-rules.yaml"), &chartRules); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(readFile(t, "config", "prometheus", "rules.yaml"), &kustomizeRule); err != nil {
		t.Fatal(err)
	}
	a, _ := yaml.Marshal(chartRules)
	b, _ := yaml.Marshal(kustomizeRule["spec"])
	if !bytes.Equal(a, b) {
		t.Error("config/prometheus/rules.yaml's spec differs from charts/finx-operator/files/prometheus-rules.yaml: run make manifests")
	}
	dash := readFile(t, "charts", "finx-operator", "files", "grafana-dashboard.json")
	if !bytes.Equal(dash, readFile(t, "config", "grafana", "finx-operator.json")) {
		t.Error("config/grafana/finx-operator.json differs from the chart's dashboard: run make manifests")
	}
}

// ---------------------------------------------------------------------------------------------
// A Prometheus TSDB reduced to what the engine needs: float samples held in memory.

type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                    { return s.f }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }

type memSeries struct {
	lset    labels.Labels
	samples []chunks.Sample
}

type memStorage struct{ series map[string]*memSeries }

func (m *memStorage) add(lset labels.Labels, at time.Time, v float64) {
	key := lset.String()
	s := m.series[key]
	if s == nil {
		s = &memSeries{lset: lset}
		m.series[key] = s
	}
	s.samples = append(s.samples, fsample{t: at.UnixMilli(), f: v})
}

func (m *memStorage) Querier(int64, int64) (storage.Querier, error) { return m, nil }
func (m *memStorage) Close() error                                  { return nil }
func (m *memStorage) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}
func (m *memStorage) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (m *memStorage) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range m.series {
		match := true
		for _, mt := range ms {
			match = match && mt.Matches(s.lset.Get(mt.Name))
		}
		if match {
			out = append(out, storage.NewListSeries(s.lset, s.samples))
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	return &sliceSet{series: out, i: -1}
}

type sliceSet struct {
	series []storage.Series
	i      int
}

func (s *sliceSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *sliceSet) At() storage.Series                { return s.series[s.i] }
func (s *sliceSet) Err() error                        { return nil }
func (s *sliceSet) Warnings() annotations.Annotations { return nil }

// parseScrape turns an exposition into samples, expanding histograms as Prometheus stores them.
func parseScrape(t *testing.T, text string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			base := map[string]string{}
			for _, lp := range m.GetLabel() {
				base[lp.GetName()] = lp.GetValue()
			}
			put := func(n string, v float64, extra ...string) {
				l := map[string]string{"__name__": n}
				for k, v := range base {
					l[k] = v
				}
				for i := 0; i+1 < len(extra); i += 2 {
					l[extra[i]] = extra[i+1]
				}
				out[labels.FromMap(l).String()] = v
			}
			switch {
			case m.Counter != nil:
				put(name, m.GetCounter().GetValue())
			case m.Gauge != nil:
				put(name, m.GetGauge().GetValue())
			case m.Untyped != nil:
				put(name, m.GetUntyped().GetValue())
			case m.Histogram != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					put(name+"_bucket", float64(b.GetCumulativeCount()), "le", fmt.Sprint(b.GetUpperBound()))
				}
				put(name+"_bucket", float64(h.GetSampleCount()), "le", "+Inf")
				put(name+"_sum", h.GetSampleSum())
				put(name+"_count", float64(h.GetSampleCount()))
			case m.Summary != nil:
				put(name+"_sum", m.GetSummary().GetSampleSum())
				put(name+"_count", float64(m.GetSummary().GetSampleCount()))
			}
		}
	}
	return out
}

// evaluator runs alert expressions at chosen times over the stored series.
type evaluator struct {
	t       *testing.T
	engine  *promql.Engine
	storage *memStorage
}

// active reports whether the alert fires at time at: its expression returned something at every
// evaluation (one a minute) during its `for` duration up to at.
func (e *evaluator) active(r alertRule, at time.Time) bool {
	e.t.Helper()
	hold := time.Duration(0)
	if r.For != "" {
		d, err := model.ParseDuration(r.For)
		if err != nil {
			e.t.Fatalf("%s: for %q: %v", r.Alert, r.For, err)
		}
		hold = time.Duration(d)
	}
	for ts := at.Add(-hold); !ts.After(at); ts = ts.Add(time.Minute) {
		q, err := e.engine.NewInstantQuery(context.Background(), e.storage, nil, r.Expr, ts)
		if err != nil {
			e.t.Fatalf("%s: %v", r.Alert, err)
		}
		res := q.Exec(context.Background())
		if res.Err != nil {
			e.t.Fatalf("%s at %s: %v", r.Alert, ts, res.Err)
		}
		vec, err := res.Vector()
		if err != nil {
			e.t.Fatalf("%s: %v", r.Alert, err)
		}
		q.Close()
		if len(vec) == 0 {
			return false
		}
	}
	return true
}

// checkAlerts evaluates every alert over a timeline made of the manager's real scrapes: the first
// scrape (connected) held for an hour, then the second (after finX ended the chain) for two hours,
// then nothing, as when the operator is gone.
func checkAlerts(t *testing.T, scrapes []timedScrape) {
	rules := loadRules(t)
	if len(scrapes) != 2 {
		t.Fatalf("want 2 scrapes, got %d", len(scrapes))
	}
	first, second := parseScrape(t, scrapes[0].text), parseScrape(t, scrapes[1].text)
	if dir := os.Getenv("FINX_KEEP_SCRAPES"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "scrape-connected.txt"), []byte(scrapes[0].text), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "scrape-revoked.txt"), []byte(scrapes[1].text), 0o644)
	}

	// What the rules refer to must be what the manager exports.
	exported := map[string][]labels.Labels{}
	for _, s := range []map[string]float64{first, second} {
		for key := range s {
			l, err := promParser.ParseMetric(key)
			if err != nil {
				t.Fatal(err)
			}
			exported[l.Get("__name__")] = append(exported[l.Get("__name__")], l)
		}
	}
	checkSelectors := func(what, text string) {
		expr, err := promParser.ParseExpr(text)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			series := exported[vs.Name]
			if len(series) == 0 {
				t.Errorf("%s uses %s, which the manager does not export", what, vs.Name)
				return nil
			}
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" || m.Type != labels.MatchEqual {
					continue
				}
				if !slices.ContainsFunc(series, func(l labels.Labels) bool { return l.Get(m.Name) == m.Value }) {
					t.Errorf("%s selects %s{%s=%q}, which the manager does not export", what, vs.Name, m.Name, m.Value)
				}
			}
			return nil
		})
	}
	for _, r := range rules {
		checkSelectors("alert "+r.Alert, r.Expr)
	}
	// The dashboard's queries too ($__rate_interval is Grafana's; any range stands in for it).
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, "charts", "finx-operator", "files", "grafana-dashboard.json"), &dash); err != nil {
		t.Fatal(err)
	}
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			checkSelectors("dashboard panel "+p.Title, strings.ReplaceAll(tg.Expr, "$__rate_interval", "5m"))
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries", queries)
	}

	start := scrapes[0].at.Truncate(time.Minute)
	st := &memStorage{series: map[string]*memSeries{}}
	hold := func(s map[string]float64, from, to time.Time) {
		for ts := from; !ts.After(to); ts = ts.Add(time.Minute) {
			for key, v := range s {
				l, _ := promParser.ParseMetric(key)
				st.add(l, ts, v)
			}
		}
	}
	revokedAt := start.Add(61 * time.Minute)
	end := start.Add(180 * time.Minute)
	hold(first, start, start.Add(60*time.Minute))
	hold(second, revokedAt, end)
	e := &evaluator{t: t, storage: st, engine: promql.NewEngine(promql.EngineOpts{
		MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: promParser,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() }})}

	byName := map[string]alertRule{}
	for _, r := range rules {
		byName[r.Alert] = r
	}
	expect := func(alert string, at time.Time, want bool, why string) {
		t.Helper()
		r, ok := byName[alert]
		if !ok {
			t.Fatalf("no alert %s", alert)
		}
		if got := e.active(r, at); got != want {
			t.Errorf("%s at +%s: firing=%v, want %v (%s)", alert, at.Sub(start), got, want, why)
		}
	}
	connected := start.Add(60 * time.Minute)
	// The sandbox's refresh tokens live 100 hours: under the 7-day warning.
	expect("FinXRefreshTokenExpiringSoon", connected, true, "a refresh token expiring within 100h, held for an hour")
	expect("FinXRefreshOverdue", connected, true, "nextRefreshAt an hour in the past")
	expect("FinXRefreshOverdue", start.Add(5*time.Minute), false, "nextRefreshAt still ahead")
	for _, healthy := range []string{"FinXOperatorDown", "FinXOperatorNotReconciling", "FinXReconcileErrors",
		"FinXWorkqueueBacklog", "FinXTokenPersistFailed", "FinXCallbackErrors", "FinXRefreshChainsEnding", "FinXAPIErrors",
		"FinXConsentExpiringSoon", "FinXBankDataStale"} {
		expect(healthy, connected, false, "a healthy operator with one connected connection")
	}
	// finX rejected the revoked token: that chain ended, and it shows for an hour.
	expect("FinXRefreshChainsEnding", revokedAt.Add(10*time.Minute), true, "a refresh rejected after revocation")
	expect("FinXRefreshChainsEnding", revokedAt.Add(90*time.Minute), false, "more than an hour after the rejection")
	expect("FinXCallbackErrors", revokedAt.Add(10*time.Minute), false, "a 400 for a request without parameters is not an error of ours")
	// No scrape after the end: the operator is gone.
	expect("FinXOperatorDown", end.Add(20*time.Minute), true, "no series for 20 minutes")
	expect("FinXOperatorDown", end, false, "still scraped")

	// Failures the manager exports at 0 from start-up, increased as they would be: the same series,
	// counted up once a minute for an hour after half an hour of health.
	bumped := func(s map[string]float64, k float64, series ...map[string]string) map[string]float64 {
		out := map[string]float64{}
		for key, v := range s {
			out[key] = v
		}
		for _, want := range series {
			found := false
			for key := range s {
				l, _ := promParser.ParseMetric(key)
				match := true
				for n, v := range want {
					match = match && l.Get(n) == v
				}
				if match {
					out[key] += k
					found = true
				}
			}
			if !found {
				t.Fatalf("the manager does not export %v", want)
			}
		}
		return out
	}
	faulty := []map[string]string{
		{"__name__": "finx_operator_callback_requests_total", "code": "503", "outcome": "unavailable"},
		{"__name__": "finx_operator_token_refreshes_total", "result": "persist_failed"},
		{"__name__": "finx_operator_token_refreshes_total", "result": "unavailable"},
	}
	st = &memStorage{series: map[string]*memSeries{}}
	hold(first, start, start.Add(30*time.Minute))
	for k := 1; k <= 60; k++ {
		ts := start.Add(time.Duration(30+k) * time.Minute)
		for key, v := range bumped(first, float64(k), faulty...) {
			l, _ := promParser.ParseMetric(key)
			st.add(l, ts, v)
		}
	}
	e.storage = st
	failing := start.Add(55 * time.Minute)
	expect("FinXCallbackErrors", failing, true, "the callback answering 503")
	expect("FinXTokenPersistFailed", failing, true, "tokens not stored")
	expect("FinXRefreshesFailing", failing, true, "every refresh failing for 25 minutes")
	expect("FinXRefreshesFailing", start.Add(40*time.Minute), false, "failing for 10 minutes only")
	expect("FinXCallbackErrors", start.Add(29*time.Minute), false, "before the failures")

}
