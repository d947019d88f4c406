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

package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
)

// BenchmarkTokenEndpointLoopback measures refresh-token rotations through
// real HTTP on loopback, several chains in parallel.
func BenchmarkTokenEndpointLoopback(b *testing.B) {
	srv := New(Config{})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	const parallelism = 4
	workers := runtime.GOMAXPROCS(0) * parallelism
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	chains := make(chan string, workers)
	for i := 0; i < workers; i++ {
		chains <- startChain(b, srv, hc, ts.URL)
	}
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := <-chains
		for pb.Next() {
			rt = refreshOnce(b, hc, ts.URL, rt)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func startChain(b *testing.B, srv *Server, hc *http.Client, base string) string {
	body, _ := json.Marshal(map[string]string{"redirect_uri": "https://x/cb", "user_id": "bench"})
	var link struct{ ID string }
	postJSON(b, hc, base+"/ongoing/access", body, &link)
	target, err := srv.CompleteFlow(link.ID, true)
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(target)
	body, _ = json.Marshal(map[string]string{"grant_type": "authorization_code", "code": u.Query().Get("code")})
	var tok tokenResponse
	postJSON(b, hc, base+"/auth/token", body, &tok)
	return tok.RefreshToken
}

func refreshOnce(b *testing.B, hc *http.Client, base, rt string) string {
	body, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
	var tok tokenResponse
	postJSON(b, hc, base+"/auth/token", body, &tok)
	return tok.RefreshToken
}

func postJSON(b *testing.B, hc *http.Client, target string, body []byte, out any) {
	req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	resp, err := hc.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Errorf("%d %s", resp.StatusCode, raw)
		return
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.Error(err)
	}
}
