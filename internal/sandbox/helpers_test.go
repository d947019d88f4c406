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
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fakeClock lets tests expire codes, tokens and flows without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	clock *fakeClock
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	srv := New(cfg)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, srv: srv, ts: ts, clock: clock}
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r result) errDetail(t *testing.T) errorDetail {
	t.Helper()
	var b errorBody
	r.json(t, &b)
	return b.Error
}

// call sends a request; body may be nil, a []byte, a string or a value to encode as JSON.
func (e *env) call(method, path string, body any, hdr map[string]string) result {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: raw}
}

var jsonBasic = map[string]string{"Content-Type": "application/json", "Authorization": basicAuth(DefaultClientID, DefaultClientSecret)}

func basicAuth(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func (e *env) post(path string, body any) result {
	e.t.Helper()
	return e.call(http.MethodPost, path, body, jsonBasic)
}

// link creates an ongoing-access link for user.
func (e *env) link(user string, extra map[string]any) (location, id string) {
	e.t.Helper()
	body := map[string]any{"redirect_uri": "https://app.example.com/callback", "user_id": user, "state": "st-123"}
	for k, v := range extra {
		body[k] = v
	}
	r := e.post("/ongoing/access", body)
	if r.status != http.StatusOK {
		e.t.Fatalf("create link: %d %s", r.status, r.body)
	}
	var out struct{ Location, ID string }
	r.json(e.t, &out)
	return out.Location, out.ID
}

func (e *env) drive(location string, opts DriveOptions) *url.URL {
	e.t.Helper()
	target, err := DriveWidget(context.Background(), e.ts.Client(), location, opts)
	if err != nil {
		e.t.Fatalf("DriveWidget: %v", err)
	}
	u, err := url.Parse(target)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// connect runs a full ongoing flow for user and returns the authorization code.
func (e *env) connect(user string) string {
	e.t.Helper()
	loc, _ := e.link(user, nil)
	code := e.drive(loc, DriveOptions{}).Query().Get("code")
	if code == "" {
		e.t.Fatal("no code in callback")
	}
	return code
}

func (e *env) token(body map[string]any) (tokenResponse, result) {
	e.t.Helper()
	r := e.post("/auth/token", body)
	var tr tokenResponse
	if r.status == http.StatusOK {
		r.json(e.t, &tr)
	}
	return tr, r
}

func (e *env) mustToken(body map[string]any) tokenResponse {
	e.t.Helper()
	tr, r := e.token(body)
	if r.status != http.StatusOK {
		e.t.Fatalf("token %v: %d %s", body["grant_type"], r.status, r.body)
	}
	return tr
}

func (e *env) exchange(code string) tokenResponse {
	e.t.Helper()
	return e.mustToken(map[string]any{"grant_type": "authorization_code", "code": code})
}

func (e *env) refresh(rt string) (tokenResponse, result) {
	e.t.Helper()
	return e.token(map[string]any{"grant_type": "refresh_token", "refresh_token": rt})
}
