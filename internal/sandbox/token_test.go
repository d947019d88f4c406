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
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestExchangeCode(t *testing.T) {
	e := newEnv(t, Config{})
	code := e.connect("u1")
	_, r := e.token(map[string]any{"grant_type": "authorization_code", "code": code})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("token response is cacheable")
	}
	var tr tokenResponse
	r.json(t, &tr)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.Scope != "accounts=ro balance=ro transactions=ro" ||
		tr.AccessToken == "" || tr.RefreshToken == "" || tr.AccessToken == tr.RefreshToken {
		t.Errorf("response %+v", tr)
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenActive {
		t.Error("fresh refresh token not active")
	}
	// Codes are single use: a second exchange fails with invalid_grant.
	_, r = e.token(map[string]any{"grant_type": "authorization_code", "code": code})
	if r.status != 400 || r.header.Get("WWW-Authenticate") != `Basic realm="finX", error="invalid_grant"` {
		t.Errorf("reused code: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

func TestCodeExpiryAndRedirectCheck(t *testing.T) {
	e := newEnv(t, Config{CodeTTL: time.Minute})
	code := e.connect("u2")
	e.clock.Advance(time.Minute)
	if _, r := e.token(map[string]any{"grant_type": "authorization_code", "code": code}); r.status != 400 {
		t.Errorf("expired code: %d", r.status)
	}
	code = e.connect("u2")
	if _, r := e.token(map[string]any{"grant_type": "authorization_code", "code": code, "redirect_uri": "https://evil.example/cb"}); r.status != 400 {
		t.Errorf("mismatched redirect_uri: %d", r.status)
	}
	e.mustToken(map[string]any{"grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example.com/callback"})
}

func TestTokenRequestErrors(t *testing.T) {
	e := newEnv(t, Config{})
	cases := []struct {
		body   any
		hdr    map[string]string
		status int
		oauth  string
	}{
		{map[string]any{"grant_type": "client_credentials"}, jsonBasic, 400, "unsupported_grant_type"},
		{map[string]any{}, jsonBasic, 400, "invalid_request"},
		{map[string]any{"grant_type": "authorization_code"}, jsonBasic, 400, "invalid_request"},
		{map[string]any{"grant_type": "refresh_token"}, jsonBasic, 400, "invalid_request"},
		{`{"grant_type":`, jsonBasic, 400, "invalid_request"},
		{map[string]any{"grant_type": "refresh_token", "refresh_token": "x"},
			map[string]string{"Content-Type": "application/json"}, 401, "invalid_client"},
		{map[string]any{"grant_type": "refresh_token", "refresh_token": "x"},
			map[string]string{"Content-Type": "application/json", "Authorization": basicAuth("other", DefaultClientSecret)}, 401, "invalid_client"},
		{"grant_type=refresh_token&refresh_token=x",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": jsonBasic["Authorization"]}, 415, ""},
	}
	for i, tc := range cases {
		r := e.call(http.MethodPost, "/auth/token", tc.body, tc.hdr)
		if r.status != tc.status {
			t.Errorf("case %d: status %d want %d: %s", i, r.status, tc.status, r.body)
		}
		if tc.oauth != "" && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="`+tc.oauth+`"`) {
			t.Errorf("case %d: WWW-Authenticate %q", i, r.header.Get("WWW-Authenticate"))
		}
	}
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("rot"))
	seen := map[string]bool{tr.RefreshToken: true, tr.AccessToken: true}
	var spent []string
	for i := 0; i < 5; i++ {
		old := tr.RefreshToken
		next, r := e.refresh(old)
		if r.status != 200 {
			t.Fatalf("refresh %d: %d %s", i, r.status, r.body)
		}
		if seen[next.RefreshToken] || seen[next.AccessToken] || next.RefreshToken == "" {
			t.Fatalf("refresh %d reused a token", i)
		}
		seen[next.RefreshToken], seen[next.AccessToken] = true, true
		spent = append(spent, old)
		tr = next
	}
	for i, old := range spent {
		if st := e.srv.RefreshTokenState(old); st != TokenSpent {
			t.Errorf("spent token %d is %v", i, st)
		}
		_, r := e.refresh(old)
		if r.status != 400 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_grant") {
			t.Errorf("spent token %d accepted: %d", i, r.status)
		}
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenActive {
		t.Error("latest token not active")
	}
	// Old access tokens stay valid until they expire; rotation does not revoke them.
	if r := e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)); r.status != 200 {
		t.Errorf("new access token: %d", r.status)
	}
}

func TestRefreshReuseGrace(t *testing.T) {
	e := newEnv(t, Config{RefreshReuseGrace: 30 * time.Second})
	tr := e.exchange(e.connect("grace"))
	next, _ := e.refresh(tr.RefreshToken)
	e.clock.Advance(10 * time.Second)
	again, r := e.refresh(tr.RefreshToken)
	if r.status != 200 || again.RefreshToken != next.RefreshToken || again.AccessToken != next.AccessToken {
		t.Fatalf("replay within grace: %d, same pair=%v", r.status, again.RefreshToken == next.RefreshToken)
	}
	if again.ExpiresIn != 3590 {
		t.Errorf("replayed expires_in %d, want the remaining 3590", again.ExpiresIn)
	}
	e.clock.Advance(25 * time.Second)
	if _, r := e.refresh(tr.RefreshToken); r.status != 400 {
		t.Errorf("replay after grace: %d", r.status)
	}
	// Once the successor has been used, a replay is a real reuse even inside the window.
	n1, _ := e.refresh(next.RefreshToken)
	e.mustToken(map[string]any{"grant_type": "refresh_token", "refresh_token": n1.RefreshToken})
	if _, r := e.refresh(n1.RefreshToken); r.status != 200 {
		// n1 was spent 0s ago by the call above; its successor is untouched, so this replays.
		t.Errorf("replay of n1: %d", r.status)
	}
	if _, r := e.refresh(next.RefreshToken); r.status != 400 {
		t.Errorf("replay after successor use: %d", r.status)
	}
}

func TestRefreshExpiryFreshLifetime(t *testing.T) {
	e := newEnv(t, Config{RefreshTokenTTL: time.Hour, AccessTokenTTL: time.Minute})
	tr := e.exchange(e.connect("exp"))
	e.clock.Advance(50 * time.Minute)
	next, r := e.refresh(tr.RefreshToken)
	if r.status != 200 || next.ExpiresIn != 60 {
		t.Fatalf("refresh before expiry: %d %+v", r.status, next.ExpiresIn)
	}
	// The rotated token has its own full lifetime: valid 50 minutes later
	// although the chain started 100 minutes ago.
	e.clock.Advance(50 * time.Minute)
	if e.srv.RefreshTokenState(next.RefreshToken) != TokenActive {
		t.Fatal("rotated token did not get a fresh lifetime")
	}
	e.clock.Advance(10 * time.Minute)
	if st := e.srv.RefreshTokenState(next.RefreshToken); st != TokenExpired {
		t.Fatalf("state %v", st)
	}
	if _, r := e.refresh(next.RefreshToken); r.status != 400 || !strings.Contains(string(r.body), "expired") {
		t.Errorf("expired refresh: %d %s", r.status, r.body)
	}
	// The access token from the exchange expired long ago.
	if r := e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)); r.status != 401 ||
		r.header.Get("WWW-Authenticate") != `Bearer realm="finX", error="invalid_token"` {
		t.Errorf("expired access token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

func TestRevokeUser(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.exchange(e.connect("rev"))
	b := e.exchange(e.connect("rev"))
	other := e.exchange(e.connect("keep"))
	pending := e.connect("rev")
	if n := e.srv.RevokeUser("rev"); n != 4 {
		t.Errorf("revoked %d tokens, want 4", n)
	}
	if n := e.srv.RevokeUser("rev"); n != 0 {
		t.Errorf("second revoke counted %d", n)
	}
	for _, tok := range []string{a.RefreshToken, b.RefreshToken} {
		if e.srv.RefreshTokenState(tok) != TokenRevoked {
			t.Error("refresh token not revoked")
		}
		if _, r := e.refresh(tok); r.status != 400 {
			t.Errorf("revoked refresh accepted: %d", r.status)
		}
	}
	if r := e.call(http.MethodGet, "/rest/accounts", nil, bearer(a.AccessToken)); r.status != 401 {
		t.Errorf("revoked access token: %d", r.status)
	}
	if _, r := e.token(map[string]any{"grant_type": "authorization_code", "code": pending}); r.status != 400 {
		t.Errorf("pending code survived revocation: %d", r.status)
	}
	if _, r := e.refresh(other.RefreshToken); r.status != 200 {
		t.Errorf("other user affected: %d", r.status)
	}
}

func TestPasswordGrantAndScope(t *testing.T) {
	e := newEnv(t, Config{})
	if _, r := e.token(map[string]any{"grant_type": "password", "username": "figo01", "password": "nope"}); r.status != 400 {
		t.Errorf("wrong password: %d", r.status)
	}
	tr := e.mustToken(map[string]any{"grant_type": "password", "username": "figo01", "password": "654321", "scope": "accounts=ro"})
	if tr.Scope != "accounts=ro" || tr.RefreshToken == "" {
		t.Fatalf("%+v", tr.Scope)
	}
	var accts struct {
		Accounts []map[string]any `json:"accounts"`
	}
	e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)).json(t, &accts)
	if len(accts.Accounts) != 3 || accts.Accounts[0]["balance"] != nil {
		t.Errorf("accounts without balance scope: %v", accts.Accounts)
	}
	r := e.call(http.MethodGet, "/rest/transactions", nil, bearer(tr.AccessToken))
	if r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("transactions without scope: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if _, r := e.token(map[string]any{"grant_type": "refresh_token", "refresh_token": tr.RefreshToken, "scope": "transactions=ro"}); r.status != 400 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_scope") {
		t.Errorf("widening scope: %d", r.status)
	}
	if _, r := e.token(map[string]any{"grant_type": "password", "username": "figo01", "password": "654321", "scope": "payments=rw"}); r.status != 400 {
		t.Errorf("unregistered scope: %d", r.status)
	}
}

func TestTokenLengthsVaryPast2KB(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("len"))
	lengths := map[int]bool{}
	over := 0
	for i := 0; i < 20; i++ {
		var r result
		tr, r = e.refresh(tr.RefreshToken)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		for _, tok := range []string{tr.AccessToken, tr.RefreshToken} {
			lengths[len(tok)] = true
			if len(tok) > 2048 {
				over++
			}
			if len(tok) < tokenMinChars || len(tok) > tokenMaxChars || strings.ContainsAny(tok, "+/=") {
				t.Fatalf("token of %d chars or not base64url", len(tok))
			}
		}
	}
	if len(lengths) < 10 || over == 0 || over == 40 {
		t.Errorf("lengths not varied across 2 KB: %d distinct, %d of 40 over 2 KB", len(lengths), over)
	}
}

// Concurrent refreshes of one token: exactly one wins; the rest see invalid_grant.
func TestConcurrentDoubleSpend(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("race"))
	var ok, rejected atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, r := e.refresh(tr.RefreshToken)
			switch r.status {
			case 200:
				ok.Add(1)
			case 400:
				rejected.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || rejected.Load() != 15 {
		t.Errorf("ok=%d rejected=%d", ok.Load(), rejected.Load())
	}
}

func TestSweepKeepsAnswersStable(t *testing.T) {
	e := newEnv(t, Config{AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour, CodeTTL: time.Minute})
	tr := e.exchange(e.connect("sweep"))
	code := e.connect("sweep")
	e.clock.Advance(2 * time.Hour)
	e.srv.mu.Lock()
	e.srv.sweepLocked(e.clock.Now())
	nAccess, nCodes := len(e.srv.access), len(e.srv.codes)
	e.srv.mu.Unlock()
	if nAccess != 0 || nCodes != 0 {
		t.Errorf("sweep kept %d access tokens and %d codes", nAccess, nCodes)
	}
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenExpired {
		t.Error("expired refresh token forgotten too early")
	}
	if _, r := e.token(map[string]any{"grant_type": "authorization_code", "code": code}); r.status != 400 {
		t.Errorf("swept code: %d", r.status)
	}
	e.clock.Advance(24 * time.Hour)
	e.srv.mu.Lock()
	e.srv.sweepLocked(e.clock.Now())
	e.srv.mu.Unlock()
	if e.srv.RefreshTokenState(tr.RefreshToken) != TokenUnknown {
		t.Error("long-expired refresh token kept")
	}
}
