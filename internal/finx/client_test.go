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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finx-operator/finx-operator/internal/sandbox"
)

func TestNewValidatesConfig(t *testing.T) {
	for _, base := range []string{"", "api.example.com", "/rest", "ftp://x", "https://user:pw@x", "https://x?q=1", "://"} {
		if _, err := New(Config{BaseURL: base}); err == nil {
			t.Errorf("BaseURL %q accepted", base)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error echoes user info: %v", err)
		}
	}
	if _, err := New(Config{BaseURL: "https://x", Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	c, err := New(Config{BaseURL: "https://api.finx-s.qwist.cloud/"})
	if err != nil || c.cfg.Timeout != DefaultTimeout || c.cfg.Burst != DefaultBurst || c.cfg.MaxResponseBytes != DefaultMaxResponseBytes {
		t.Errorf("defaults: %v %+v", err, c.cfg)
	}
}

func TestHappyPath(t *testing.T) {
	var mu sync.Mutex
	observed := map[string][]int{}
	f := newFixture(t, sandbox.Config{}, func(c *Config) {
		c.Observe = func(endpoint string, status int, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			observed[endpoint] = append(observed[endpoint], status)
		}
	})
	ctx := context.Background()
	tok := f.tokens("happy@example.com")
	if tok.TokenType != "Bearer" || tok.ExpiresIn != time.Hour || tok.RefreshToken == "" || tok.Scope == "" {
		t.Errorf("token %+v", tok.Scope)
	}
	accts, err := f.c.ListAccounts(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 3 {
		t.Fatalf("%d accounts", len(accts))
	}
	for _, a := range accts {
		if a.AccountID == "" || a.IBAN == "" || a.Balance == nil || a.Balance.Balance == "" ||
			a.Status.SyncedAt.IsZero() || a.Status.SucceededAt.IsZero() || a.BankName != "Mockbank" {
			t.Errorf("account %+v", a)
		}
		if _, err := a.Balance.Balance.Float64(); err != nil {
			t.Errorf("balance %q", a.Balance.Balance)
		}
	}
	page, err := f.c.ListTransactions(ctx, tok.AccessToken, TransactionQuery{Count: 10, Sort: "asc",
		Accounts: []string{accts[0].AccountID}})
	if err != nil || len(page) != 10 {
		t.Fatalf("page: %v %d", err, len(page))
	}
	for i, tx := range page {
		if tx.AccountID != accts[0].AccountID || tx.BookingDate.IsZero() || tx.Amount == "" ||
			(i > 0 && tx.BookingDate.Before(page[i-1].BookingDate)) {
			t.Errorf("transaction %d %+v", i, tx)
		}
	}
	full, err := f.c.ListTransactions(ctx, tok.AccessToken, TransactionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := f.c.AllTransactions(ctx, tok.AccessToken, TransactionQuery{Count: 25})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(full) || len(all) < 100 {
		t.Errorf("AllTransactions %d, one big page %d", len(all), len(full))
	}
	since := f.clock.Now().AddDate(0, 0, -7)
	recent, err := f.c.AllTransactions(ctx, tok.AccessToken, TransactionQuery{Since: since})
	if err != nil || len(recent) == 0 || len(recent) >= len(all) {
		t.Errorf("since filter: %v %d", err, len(recent))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(observed[EndpointOngoingAccess]) != 1 || observed[EndpointToken][0] != 200 ||
		len(observed[EndpointTransactions]) < 5 || len(observed) != 4 {
		t.Errorf("observed %v", observed)
	}
}

func TestOngoingSync(t *testing.T) {
	f := newFixture(t, sandbox.Config{}, nil)
	ctx := context.Background()
	_, err := f.c.CreateOngoingSync(ctx, SyncRequest{AccessRequest: AccessRequest{UserID: "new", RedirectURI: "https://op.example/cb"}})
	if err == nil || IsRetryable(err) || IsClientAuth(err) || err.(*Error).StatusCode != 404 || err.(*Error).Class != ClassBadRequest {
		t.Fatalf("sync for unknown user: %v", err)
	}
	tok := f.tokens("syncer")
	accts, _ := f.c.ListAccounts(ctx, tok.AccessToken)
	link, err := f.c.CreateOngoingSync(ctx, SyncRequest{
		AccessRequest: AccessRequest{UserID: "syncer", RedirectURI: "https://op.example/cb", Language: "en"},
		AccountIDs:    []string{accts[0].AccountID}})
	if err != nil || link.ID == "" || !strings.HasPrefix(link.Location, f.ts.URL+"/widget/") {
		t.Fatalf("sync link %v %+v", err, link)
	}
	if _, err := f.c.CreateOngoingAccess(ctx, AccessRequest{UserID: "x"}); err == nil || err.(*Error).Class != ClassBadRequest {
		t.Errorf("missing redirect: %v", err)
	}
}

func TestRefreshRotation(t *testing.T) {
	f := newFixture(t, sandbox.Config{}, nil)
	ctx := context.Background()
	tok := f.tokens("rotator")
	var spent []string
	for i := 0; i < 5; i++ {
		next, err := f.c.Refresh(ctx, tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		f.trackToken(next)
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
			t.Fatalf("refresh %d did not rotate", i)
		}
		spent = append(spent, tok.RefreshToken)
		tok = next
	}
	for i, old := range spent {
		if st := f.sb.RefreshTokenState(old); st != sandbox.TokenSpent {
			t.Errorf("token %d is %v", i, st)
		}
		_, err := f.c.Refresh(ctx, old)
		if !IsGrantRejected(err) {
			t.Errorf("spent token %d: %v", i, err)
		}
		f.checkErr(err)
		if e := err.(*Error); e.StatusCode != 400 || !strings.Contains(e.WWWAuthenticate, "invalid_grant") || e.Code != 1000 || e.Message == "" {
			t.Errorf("error details %+v", e)
		}
	}
	if _, err := f.c.ListAccounts(ctx, tok.AccessToken); err != nil {
		t.Errorf("latest access token: %v", err)
	}
}

func TestRefreshReuseWithinGrace(t *testing.T) {
	f := newFixture(t, sandbox.Config{RefreshReuseGrace: time.Minute}, nil)
	ctx := context.Background()
	tok := f.tokens("grace")
	a, err := f.c.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	f.trackToken(a)
	f.clock.Advance(30 * time.Second)
	b, err := f.c.Refresh(ctx, tok.RefreshToken)
	if err != nil || b.RefreshToken != a.RefreshToken || b.AccessToken != a.AccessToken {
		t.Fatalf("replay within grace: %v same=%v", err, b.RefreshToken == a.RefreshToken)
	}
	f.clock.Advance(31 * time.Second)
	_, err = f.c.Refresh(ctx, tok.RefreshToken)
	if !IsGrantRejected(err) {
		t.Errorf("replay after grace: %v", err)
	}
	f.checkErr(err)
}

func TestRefreshTokenExpiry(t *testing.T) {
	f := newFixture(t, sandbox.Config{RefreshTokenTTL: 2 * time.Hour}, nil)
	ctx := context.Background()
	tok := f.tokens("expiring")
	f.clock.Advance(2 * time.Hour)
	_, err := f.c.Refresh(ctx, tok.RefreshToken)
	if !IsGrantRejected(err) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired refresh token: %v", err)
	}
	f.checkErr(err)
	_, err = f.c.ListAccounts(ctx, tok.AccessToken)
	if !IsAccessTokenRejected(err) {
		t.Errorf("expired access token: %v", err)
	}
	f.checkErr(err)
}

func TestCodeReuseAndExpiry(t *testing.T) {
	f := newFixture(t, sandbox.Config{CodeTTL: time.Minute}, nil)
	ctx := context.Background()
	code := f.connect("coder")
	tok, err := f.c.ExchangeCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	f.trackToken(tok)
	_, err = f.c.ExchangeCode(ctx, code)
	if !IsGrantRejected(err) {
		t.Errorf("reused code: %v", err)
	}
	f.checkErr(err)
	code = f.connect("coder")
	f.clock.Advance(time.Minute)
	_, err = f.c.ExchangeCode(ctx, code)
	if !IsGrantRejected(err) {
		t.Errorf("expired code: %v", err)
	}
	f.checkErr(err)
	if _, err := f.c.ExchangeCode(ctx, ""); err == nil || err.(*Error).Class != ClassBadRequest {
		t.Errorf("empty code: %v", err)
	}
}

func TestClientAuthFailure(t *testing.T) {
	f := newFixture(t, sandbox.Config{}, nil)
	ctx := context.Background()
	code := f.connect("authy")
	wrong := "wrong-secret-5b1e"
	f.track(wrong, "wrong client secret")
	bad, err := New(Config{BaseURL: f.ts.URL, ClientID: sandbox.DefaultClientID, ClientSecret: wrong})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.ExchangeCode(ctx, code)
	if !IsClientAuth(err) || IsGrantRejected(err) {
		t.Errorf("exchange with wrong secret: %v", err)
	}
	f.checkErr(err)
	if e := err.(*Error); e.StatusCode != 401 || !strings.Contains(e.WWWAuthenticate, `error="invalid_client"`) || e.Code != 1004 {
		t.Errorf("details %+v", e)
	}
	_, err = bad.CreateOngoingAccess(ctx, AccessRequest{UserID: "u", RedirectURI: "https://op.example/cb"})
	if !IsClientAuth(err) {
		t.Errorf("link with wrong secret: %v", err)
	}
	f.checkErr(err)
	// The code was not consumed by the failed attempt.
	if _, err := f.c.ExchangeCode(ctx, code); err != nil {
		t.Errorf("code after client-auth failure: %v", err)
	}
}

func TestRetryableFaults(t *testing.T) {
	f := newFixture(t, sandbox.Config{}, nil)
	ctx := context.Background()
	tok := f.tokens("faulty")
	f.sb.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: 429, RetryAfter: 7 * time.Second, Count: 1})
	_, err := f.c.Refresh(ctx, tok.RefreshToken)
	if !IsRetryable(err) || RetryAfter(err) != 7*time.Second {
		t.Fatalf("429: %v (retry after %v)", err, RetryAfter(err))
	}
	f.checkErr(err)
	if f.sb.RefreshTokenState(tok.RefreshToken) != sandbox.TokenActive {
		t.Fatal("a 429 spent the token")
	}
	f.sb.InjectFault(sandbox.Fault{Endpoint: "token", Status: 503, RetryAfter: 2 * time.Second, Count: 1})
	_, err = f.c.Refresh(ctx, tok.RefreshToken)
	if !IsRetryable(err) || RetryAfter(err) != 2*time.Second || err.(*Error).Code != 30006 {
		t.Fatalf("503: %v", err)
	}
	f.sb.InjectFault(sandbox.Fault{Endpoint: "accounts", Status: 500, Count: 1})
	_, err = f.c.ListAccounts(ctx, tok.AccessToken)
	if !IsRetryable(err) || RetryAfter(err) != 0 {
		t.Fatalf("500: %v", err)
	}
	f.checkErr(err)
	next, err := f.c.Refresh(ctx, tok.RefreshToken) // the caller's retry succeeds
	if err != nil {
		t.Fatal(err)
	}
	f.trackToken(next)
	if _, err := f.c.ListAccounts(ctx, next.AccessToken); err != nil {
		t.Fatal(err)
	}
}

func TestDropAfterRotation(t *testing.T) {
	var mu sync.Mutex
	var statuses []int
	f := newFixture(t, sandbox.Config{}, func(c *Config) {
		c.Observe = func(endpoint string, status int, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if endpoint == EndpointToken {
				statuses = append(statuses, status)
			}
		}
	})
	ctx := context.Background()
	tok := f.tokens("dropped")
	f.sb.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", DropAfterRotation: true, Count: 1})
	_, err := f.c.Refresh(ctx, tok.RefreshToken)
	if !IsRetryable(err) || err.(*Error).StatusCode != 0 {
		t.Fatalf("dropped connection: %v", err)
	}
	f.checkErr(err)
	// The server rotated before dropping: the caller's retry with the old token is rejected.
	_, err = f.c.Refresh(ctx, tok.RefreshToken)
	if !IsGrantRejected(err) {
		t.Fatalf("retry after drop: %v", err)
	}
	f.checkErr(err)
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 3 || statuses[1] != 0 || statuses[2] != 400 {
		t.Errorf("observed token statuses %v", statuses)
	}
}

func TestTimeoutAndCancellation(t *testing.T) {
	f := newFixture(t, sandbox.Config{}, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	tok := f.tokens("slow")
	f.sb.InjectFault(sandbox.Fault{Endpoint: "accounts", Latency: 2 * time.Second, Count: 1})
	start := time.Now()
	_, err := f.c.ListAccounts(context.Background(), tok.AccessToken)
	if !IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("timeout: %v after %v", err, time.Since(start))
	}
	f.checkErr(err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = f.c.Refresh(ctx, tok.RefreshToken)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	f.checkErr(err)
	f.sb.InjectFault(sandbox.Fault{Endpoint: "transactions", Latency: 2 * time.Second, Count: 1})
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	_, err = f.c.ListTransactions(ctx, tok.AccessToken, TransactionQuery{})
	if !errors.Is(err, context.Canceled) || !IsRetryable(err) {
		t.Errorf("cancelled in flight: %v", err)
	}
}

func TestRevokedAccessToken(t *testing.T) {
	f := newFixture(t, sandbox.Config{}, nil)
	tok := f.tokens("revoked")
	if n := f.sb.RevokeUser("revoked"); n != 2 {
		t.Errorf("revoked %d", n)
	}
	_, err := f.c.ListTransactions(context.Background(), tok.AccessToken, TransactionQuery{})
	if !IsAccessTokenRejected(err) || !strings.Contains(err.(*Error).WWWAuthenticate, "invalid_token") {
		t.Errorf("revoked access token: %v", err)
	}
	f.checkErr(err)
	_, err = f.c.Refresh(context.Background(), tok.RefreshToken)
	if !IsGrantRejected(err) {
		t.Errorf("revoked refresh token: %v", err)
	}
	f.checkErr(err)
}

func TestLocalValidation(t *testing.T) {
	c, _ := New(Config{BaseURL: "http://127.0.0.1:1"})
	ctx := context.Background()
	for _, q := range []TransactionQuery{{Offset: -1}, {Count: -5}, {Sort: "newest"}} {
		if _, err := c.ListTransactions(ctx, "tok", q); err == nil || err.(*Error).Class != ClassBadRequest {
			t.Errorf("%+v: %v", q, err)
		}
	}
	if _, err := c.ListAccounts(ctx, ""); err == nil {
		t.Error("empty access token accepted")
	}
	if _, err := c.Refresh(ctx, ""); err == nil {
		t.Error("empty refresh token accepted")
	}
	// A refused connection is retryable.
	if _, err := c.ListAccounts(ctx, "tok-abcdef"); !IsRetryable(err) || strings.Contains(err.Error(), "tok-abcdef") {
		t.Errorf("refused connection: %v", err)
	}
}
