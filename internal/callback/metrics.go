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

package callback

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// requests counts answers of the callback endpoint. Both labels are bounded: an HTTP status the
// handler chose and one of its outcome words (success, cancel, failure, bad-request, method,
// too-large, unknown-state, state-used, expired, unavailable). Nothing of the request is a label.
var requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "finx_operator_callback_requests_total",
	Help: "Requests to the callback endpoint by HTTP status code and outcome.",
}, []string{"code", "outcome"})

func init() {
	// The failure an alert watches for starts at 0, so that its first occurrence is an increase.
	requests.WithLabelValues("503", "unavailable")
}

// Collectors are the callback endpoint's metrics, for the manager to register with its registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{requests} }

func observe(status int, outcome string) {
	requests.WithLabelValues(strconv.Itoa(status), outcome).Inc()
}
