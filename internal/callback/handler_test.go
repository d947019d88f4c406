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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// fakeHandoff records what reaches it and answers with a canned result.
type fakeHandoff struct {
	mu        sync.Mutex
	res       Result
	err       error
	panicWith any // if set, the next Deliver panics with it (once)
	calls     []Request
	deadlines []time.Duration // remaining time on the context Deliver received; -1 if none
}

func (f *fakeHandoff) Deliver(ctx context.Context, r Request) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r)
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(dl))
	} else {
		f.deadlines = append(f.deadlines, -1)
	}
	if p := f.panicWith; p != nil {
		f.panicWith = nil
		panic(p)
	}
	return f.res, f.err
}

func (f *fakeHandoff) delivered() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.calls...)
}

// logCapture collects every log line (info and error, all verbosities) as JSON text.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (c *logCapture) logger() logr.Logger {
	return funcr.NewJSON(func(obj string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.lines = append(c.lines, obj)
	}, funcr.Options{Verbosity: 100})
}

func (c *logCapture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

func newTestHandler(f *fakeHandoff) (http.Handler, *logCapture) {
	lc := &logCapture{}
	return NewHandler(f, lc.logger()), lc
}

// get sends a GET to /callback with rawQuery exactly as given.
func get(h http.Handler, rawQuery string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, Path, nil)
	req.URL.RawQuery = rawQuery
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// post sends body to /callback as an urlencoded form.
func post(h http.Handler, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func send(h http.Handler, method, rawQuery string) *httptest.ResponseRecorder {
	if method == http.MethodPost {
		return post(h, rawQuery)
	}
	return get(h, rawQuery)
}

func title(body string) string {
	const open = `<h1 id="callback-title">`
	i := strings.Index(body, open)
	if i < 0 {
		return ""
	}
	rest := body[i+len(open):]
	if j := strings.Index(rest, "</h1>"); j >= 0 {
		return rest[:j]
	}
	return ""
}

func assertPageHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	want := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	// The CSP must forbid scripts: default-src 'none' without any script-src relaxation.
	if csp := h.Get("Content-Security-Policy"); strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q allows scripts", csp)
	}
}

func TestHandlerDeliversResult(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		want      Request
		wantTitle string
	}{
		{"success", "state=st-1&success=true&cancel=false&code=co-1&flow_id=fl-1",
			Request{State: "st-1", Code: "co-1", FlowID: "fl-1", Success: true}, "Bank connected"},
		{"cancel", "state=st-1&success=false&cancel=true&flow_id=fl-1",
			Request{State: "st-1", FlowID: "fl-1", Cancel: true}, "Connection cancelled"},
		{"failure", "state=st-1&success=false&cancel=false&code=ignored",
			Request{State: "st-1"}, "Connection not completed"},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tc := range tests {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				f := &fakeHandoff{}
				h, _ := newTestHandler(f)
				rec := send(h, method, tc.query)
				if rec.Code != http.StatusOK {
					t.Fatalf("status = %d, want 200; body:\n%s", rec.Code, rec.Body)
				}
				if got := title(rec.Body.String()); got != tc.wantTitle {
					t.Errorf("page title = %q, want %q", got, tc.wantTitle)
				}
				assertPageHeaders(t, rec)
				calls := f.delivered()
				if len(calls) != 1 || calls[0] != tc.want {
					t.Fatalf("delivered %+v, want exactly [%+v]", calls, tc.want)
				}
			})
		}
	}
}

