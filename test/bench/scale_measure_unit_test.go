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
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestScale subtracts the harness's own requests (counted by requestKey) from the API server's
// (parsed by parseRequestTotals): the two must name a request alike, or the subtraction is wrong.
// These checks need no cluster, so they run with every `go test`.

func TestRequestKeyNamesRequestsAsTheAPIServerDoes(t *testing.T) {
	const g = "/apis/banking.finx-operator.io/v1alpha1"
	for _, tc := range []struct {
		method, url, contentType, want string
	}{
		{"POST", g + "/namespaces/ns/bankconnections", "", "POST bankconnections"},
		{"GET", g + "/namespaces/ns/bankconnections/c1", "", "GET bankconnections"},
		{"GET", g + "/namespaces/ns/bankconnections?limit=500", "", "LIST bankconnections"},
		{"GET", g + "/bankconnections?watch=true&resourceVersion=5", "", "WATCH bankconnections"},
		{"PATCH", g + "/namespaces/ns/bankconnections/c1/status", "application/merge-patch+json", "PATCH bankconnections/status"},
		{"PATCH", "/api/v1/namespaces/ns/secrets/s", "application/apply-patch+yaml", "APPLY secrets"},
		{"DELETE", g + "/namespaces/ns/bankconnections", "", "DELETECOLLECTION bankconnections"},
		{"DELETE", "/api/v1/namespaces/ns", "", "DELETE namespaces"},
		{"POST", "/api/v1/namespaces", "", "POST namespaces"},
		{"GET", "/api/v1", "", ""},
		{"GET", "/metrics", "", ""},
	} {
		req, err := http.NewRequest(tc.method, "https://127.0.0.1:6443"+tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		if got := requestKey(req); got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

func TestParseRequestTotalsSumsByVerbAndResource(t *testing.T) {
	const body = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 7
apiserver_request_total{code="404",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="banking.finx-operator.io",resource="bankconnections",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 2
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/readyz",verb="GET",version=""} 40
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="replicasets",scope="cluster",subresource="",verb="WATCH",version="v1"} 1
apiserver_request_duration_seconds_count{verb="GET",resource="secrets"} 99
`
	got, err := parseRequestTotals(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := requests{"GET secrets": 7, "GET secrets 404": 3, "PATCH bankconnections/status": 2, "WATCH replicasets": 1}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got.reads() != 10 || got.writes() != 2 || got.writes("bankconnections") != 0 || got.watches() != 1 {
		t.Errorf("reads %v, writes %v, writes without bankconnections %v, watches %v",
			got.reads(), got.writes(), got.writes("bankconnections"), got.watches())
	}
	if f := got.format(1); f != "GET secrets=7, GET secrets 404=3, PATCH bankconnections/status=2, (and 1 watches ended)" {
		t.Errorf("format: %s", f)
	}
}

func TestProcessFiguresOfThisProcess(t *testing.T) {
	m, err := processMemory(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if m.rssKiB <= 0 || m.peakKiB < m.rssKiB {
		t.Errorf("VmRSS %d KiB, VmHWM %d KiB: want 0 < VmRSS <= VmHWM", m.rssKiB, m.peakKiB)
	}
	// VmRSS is the sum of RssAnon, RssFile and RssShmem, and a Go test binary's code is file pages.
	if m.anonKiB <= 0 || m.anonKiB >= m.rssKiB {
		t.Errorf("RssAnon %d KiB, VmRSS %d KiB: want 0 < RssAnon < VmRSS", m.anonKiB, m.rssKiB)
	}
	if _, err := processCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
}
