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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

const namespace = "finx_operator"

// Recorder owns the operator's metrics. A nil *Recorder is valid and records nothing.
type Recorder struct {
	refreshes *prometheus.CounterVec
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	dropped   prometheus.Counter
	conns     *connections
}

// New creates the metrics and registers them with reg.
func New(reg prometheus.Registerer) *Recorder {
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
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_dropped_total",
			Help: "Kubernetes Events not recorded because the queue of Events to write was full.",
		}),
		conns: newConnections(),
	}
	reg.MustRegister(r.refreshes, r.requests, r.latency, r.dropped, r.conns)
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

// EventDropped counts an Event the recorder's full queue could not take.
func (r *Recorder) EventDropped() {
	if r == nil {
		return
	}
	r.dropped.Inc()
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
	var g gauges
	if rt := c.Status.RefreshToken; rt != nil {
		g.refreshExp = unix(rt.ExpiresAt)
		g.nextRefresh = unix(rt.NextRefreshAt)
	}
	if at := c.Status.AccessToken; at != nil {
		g.accessExp = unix(at.ExpiresAt)
	}
	if cs := c.Status.Consent; cs != nil {
		g.consentExp = unix(&cs.ExpiresAt)
	}
	if a := c.Status.Accounts; a != nil {
		// The oldest success: one account whose data stopped flowing is enough to alert on.
		for _, it := range a.Items {
			if t := unix(it.SucceededAt); t != 0 && (g.syncSuccess == 0 || t < g.syncSuccess) {
				g.syncSuccess = t
			}
		}
	}
	for _, cond := range c.Status.Conditions {
		if cond.Type == v1.ConditionReady && cond.Status == "True" {
			g.ready = true
		}
	}
	g.phase = c.Status.Phase
	r.conns.set(connKey{namespace: c.Namespace, name: c.Name}, g)
}

// Forget drops the gauges of a deleted connection.
func (r *Recorder) Forget(ns, name string) {
	if r == nil {
		return
	}
	r.conns.forget(connKey{namespace: ns, name: name})
}
