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
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestControlRoutesOnlyWhenEnabled(t *testing.T) {
	e := newEnv(t, Config{})
	for _, p := range []string{"/_sandbox/stats", "/_sandbox/faults"} {
		if r := e.call(http.MethodGet, p, nil, nil); r.status != 404 {
			t.Errorf("%s reachable without EnableTestControls: %d", p, r.status)
		}
	}
}

func TestControlRoutes(t *testing.T) {
	e := newEnv(t, Config{EnableTestControls: true})
	// Faults: Go duration strings and integer milliseconds.
	r := e.call(http.MethodPost, "/_sandbox/faults", `{"endpoint":"token","grant_type":"refresh_token","status":503,"count":1,"retry_after":"2s"}`, nil)
	if r.status != 204 {
		t.Fatalf("inject: %d %s", r.status, r.body)
	}
	r = e.call(http.MethodPost, "/_sandbox/faults", `{"endpoint":"accounts","latency":50,"count":1}`, nil)
	if r.status != 204 {
		t.Fatalf("inject latency: %d %s", r.status, r.body)
	}
	for _, bad := range []string{`{"endpoint":"nope"}`, `{"endpoint":"accounts","grant_type":"refresh_token"}`,
		`{"endpoint":"token","latency":"soon"}`, `{"endpoint":"token","status":42}`, `{"endpoint":"token","latency":-5}`} {
		if r := e.call(http.MethodPost, "/_sandbox/faults", bad, nil); r.status != 400 {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	tr := e.exchange(e.connect("ctl")) // authorization_code: not matched by the refresh fault
	_, rr := e.refresh(tr.RefreshToken)
	if rr.status != 503 || rr.header.Get("Retry-After") != "2" || rr.errDetail(t).Code != 30006 {
		t.Errorf("fault: %d %q %s", rr.status, rr.header.Get("Retry-After"), rr.body)
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenActive {
		t.Error("a faulted refresh spent the token")
	}
	start := time.Now()
	if r := e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)); r.status != 200 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("latency fault: %d after %v", r.status, time.Since(start))
	}
	next, rr := e.refresh(tr.RefreshToken)
	if rr.status != 200 {
		t.Fatalf("count=1 fault still active: %d", rr.status)
	}
	e.call(http.MethodPost, "/_sandbox/faults", `{"endpoint":"token","status":500}`, nil)
	if r := e.call(http.MethodDelete, "/_sandbox/faults", nil, nil); r.status != 204 {
		t.Fatal(r.status)
	}
	if _, rr := e.refresh(next.RefreshToken); rr.status != 200 {
		t.Errorf("after clearing: %d", rr.status)
	}

	// Complete a flow without the widget.
	_, id := e.link("ctl2", nil)
	r = e.call(http.MethodPost, "/_sandbox/flows/"+id+"/complete", `{"approve":true}`, nil)
	var done struct{ Redirect string }
	r.json(t, &done)
	u, _ := url.Parse(done.Redirect)
	if r.status != 200 || u.Query().Get("success") != "true" || u.Query().Get("code") == "" {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	if r := e.call(http.MethodPost, "/_sandbox/flows/"+id+"/complete", `{"approve":false}`, nil); r.status != 409 {
		t.Errorf("complete twice: %d", r.status)
	}
	if r := e.call(http.MethodPost, "/_sandbox/flows/nope/complete", nil, nil); r.status != 404 {
		t.Errorf("complete unknown: %d", r.status)
	}
	e.exchange(u.Query().Get("code"))

	r = e.call(http.MethodPost, "/_sandbox/users/ctl2/revoke", nil, nil)
	var rev struct{ Revoked int }
	r.json(t, &rev)
	if rev.Revoked != 2 {
		t.Errorf("revoked %d", rev.Revoked)
	}

	var st Stats
	e.call(http.MethodGet, "/_sandbox/stats", nil, nil).json(t, &st)
	tok := st.Endpoints["token"]
	ref := st.Endpoints["token/refresh_token"]
	if tok.Calls != 5 || ref.Calls != 3 || ref.Faulted != 1 || ref.ByStatus[503] != 1 || ref.ByStatus[200] != 2 {
		t.Errorf("token stats %+v refresh %+v", tok, ref)
	}
	if st.Endpoints["ongoing_access"].ByStatus[200] != 2 || st.Endpoints["accounts"].Calls != 1 {
		t.Errorf("stats %+v", st.Endpoints)
	}
}

func TestDropAfterRotation(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("drop"))
	e.srv.InjectFault(Fault{Endpoint: EndpointToken, GrantType: grantRefreshToken, DropAfterRotation: true, Count: 1})
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/auth/token",
		strings.NewReader(`{"grant_type":"refresh_token","refresh_token":"`+tr.RefreshToken+`"}`))
	for k, v := range jsonBasic {
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response (%d) from a dropped connection", resp.StatusCode)
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenSpent {
		t.Error("the rotation did not happen before the drop")
	}
	if _, r := e.refresh(tr.RefreshToken); r.status != 400 {
		t.Errorf("old token after drop: %d", r.status)
	}
	if st := e.srv.Stats().Endpoints["token/refresh_token"]; st.Dropped != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestStatusAfterWork(t *testing.T) {
	e := newEnv(t, Config{RefreshReuseGrace: 30 * time.Second})
	tr := e.exchange(e.connect("gateway"))
	e.srv.InjectFault(Fault{Endpoint: EndpointToken, GrantType: grantRefreshToken, Status: http.StatusInternalServerError, StatusAfterWork: true, Count: 1})
	if _, r := e.refresh(tr.RefreshToken); r.status != http.StatusInternalServerError {
		t.Fatalf("faulted refresh: %d, want the injected 500", r.status)
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenSpent {
		t.Fatal("the rotation did not happen behind the 500")
	}
	// Inside the reuse grace the replay gets the successor the 500 hid; it is live.
	next, r := e.refresh(tr.RefreshToken)
	if r.status != http.StatusOK || e.srv.RefreshTokenState(next.RefreshToken) != TokenActive {
		t.Fatalf("replay within grace: %d", r.status)
	}
	if st := e.srv.Stats().Endpoints["token/refresh_token"]; st.ByStatus[http.StatusInternalServerError] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestAnswerLatency(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("slow-answer"))
	e.srv.InjectFault(Fault{Endpoint: EndpointToken, GrantType: grantRefreshToken, AnswerLatency: 300 * time.Millisecond, Count: 1})
	start := time.Now()
	next, r := e.refresh(tr.RefreshToken)
	if r.status != http.StatusOK || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("late answer: %d after %s", r.status, time.Since(start))
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenSpent || e.srv.RefreshTokenState(next.RefreshToken) != TokenActive {
		t.Error("the rotation behind the late answer is not the one answered")
	}
}

func TestHold(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("held"))
	release := make(chan struct{})
	e.srv.InjectFault(Fault{Endpoint: EndpointToken, GrantType: grantRefreshToken, Hold: release, Count: 1})
	type answer struct {
		next tokenResponse
		r    result
	}
	done := make(chan answer, 1)
	go func() {
		next, r := e.refresh(tr.RefreshToken)
		done <- answer{next, r}
	}()
	select {
	case a := <-done:
		t.Fatalf("answered %d while held", a.r.status)
	case <-time.After(200 * time.Millisecond):
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenActive {
		t.Fatal("a held refresh rotated before its release")
	}
	close(release)
	var a answer
	select {
	case a = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer 10 s after the release") // also if the helper failed in its goroutine
	}
	if a.r.status != http.StatusOK || e.srv.RefreshTokenState(tr.RefreshToken) != TokenSpent || e.srv.RefreshTokenState(a.next.RefreshToken) != TokenActive {
		t.Fatalf("released refresh: %d", a.r.status)
	}
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRequestLogHasNoSecrets(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	loc, _ := e.link("logger", map[string]any{"state": "STATE-VALUE-42"})
	cb := e.drive(loc, DriveOptions{})
	code := cb.Query().Get("code")
	tr := e.exchange(code)
	next, _ := e.refresh(tr.RefreshToken)
	e.call(http.MethodGet, "/rest/transactions?count=3", nil, bearer(next.AccessToken))
	e.call(http.MethodPost, "/auth/token", `{"grant_type":"refresh_token","refresh_token":"`+tr.RefreshToken+`"}`, jsonBasic)

	logs := buf.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < 8 {
		t.Fatalf("expected one line per request, got %d:\n%s", len(lines), logs)
	}
	for _, l := range lines {
		for _, k := range []string{"method=", "path=", "status=", "duration="} {
			if !strings.Contains(l, k) {
				t.Errorf("log line lacks %s: %s", k, l)
			}
		}
	}
	for name, secret := range map[string]string{"widget token": widgetToken(t, loc), "code": code, "state": "STATE-VALUE-42",
		"access token": tr.AccessToken, "refresh token": tr.RefreshToken, "new refresh token": next.RefreshToken,
		"client secret": DefaultClientSecret, "query": "count=3", "basic header": jsonBasic["Authorization"][6:]} {
		if strings.Contains(logs, secret) {
			t.Errorf("request log contains the %s", name)
		}
	}
	if !strings.Contains(logs, "path=/auth/token status=400") {
		t.Errorf("rejected refresh not logged with its status:\n%s", logs)
	}
}