// A POST is a forwarded form: its parameters come from the body only, so the URL query cannot
// add a second state or smuggle in a code.
func TestHandlerPostReadsBodyNotQuery(t *testing.T) {
	f := &fakeHandoff{}
	h, _ := newTestHandler(f)

	req := httptest.NewRequest(http.MethodPost, Path+"?state=from-query&success=true&code=from-query", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("POST with parameters only in the URL: status = %d, want 400", rec.Code)
	}
	if n := len(f.delivered()); n != 0 {
		t.Fatalf("delivered %d requests, want 0", n)
	}

	req = httptest.NewRequest(http.MethodPost, Path+"?state=from-query&code=from-query", strings.NewReader("state=from-body&success=true&code=body-code"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST with body and query: status = %d, want 200", rec.Code)
	}
	want := Request{State: "from-body", Code: "body-code", Success: true}
	if calls := f.delivered(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("delivered %+v, want [%+v]", calls, want)
	}
}

func TestHandlerHandoffErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		status    int
		wantTitle string
		wantText  string
	}{
		{"unknown state", ErrUnknownState, http.StatusNotFound, "Unknown authorisation link", "does not belong to any pending bank connection"},
		{"wrapped unknown state", fmt.Errorf("lookup: %w", ErrUnknownState), http.StatusNotFound, "Unknown authorisation link", "does not belong"},
		{"state used", ErrStateUsed, http.StatusConflict, "Link already used", "already been used"},
		{"wrapped state used", fmt.Errorf("record: %w", ErrStateUsed), http.StatusConflict, "Link already used", "already been used"},
		{"expired", ErrLinkExpired, http.StatusGone, "Link expired", "has expired"},
		{"wrapped expired", fmt.Errorf("x: %w", ErrLinkExpired), http.StatusGone, "Link expired", "has expired"},
		{"success without a code for an authorisation", ErrNoCode, http.StatusBadRequest, "This request cannot be processed", "no authorisation code"},
		{"other error", errors.New("apiserver unavailable"), http.StatusServiceUnavailable, "Temporarily unavailable", "reload this page"},
		{"context deadline", context.DeadlineExceeded, http.StatusServiceUnavailable, "Temporarily unavailable", "reload this page"},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tc := range tests {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				// A return URL must not turn a refusal into a redirect.
				f := &fakeHandoff{err: tc.err, res: Result{ReturnURL: "https://app.example/done", AppState: "app"}}
				h, lc := newTestHandler(f)
				rec := send(h, method, "state=st&success=true&code=co")
				if rec.Code != tc.status {
					t.Fatalf("status = %d, want %d", rec.Code, tc.status)
				}
				if loc := rec.Header().Get("Location"); loc != "" {
					t.Errorf("refusal redirected to %q", loc)
				}
				body := rec.Body.String()
				if got := title(body); got != tc.wantTitle {
					t.Errorf("title = %q, want %q", got, tc.wantTitle)
				}
				if !strings.Contains(body, tc.wantText) {
					t.Errorf("body does not explain the problem (%q):\n%s", tc.wantText, body)
				}
				assertPageHeaders(t, rec)
				if len(f.delivered()) != 1 {
					t.Errorf("delivered %d times, want 1", len(f.delivered()))
				}
				// Only the unexpected failure is logged as an error.
				logged := strings.Contains(lc.text(), "callback hand-off failed")
				if wantLogged := tc.status == http.StatusServiceUnavailable; logged != wantLogged {
					t.Errorf("hand-off failure logged = %v, want %v; log:\n%s", logged, wantLogged, lc.text())
				}
			})
		}
	}
}

