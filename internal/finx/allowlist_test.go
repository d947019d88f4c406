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

package finx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestAllowlistMatchesExactly(t *testing.T) {
	a, err := ParseAllowlist([]string{"https://api.finx-s.qwist.cloud", " http://127.0.0.1:8081/ ", "https://gw.example.com/finx"})
	if err != nil {
		t.Fatal(err)
	}
	for base, want := range map[string]bool{
		"https://api.finx-s.qwist.cloud":          true,
		"https://API.finx-s.qwist.cloud/":         true,
		"https://api.finx-s.qwist.cloud:443":      true,
		"http://api.finx-s.qwist.cloud":           false, // another scheme
		"https://api.finx-s.qwist.cloud:8443":     false, // another port
		"https://api.finx-s.qwist.cloud.evil.com": false,
		"https://evil.com/api.finx-s.qwist.cloud": false,
		"http://127.0.0.1:8081":                   true,
		"http://127.0.0.1:8082":                   false, // another port of an allowed host
		"http://localhost:8081":                   false, // another spelling is another host
		"http://127.0.0.1":                        false,
		"https://gw.example.com/finx":             true,
		"https://gw.example.com/finx/":            true,
		"https://gw.example.com/":                 false,
		"https://gw.example.com/finx/other":       false,
		"https://user@api.finx-s.qwist.cloud":     false,
		"https://api.finx-s.qwist.cloud?x=1":      false,
		"not a url":                               false,
	} {
		if got := a.Allows(base); got != want {
			t.Errorf("Allows(%q) = %v, want %v", base, got, want)
		}
	}
	var none *Allowlist
	if none.Allows("https://api.finx-s.qwist.cloud") {
		t.Error("a nil allowlist allows nothing")
	}
}

func TestAllowlistRejectsBadEntries(t *testing.T) {
	for _, bad := range []string{"ftp://x", "https://", "https://u:p@x", "https://x/?q", "//x"} {
		if _, err := ParseAllowlist([]string{bad}); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted it", bad)
		}
	}
}

// capture counts every connection and byte that reaches a server nobody allowed.
type capture struct {
	srv   *httptest.Server
	conns atomic.Int64
	bytes atomic.Int64
}

func newCapture(t *testing.T) *capture {
	c := &capture{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		c.bytes.Add(n + int64(len(r.URL.String())))
		for k, v := range r.Header {
			c.bytes.Add(int64(len(k) + len(strings.Join(v, ""))))
		}
	}))
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

func TestNewRefusesBaseURLOffTheAllowlist(t *testing.T) {
	trap := newCapture(t)
	allow, _ := ParseAllowlist([]string{"http://127.0.0.1:1"})
	_, err := New(Config{BaseURL: trap.srv.URL, ClientID: "id", ClientSecret: "client-secret-value", Allowlist: allow})
	if !errors.Is(err, ErrBaseURLNotAllowed) {
		t.Fatalf("New = %v, want ErrBaseURLNotAllowed", err)
	}
	if trap.conns.Load() != 0 {
		t.Fatal("a connection reached a base URL off the allowlist")
	}
}

// A redirect from the token endpoint is never followed: the refresh token and the client
// credentials stay with the host that was called.
func TestRedirectIsNotFollowed(t *testing.T) {
	trap := newCapture(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, trap.srv.URL+"/auth/token", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(origin.Close)
	allow, _ := ParseAllowlist([]string{origin.URL})
	c, err := New(Config{BaseURL: origin.URL, ClientID: "id", ClientSecret: "client-secret-value", Allowlist: allow})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Refresh(context.Background(), "refresh-token-value")
	if err == nil {
		t.Fatal("a redirect must not count as a token response")
	}
	if strings.Contains(err.Error(), trap.srv.URL) || strings.Contains(err.Error(), "refresh-token-value") {
		t.Errorf("the error reflects the redirect or the token: %v", err)
	}
	if trap.conns.Load() != 0 || trap.bytes.Load() != 0 {
		t.Fatal("the redirect target was contacted")
	}
}

func TestGuardedTransportRefusesOtherHosts(t *testing.T) {
	trap := newCapture(t)
	g := guardedTransport{base: "http://127.0.0.1:1", next: http.DefaultTransport}
	req, _ := http.NewRequest(http.MethodGet, trap.srv.URL+"/auth/token", nil)
	if _, err := g.RoundTrip(req); err == nil {
		t.Fatal("the guard let a request to another host through")
	}
	if trap.conns.Load() != 0 {
		t.Fatal("the other host was contacted")
	}
}
