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
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finx-operator/finx-operator/internal/sandbox"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
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

// fixture is a client wired to an in-process sandbox. It remembers every
// secret value it sees and, at cleanup, checks that none reached the
// sandbox's request log; checkErr does the same for error strings.
type fixture struct {
	t       *testing.T
	sb      *sandbox.Server
	ts      *httptest.Server
	clock   *fakeClock
	c       *Client
	logs    *syncBuffer
	mu      sync.Mutex
	secrets map[string]string // value -> description
}

const testSecret = "client-secret-for-tests-7f3a"

func newFixture(t *testing.T, scfg sandbox.Config, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &fakeClock{t: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)},
		logs: &syncBuffer{}, secrets: map[string]string{}}
	scfg.ClientSecret = testSecret
	if scfg.Now == nil {
		scfg.Now = f.clock.Now
	}
	scfg.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	f.sb = sandbox.New(scfg)
	f.ts = httptest.NewServer(f.sb.Handler())
	t.Cleanup(f.ts.Close)
	cfg := Config{BaseURL: f.ts.URL, ClientID: sandbox.DefaultClientID, ClientSecret: testSecret,
		RequestsPerSecond: 1000, Burst: 1000, HTTPClient: f.ts.Client()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	f.track(testSecret, "client secret")
	t.Cleanup(func() {
		logs := f.logs.String()
		if logs == "" {
			t.Error("sandbox wrote no request log")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for v, what := range f.secrets {
			if strings.Contains(logs, v) {
				t.Errorf("sandbox request log contains the %s", what)
			}
		}
	})
	return f
}

func (f *fixture) track(v, what string) {
	if len(v) < 6 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[v] = what
}

func (f *fixture) trackToken(tok Token) Token {
	f.track(tok.AccessToken, "access token")
	f.track(tok.RefreshToken, "refresh token")
	return tok
}

// checkErr fails if any rendering of err contains a tracked secret.
func (f *fixture) checkErr(err error) {
	f.t.Helper()
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for v, what := range f.secrets {
			if strings.Contains(s, v) {
				f.t.Errorf("error string contains the %s: %s", what, s)
			}
		}
	}
}

// connect runs an ongoing flow through the widget and returns the code.
func (f *fixture) connect(user string) string {
	f.t.Helper()
	ctx := context.Background()
	state := "state-" + user + "-0123456789"
	f.track(state, "state")
	link, err := f.c.CreateOngoingAccess(ctx, AccessRequest{UserID: user, RedirectURI: "https://op.example/cb", State: state})
	if err != nil {
		f.t.Fatal(err)
	}
	u, _ := url.Parse(link.Location)
	f.track(u.Query().Get("token"), "widget token")
	target, err := sandbox.DriveWidget(ctx, f.ts.Client(), link.Location, sandbox.DriveOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	cb, _ := url.Parse(target)
	q := cb.Query()
	if q.Get("state") != state || q.Get("flow_id") != link.ID || q.Get("success") != "true" {
		f.t.Fatalf("callback %v", q)
	}
	f.track(q.Get("code"), "authorization code")
	return q.Get("code")
}

func (f *fixture) tokens(user string) Token {
	f.t.Helper()
	tok, err := f.c.ExchangeCode(context.Background(), f.connect(user))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.trackToken(tok)
}