func TestHandlerBadInputNeverReachesHandoff(t *testing.T) {
	long := strings.Repeat("a", maxStateLen+1)
	tests := []struct {
		name   string
		method string
		query  string
		status int
	}{
		{"missing state", http.MethodGet, "success=true&code=c", http.StatusBadRequest},
		{"empty state", http.MethodGet, "state=&success=true&code=c", http.StatusBadRequest},
		{"no parameters", http.MethodGet, "", http.StatusBadRequest},
		{"duplicate state", http.MethodGet, "state=a&state=b&success=false", http.StatusBadRequest},
		{"state too long", http.MethodGet, "state=" + long + "&success=false", http.StatusBadRequest},
		{"success not boolean", http.MethodGet, "state=a&success=1", http.StatusBadRequest},
		{"success and cancel", http.MethodGet, "state=a&success=true&cancel=true&code=c", http.StatusBadRequest},
		{"malformed escape", http.MethodGet, "state=%zz&success=false", http.StatusBadRequest},
		{"semicolon separator", http.MethodGet, "state=a;success=false", http.StatusBadRequest},
		{"post missing state", http.MethodPost, "success=false", http.StatusBadRequest},
		{"post duplicate code", http.MethodPost, "state=a&success=true&code=1&code=2", http.StatusBadRequest},
		{"post malformed body", http.MethodPost, "state=%zz&success=false", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeHandoff{}
			h, _ := newTestHandler(f)
			rec := send(h, tc.method, tc.query)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body:\n%s", rec.Code, tc.status, rec.Body)
			}
			if got := title(rec.Body.String()); got != "This request cannot be processed" {
				t.Errorf("title = %q", got)
			}
			assertPageHeaders(t, rec)
			if calls := f.delivered(); len(calls) != 0 {
				t.Fatalf("bad input reached the Handoff: %+v", calls)
			}
		})
	}

	t.Run("post that is not a form", func(t *testing.T) {
		f := &fakeHandoff{}
		h, _ := newTestHandler(f)
		req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(`{"state":"a","success":false}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", rec.Code)
		}
		if n := len(f.delivered()); n != 0 {
			t.Fatalf("delivered %d, want 0", n)
		}
	})
}

func TestHandlerRedirectsToReturnURL(t *testing.T) {
	const code = "the-authorisation-code-123"
	tests := []struct {
		name        string
		query       string
		wantSuccess string
		wantCancel  string
	}{
		{"success", "state=op-state&success=true&code=" + code + "&flow_id=f", "true", "false"},
		{"cancel", "state=op-state&success=false&cancel=true&code=" + code, "false", "true"},
		{"failure", "state=op-state&success=false&code=" + code, "false", "false"},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tc := range tests {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				f := &fakeHandoff{res: Result{
					// The application's URL already has a query, including a stale state and a
					// code of its own.
					ReturnURL: "https://app.example/banks/done?tab=accounts&state=stale&lang=de#frag",
					AppState:  "app-state-42",
				}}
				h, _ := newTestHandler(f)
				rec := send(h, method, tc.query)
				if rec.Code != http.StatusSeeOther {
					t.Fatalf("status = %d, want 303; body:\n%s", rec.Code, rec.Body)
				}
				loc := rec.Header().Get("Location")
				u, err := url.Parse(loc)
				if err != nil {
					t.Fatalf("Location %q: %v", loc, err)
				}
				if u.Scheme != "https" || u.Host != "app.example" || u.Path != "/banks/done" {
					t.Errorf("Location %q does not point at the return URL", loc)
				}
				q := u.Query()
				checks := map[string]string{
					"state":   "app-state-42", // the application's state, replacing the stale one
					"success": tc.wantSuccess,
					"cancel":  tc.wantCancel,
					"tab":     "accounts",
					"lang":    "de",
				}
				for k, v := range checks {
					if got := q[k]; len(got) != 1 || got[0] != v {
						t.Errorf("Location query %s = %q, want [%q] (Location %q)", k, got, v, loc)
					}
				}
				if q.Has("code") || q.Has("flow_id") {
					t.Errorf("Location %q forwards finX parameters", loc)
				}
				if strings.Contains(loc, code) || strings.Contains(rec.Body.String(), code) {
					t.Errorf("the authorisation code leaked into the redirect: %q", loc)
				}
				if strings.Contains(loc, "op-state") {
					t.Errorf("the operator's state leaked into the redirect: %q", loc)
				}
				if len(f.delivered()) != 1 {
					t.Errorf("delivered %d, want 1", len(f.delivered()))
				}
			})
		}
	}
}

func TestHandlerRedirectWithoutAppState(t *testing.T) {
	f := &fakeHandoff{res: Result{ReturnURL: "https://app.example/done"}}
	h, _ := newTestHandler(f)
	rec := get(h, "state=op-state&success=true&code=secret-code")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303", rec.Code)
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Has("state") {
		t.Errorf("Location carries a state although the application has none: %q", u)
	}
	if q.Get("success") != "true" || q.Get("cancel") != "false" {
		t.Errorf("Location query = %v", q)
	}
}

func TestHandlerInvalidReturnURLShowsPage(t *testing.T) {
	for _, ret := range []string{
		"/relative/path",
		"app.example/no-scheme",
		"https://[::1", // unparseable
		"%zz",
	} {
		t.Run(ret, func(t *testing.T) {
			f := &fakeHandoff{res: Result{ReturnURL: ret, AppState: "a"}}
			h, lc := newTestHandler(f)
			rec := get(h, "state=s&success=true&code=c0de")
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200 (Location %q)", rec.Code, rec.Header().Get("Location"))
			}
			if got := title(rec.Body.String()); got != "Bank connected" {
				t.Errorf("title = %q, want the success page", got)
			}
			if len(f.delivered()) != 1 {
				t.Errorf("delivered %d, want 1: the result is recorded before the redirect is built", len(f.delivered()))
			}
			if !strings.Contains(lc.text(), "returnURL unusable") {
				t.Errorf("the unusable returnURL was not logged:\n%s", lc.text())
			}
		})
	}
}

func TestHandlerTooLarge(t *testing.T) {
	// pad builds a valid failure request of exactly n bytes.
	pad := func(n int) string {
		prefix := "state=s&success=false&pad="
		return prefix + strings.Repeat("p", n-len(prefix))
	}

	t.Run("post body over the limit", func(t *testing.T) {
		f := &fakeHandoff{}
		h, _ := newTestHandler(f)
		rec := post(h, pad(maxBodyBytes+1))
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status = %d, want 413", rec.Code)
		}
		assertPageHeaders(t, rec)
		if len(f.delivered()) != 0 {
			t.Fatal("oversized body reached the Handoff")
		}
	})
	t.Run("post body far over the limit", func(t *testing.T) {
		f := &fakeHandoff{}
		h, _ := newTestHandler(f)
		rec := post(h, pad(4<<20))
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status = %d, want 413", rec.Code)
		}
	})
	t.Run("post body at the limit", func(t *testing.T) {
		f := &fakeHandoff{}
		h, _ := newTestHandler(f)
		rec := post(h, pad(maxBodyBytes))
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
	})
	t.Run("query over the limit", func(t *testing.T) {
		f := &fakeHandoff{}
		h, _ := newTestHandler(f)
		rec := get(h, pad(maxQueryBytes+1))
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status = %d, want 413", rec.Code)
		}
		assertPageHeaders(t, rec)
		if len(f.delivered()) != 0 {
			t.Fatal("oversized query reached the Handoff")
		}
	})
	t.Run("query at the limit", func(t *testing.T) {
		f := &fakeHandoff{}
		h, _ := newTestHandler(f)
		rec := get(h, pad(maxQueryBytes))
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
	})
}

func TestHandlerMethodNotAllowed(t *testing.T) {
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions, http.MethodTrace, "PROPFIND"} {
		t.Run(m, func(t *testing.T) {
			f := &fakeHandoff{}
			h, _ := newTestHandler(f)
			req := httptest.NewRequest(m, Path+"?state=s&success=false", strings.NewReader("state=s&success=false"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", rec.Code)
			}
			if got := rec.Header().Get("Allow"); got != "GET, POST" {
				t.Errorf("Allow = %q, want %q", got, "GET, POST")
			}
			assertPageHeaders(t, rec)
			if len(f.delivered()) != 0 {
				t.Fatal("a request with a wrong method reached the Handoff")
			}
		})
	}
}

func TestHandlerUnknownPath(t *testing.T) {
	for _, p := range []string{"/", "/callback/", "/callback/extra", "/callbacks", "/Callback", "/other"} {
		t.Run(p, func(t *testing.T) {
			f := &fakeHandoff{}
			h, _ := newTestHandler(f)
			req := httptest.NewRequest(http.MethodGet, p+"?state=s&success=false", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotFound {
				t.Fatalf("status = %d, want 404", rec.Code)
			}
			if len(f.delivered()) != 0 {
				t.Fatal("a request to another path reached the Handoff")
			}
		})
	}
}

// The pages are fixed text: nothing from the request is echoed, so hostile input cannot appear in
// them, escaped or not.
func TestHandlerNeverEchoesInput(t *testing.T) {
	const hostile = `<script>alert("x1")</script>`
	enc := url.QueryEscape(hostile)
	tests := []struct {
		name  string
		query string
		err   error
	}{
		{"success page", "state=" + enc + "&success=true&code=" + enc + "&flow_id=" + enc, nil},
		{"cancel page", "state=" + enc + "&success=false&cancel=true&flow_id=" + enc, nil},
		{"bad request page", "state=" + enc + "&state=" + enc + "&success=false", nil},
		{"bad success value", "state=s&success=" + url.QueryEscape("<b>"), nil},
		{"unknown state page", "state=" + enc + "&success=false", ErrUnknownState},
		{"unavailable page", "state=" + enc + "&success=false", errors.New(hostile)},
		{"state used page, hostile error text", "state=" + enc + "&success=false", fmt.Errorf("x: %w: %s", ErrStateUsed, hostile)},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tc := range tests {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				f := &fakeHandoff{err: tc.err}
				h, _ := newTestHandler(f)
				rec := send(h, method, tc.query)
				body := rec.Body.String()
				for _, bad := range []string{"<script", "<b>", "alert(", "&lt;script", "&lt;b&gt;", "x1"} {
					if strings.Contains(body, bad) {
						t.Errorf("status %d page contains %q:\n%s", rec.Code, bad, body)
					}
				}
			})
		}
	}
}

func TestHandlerSecurityHeaders(t *testing.T) {
	tests := []struct {
		name   string
		method string
		query  string
		f      *fakeHandoff
		status int
	}{
		{"result page", http.MethodGet, "state=s&success=false", &fakeHandoff{}, http.StatusOK},
		{"bad request", http.MethodGet, "state=s", &fakeHandoff{}, http.StatusBadRequest},
		{"unknown state", http.MethodGet, "state=s&success=false", &fakeHandoff{err: ErrUnknownState}, http.StatusNotFound},
		{"wrong method", http.MethodPut, "", &fakeHandoff{}, http.StatusMethodNotAllowed},
		{"state used", http.MethodGet, "state=s&success=false", &fakeHandoff{err: ErrStateUsed}, http.StatusConflict},
		{"expired", http.MethodGet, "state=s&success=false", &fakeHandoff{err: ErrLinkExpired}, http.StatusGone},
		{"too large", http.MethodGet, "x=" + strings.Repeat("x", maxQueryBytes), &fakeHandoff{}, http.StatusRequestEntityTooLarge},
		{"panic", http.MethodGet, "state=s&success=false", &fakeHandoff{panicWith: "boom"}, http.StatusInternalServerError},
		{"unavailable", http.MethodGet, "state=s&success=false", &fakeHandoff{err: errors.New("x")}, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(tc.f)
			req := httptest.NewRequest(tc.method, Path, nil)
			req.URL.RawQuery = tc.query
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			assertPageHeaders(t, rec)
		})
	}
}

func TestHandlerRecoversFromPanic(t *testing.T) {
	f := &fakeHandoff{panicWith: "handoff exploded"}
	h, lc := newTestHandler(f)
	srv := httptest.NewServer(h)
	defer srv.Close()

	fetch := func() (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + Path + "?state=s&success=false")
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading body: %v", err)
		}
		return resp.StatusCode, string(b)
	}

	status, body := fetch()
	if status != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", status)
	}
	if got := title(body); got != "Internal error" {
		t.Errorf("title = %q, want %q", got, "Internal error")
	}
	if strings.Contains(body, "exploded") {
		t.Errorf("the panic value is shown to the user:\n%s", body)
	}
	if !strings.Contains(lc.text(), "callback handler panicked") {
		t.Errorf("the panic was not logged:\n%s", lc.text())
	}

	// The same server keeps serving.
	for range 3 {
		if status, _ := fetch(); status != http.StatusOK {
			t.Fatalf("after a panic: status = %d, want 200", status)
		}
	}
	if n := len(f.delivered()); n != 4 {
		t.Errorf("delivered %d, want 4", n)
	}
}

func TestHandlerBoundsHandoffTime(t *testing.T) {
	f := &fakeHandoff{}
	h, _ := newTestHandler(f)
	get(h, "state=s&success=false")
	if len(f.deadlines) != 1 {
		t.Fatalf("delivered %d, want 1", len(f.deadlines))
	}
	if d := f.deadlines[0]; d <= 0 || d > deliverTimeout {
		t.Fatalf("Deliver's context has %v left, want a deadline within %v", d, deliverTimeout)
	}
}

// The log is for operators: it records method, status and outcome, never the code or the state.
func TestHandlerLogsNeverContainCodeOrState(t *testing.T) {
	const (
		state  = "STATE-7f3a9c1e-secret"
		code   = "CODE-b81d44e0-secret"
		flowID = "FLOW-0c6d1f-secret"
	)
	q := "state=" + state + "&success=true&code=" + code + "&flow_id=" + flowID
	scenarios := []struct {
		name   string
		method string
		query  string
		f      *fakeHandoff
	}{
		{"success page", http.MethodGet, q, &fakeHandoff{}},
		{"success post", http.MethodPost, q, &fakeHandoff{}},
		{"redirect", http.MethodGet, q, &fakeHandoff{res: Result{ReturnURL: "https://app.example/x", AppState: "app"}}},
		{"bad return url", http.MethodGet, q, &fakeHandoff{res: Result{ReturnURL: "/rel"}}},
		{"unknown state", http.MethodGet, q, &fakeHandoff{err: ErrUnknownState}},
		{"state used", http.MethodPost, q, &fakeHandoff{err: ErrStateUsed}},
		{"expired", http.MethodGet, q, &fakeHandoff{err: ErrLinkExpired}},
		{"unavailable", http.MethodGet, q, &fakeHandoff{err: errors.New("apiserver timeout")}},
		{"duplicate state", http.MethodGet, q + "&state=" + state, &fakeHandoff{}},
		{"both success and cancel", http.MethodGet, q + "&cancel=true", &fakeHandoff{}},
		{"too large", http.MethodGet, q + "&pad=" + strings.Repeat("p", maxQueryBytes), &fakeHandoff{}},
		{"panic", http.MethodGet, q, &fakeHandoff{panicWith: "boom"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h, lc := newTestHandler(sc.f)
			rec := send(h, sc.method, sc.query)
			logs := lc.text()
			if logs == "" {
				t.Fatal("nothing was logged")
			}
			for _, secret := range []string{state, code, flowID} {
				if strings.Contains(logs, secret) {
					t.Errorf("log contains %q:\n%s", secret, logs)
				}
			}
			if rec.Code != http.StatusInternalServerError && !strings.Contains(logs, fmt.Sprintf(`"status":%d`, rec.Code)) {
				t.Errorf("the access log line does not record status %d:\n%s", rec.Code, logs)
			}
		})
	}
}

// listenAddress finds the bound address in the server's startup log line.
func listenAddress(t *testing.T, lc *logCapture) string {
	t.Helper()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, line := range lc.lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "callback endpoint listening" {
			if m["path"] != Path {
				t.Errorf("logged path = %v, want %q", m["path"], Path)
			}
			addr, _ := m["address"].(string)
			return addr
		}
	}
	t.Fatalf("no listening line in the log:\n%s", strings.Join(lc.lines, "\n"))
	return ""
}

func TestServerStart(t *testing.T) {
	f := &fakeHandoff{}
	lc := &logCapture{}
	ready := make(chan struct{})
	s := &Server{Addr: "127.0.0.1:0", Handoff: f, Log: lc.logger(), Ready: ready}
	if s.NeedLeaderElection() {
		t.Error("NeedLeaderElection() = true; every replica must serve callbacks")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Start returned before Ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Ready was not closed")
	}
	addr := listenAddress(t, lc)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	fetch := func(path string) (int, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	if status, err := fetch(Path + "?state=s&success=false&cancel=true"); err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: status %d, err %v; want 200", Path, status, err)
	}
	if calls := f.delivered(); len(calls) != 1 || calls[0] != (Request{State: "s", Cancel: true}) {
		t.Fatalf("delivered %+v", calls)
	}
	if status, err := fetch("/metrics"); err != nil || status != http.StatusNotFound {
		t.Fatalf("GET /metrics: status %d, err %v; want 404", status, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Start returned %v after the context was cancelled, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after the context was cancelled")
	}
	if _, err := fetch(Path + "?state=s&success=false"); err == nil {
		t.Fatal("the server still answers after Start returned")
	}
}

func TestServerStartAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()

	ready := make(chan struct{})
	s := &Server{Addr: ln.Addr().String(), Handoff: &fakeHandoff{}, Log: logr.Discard(), Ready: ready}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Start on an address in use returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start on an address in use did not return")
	}
	select {
	case <-ready:
		t.Error("Ready was closed although nothing was bound")
	default:
	}
}
