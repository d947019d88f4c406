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
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// connections holds the per-connection gauges as plain values and makes their series at each
// scrape. Gauge vectors keep a labelled metric object per series, about 1 KiB for a connection's
// five; this keeps a map entry of about a hundred bytes, and a phase change costs no scan of every
// connection's series.
type connections struct {
	refreshExp, accessExp, nextRefresh, consentExp, syncSuccess, ready, phase *prometheus.Desc

	mu  sync.Mutex
	all map[connKey]gauges
}

type connKey struct{ namespace, name string }

// gauges are one connection's values. A zero time has no series.
type gauges struct {
	refreshExp, accessExp, nextRefresh int64 // Unix seconds
	consentExp, syncSuccess            int64 // Unix seconds
	ready                              bool
	phase                              v1.Phase // "": no series
}

func unix(t *metav1.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.Unix()
}

func newConnections() *connections {
	conn := []string{"namespace", "name"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &connections{
		refreshExp: desc("bankconnection_refresh_token_expiration_timestamp_seconds",
			"When the connection's refresh token expires (Unix time).", conn),
		accessExp: desc("bankconnection_access_token_expiration_timestamp_seconds",
			"When the access token in the connection's Secret expires (Unix time).", conn),
		nextRefresh: desc("bankconnection_next_refresh_timestamp_seconds",
			"When the operator next refreshes the connection's tokens (Unix time).", conn),
		consentExp: desc("bankconnection_consent_expiration_timestamp_seconds",
			"When the bank consent the end user gave for the connection expires (Unix time).", conn),
		syncSuccess: desc("bankconnection_last_sync_success_timestamp_seconds",
			"The oldest of the last successful bank syncs of the connection's accounts, as last read from finX (Unix time).", conn),
		ready: desc("bankconnection_ready",
			"1 when the connection's Ready condition is True, else 0.", conn),
		phase: desc("bankconnection_phase",
			"1 for the connection's current phase; the series of other phases do not exist.", append(conn, "phase")),
		all: map[connKey]gauges{},
	}
}

func (c *connections) set(k connKey, g gauges) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all[k] = g
}

func (c *connections) forget(k connKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.all, k)
}

// Describe implements prometheus.Collector.
func (c *connections) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.refreshExp, c.accessExp, c.nextRefresh, c.consentExp, c.syncSuccess, c.ready, c.phase} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It copies the values first, so a slow scrape does not
// hold up reconciles.
func (c *connections) Collect(ch chan<- prometheus.Metric) {
	type entry struct {
		k connKey
		g gauges
	}
	c.mu.Lock()
	entries := make([]entry, 0, len(c.all))
	for k, g := range c.all {
		entries = append(entries, entry{k, g})
	}
	c.mu.Unlock()
	for _, e := range entries {
		ns, name := e.k.namespace, e.k.name
		for _, ts := range []struct {
			d *prometheus.Desc
			v int64
		}{{c.refreshExp, e.g.refreshExp}, {c.nextRefresh, e.g.nextRefresh}, {c.accessExp, e.g.accessExp},
			{c.consentExp, e.g.consentExp}, {c.syncSuccess, e.g.syncSuccess}} {
			if ts.v != 0 {
				ch <- prometheus.MustNewConstMetric(ts.d, prometheus.GaugeValue, float64(ts.v), ns, name)
			}
		}
		ready := 0.0
		if e.g.ready {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready, ns, name)
		if e.g.phase != "" {
			ch <- prometheus.MustNewConstMetric(c.phase, prometheus.GaugeValue, 1, ns, name, string(e.g.phase))
		}
	}
}
