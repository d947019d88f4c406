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

// Package metrics defines the operator's Prometheus metrics. Labels are bounded and never carry token
// material: connections are identified by namespace and name only.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

const namespace = "finx_operator"

// Recorder owns the operator's metrics. A nil *Recorder is valid and records nothing.
type Recorder struct {
	refreshes   *prometheus.CounterVec
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	refreshExp  *prometheus.GaugeVec
	accessExp   *prometheus.GaugeVec
	nextRefresh *prometheus.GaugeVec
	ready       *prometheus.GaugeVec
	phase       *prometheus.GaugeVec
	consentExp  *prometheus.GaugeVec
	syncSuccess *prometheus.GaugeVec

	mu sync.Mutex
}

// New creates the metrics and registers them with reg.
func New(reg prometheus.Registerer) *Recorder {
	conn := []string{"namespace", "name"}
	r := &Recorder{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_refreshes_total",
			Help: "Token refreshes by result: success, rejected, rotation_lost, token_missing, unavailable, bad_response, client_auth_failed, bad_request, persist_failed.",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "finx_requests_total",
			Help: "Requests to the finX API by endpoint and HTTP status code (0 when no response arrived).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "finx_request_duration_seconds",
			Help:    "Latency of requests to the finX API by endpoint.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		refreshExp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "bankconnection_refresh_token_expiration_timestamp_seconds",
			Help: "When the connection's refresh token expires (Unix time).",
		}, conn),
		accessExp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "bankconnection_access_token_expiration_timestamp_seconds",
			Help: "When the access token in the connection's Secret expires (Unix time).",
		}, conn),
		nextRefresh: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "bankconnection_next_refresh_timestamp_seconds",
			Help: "When the operator next refreshes the connection's tokens (Unix time).",
		}, conn),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "bankconnection_ready",
			Help: "1 when the connection's Ready condition is True, else 0.",
		}, conn),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "bankconnection_phase",
			Help: "1 for the connection's current phase; the series of other phases do not exist.",
		}, append(conn, "phase")),
	}
	r.consentExp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "bankconnection_consent_expiration_timestamp_seconds",
		Help: "When the bank consent the end user gave for the connection expires (Unix time).",
	}, conn)
	r.syncSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "bankconnection_last_sync_success_timestamp_seconds",
		Help: "The oldest of the last successful bank syncs of the connection's accounts, as last read from finX (Unix time).",
	}, conn)
	reg.MustRegister(r.refreshes, r.requests, r.latency, r.refreshExp, r.accessExp, r.nextRefresh, r.ready, r.phase,
		r.consentExp, r.syncSuccess)
	// Every result starts at 0: an alert on increase() sees a first failure only if the series
	// existed before it.
	for _, result := range RefreshResults {
		r.refreshes.WithLabelValues(result)
	}
	return r
}

// RefreshResults are the values of token_refreshes_total's result label.
var RefreshResults = []string{"success", "rejected", "rotation_lost", "token_missing", "unavailable",
	"bad_response", "client_auth_failed", "bad_request", "persist_failed"}

// RefreshResult counts a refresh outcome.
func (r *Recorder) RefreshResult(result string) {
	if r == nil {
		return
	}
	r.refreshes.WithLabelValues(result).Inc()
}

// ObserveRequest records a finX request; it is the finX client's Observe hook.
func (r *Recorder) ObserveRequest(endpoint string, status int, d time.Duration) {
	if r == nil {
		return
	}
	r.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	r.latency.WithLabelValues(endpoint).Observe(d.Seconds())
}

// ObserveConnection updates the per-connection gauges from its status.
func (r *Recorder) ObserveConnection(c *v1.BankConnection) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := prometheus.Labels{"namespace": c.Namespace, "name": c.Name}
	set := func(g *prometheus.GaugeVec, t *time.Time) {
		if t == nil {
			g.Delete(l)
			return
		}
		g.With(l).Set(float64(t.Unix()))
	}
	var refreshExp, next, accessExp *time.Time
	if rt := c.Status.RefreshToken; rt != nil {
		if rt.ExpiresAt != nil {
			refreshExp = &rt.ExpiresAt.Time
		}
		if rt.NextRefreshAt != nil {
			next = &rt.NextRefreshAt.Time
		}
	}
	if at := c.Status.AccessToken; at != nil && at.ExpiresAt != nil {
		accessExp = &at.ExpiresAt.Time
	}
	set(r.refreshExp, refreshExp)
	set(r.nextRefresh, next)
	set(r.accessExp, accessExp)
	var consentExp, synced *time.Time
	if cs := c.Status.Consent; cs != nil {
		consentExp = &cs.ExpiresAt.Time
	}
	if a := c.Status.Accounts; a != nil {
		for _, it := range a.Items {
			if it.SucceededAt != nil && (synced == nil || it.SucceededAt.Time.Before(*synced)) {
				synced = &it.SucceededAt.Time
			}
		}
	}
	set(r.consentExp, consentExp)
	set(r.syncSuccess, synced)
	ready := 0.0
	for _, cond := range c.Status.Conditions {
		if cond.Type == v1.ConditionReady && cond.Status == "True" {
			ready = 1
		}
	}
	r.ready.With(l).Set(ready)
	// One series per connection: the old phase's series goes when the phase changes.
	r.phase.DeletePartialMatch(l)
	if c.Status.Phase != "" {
		r.phase.WithLabelValues(c.Namespace, c.Name, string(c.Status.Phase)).Set(1)
	}
}

// Forget drops the gauges of a deleted connection.
func (r *Recorder) Forget(ns, name string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := prometheus.Labels{"namespace": ns, "name": name}
	r.refreshExp.Delete(l)
	r.accessExp.Delete(l)
	r.nextRefresh.Delete(l)
	r.ready.Delete(l)
	r.consentExp.Delete(l)
	r.syncSuccess.Delete(l)
	r.phase.DeletePartialMatch(l)
}
