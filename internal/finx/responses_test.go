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
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stub serves canned responses so the client's handling of odd servers can be tested.
type stub struct {
	status   int
	header   map[string]string
	body     string
	mu       sync.Mutex
	lastReq  *http.Request
	lastBody string
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 4096)
	n, _ := r.Body.Read(b)
	s.mu.Lock()
	s.lastReq, s.lastBody = r, string(b[:n])
	s.mu.Unlock()
	for k, v := range s.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

func stubClient(t *testing.T, h http.Handler, mod func(*Config)) *Client {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cfg := Config{BaseURL: ts.URL + "/base", ClientID: "cid", ClientSecret: testSecret, RequestsPerSecond: 1000, Burst: 1000}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const validToken = `{"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT","scope":"accounts=ro"}`

func TestRequestShape(t *testing.T) {
	s := &stub{status: 200, body: validToken}
	c := stubClient(t, s, func(c *Config) { c.UserAgent = "finx-operator/v0.1.0" })
	ctx := context.Background()
	if _, err := c.Refresh(ctx, "refresh-token-value"); err != nil {
		t.Fatal(err)
	}
	r := s.lastReq
	if r.Method != "POST" || r.URL.Path != "/base/auth/token" || r.Header.Get("User-Agent") != "finx-operator/v0.1.0" ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
		t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
	}
	if id, secret, ok := r.BasicAuth(); !ok || id != "cid" || secret != testSecret {
		t.Error("no Basic client auth on the token endpoint")
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(s.lastBody), &body); err != nil || body["grant_type"] != "refresh_token" || body["refresh_token"] != "refresh-token-value" {
		t.Errorf("body %s", s.lastBody)
	}

	s.body = `{"location":"https://widget.example/?token=x","id":"flow-1"}`
	yes, period := true, int32(365)
	_, err := c.CreateOngoingAccess(ctx, AccessRequest{UserID: "u", RedirectURI: "https://op/cb", State: "st",
		Accounts: []string{"DE02"}, AllowMultiSelection: &yes, SyncPeriod: &period})
	if err != nil {
		t.Fatal(err)
	}
	var access map[string]any
	_ = json.Unmarshal([]byte(s.lastBody), &access)
	if access["user_id"] != "u" || access["sync_period"] != float64(365) || access["allow_multi_selection"] != true ||
		fmt.Sprint(access["accounts"]) != "[map[id:DE02]]" || access["language"] != nil || access["save_secrets"] != nil {
		t.Errorf("access body %s", s.lastBody)
	}

	s.body = `{"transactions":[]}`
	_, err = c.ListTransactions(ctx, "access-token-value", TransactionQuery{Offset: 5, Count: 50, Sort: "asc",
		Since: time.Date(2026, 1, 2, 23, 0, 0, 0, time.UTC), Until: time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
		Accounts: []string{"A1.1", "A2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	r = s.lastReq
	if r.Method != "GET" || r.URL.Path != "/base/rest/transactions" || r.Header.Get("Authorization") != "Bearer access-token-value" ||
		r.URL.RawQuery != "accounts=A1.1%2CA2.1&count=50&offset=5&since=2026-01-02&sort=asc&until=2026-02-03" {
		t.Errorf("request %s %s?%s %q", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"))
	}
}

func TestResponseClassification(t *testing.T) {
	type call func(c *Client) error
	refresh := func(c *Client) error { _, err := c.Refresh(context.Background(), "refresh-token-value"); return err }
	exchange := func(c *Client) error { _, err := c.ExchangeCode(context.Background(), "code-value"); return err }
	link := func(c *Client) error {
		_, err := c.CreateOngoingAccess(context.Background(), AccessRequest{UserID: "u", RedirectURI: "https://op/cb"})
		return err
	}
	accounts := func(c *Client) error {
		_, err := c.ListAccounts(context.Background(), "access-token-value")
		return err
	}
	txs := func(c *Client) error {
		_, err := c.ListTransactions(context.Background(), "access-token-value", TransactionQuery{})
		return err
	}
	cases := []struct {
		name   string
		call   call
		status int
		header map[string]string
		body   string
		class  Class // 0 = success
	}{
		{"token ok", refresh, 200, nil, validToken, 0},
		{"token_type absent defaults to Bearer", refresh, 200, nil, `{"access_token":"A","expires_in":60,"refresh_token":"R"}`, 0},
		{"token_type lower case", refresh, 200, nil, `{"access_token":"A","token_type":"bearer","expires_in":"60"}`, 0},
		{"refresh without new refresh token", refresh, 200, nil, `{"access_token":"A","expires_in":60}`, 0},
		{"exchange without refresh token", exchange, 200, nil, `{"access_token":"A","expires_in":60}`, ClassMalformedResponse},
		{"token_type mac", refresh, 200, nil, `{"access_token":"A","token_type":"mac","expires_in":60,"refresh_token":"R"}`, ClassMalformedResponse},
		{"no access_token", refresh, 200, nil, `{"token_type":"Bearer","expires_in":60,"refresh_token":"R"}`, ClassMalformedResponse},
		{"expires_in zero", refresh, 200, nil, `{"access_token":"A","expires_in":0,"refresh_token":"R"}`, ClassMalformedResponse},
		{"expires_in missing", refresh, 200, nil, `{"access_token":"A","refresh_token":"R"}`, ClassMalformedResponse},
		{"expires_in fraction", refresh, 200, nil, `{"access_token":"A","expires_in":1.5,"refresh_token":"R"}`, ClassMalformedResponse},
		{"access_token number", refresh, 200, nil, `{"access_token":5,"expires_in":60}`, ClassMalformedResponse},
		{"not JSON", refresh, 200, nil, `<html>hello</html>`, ClassMalformedResponse},
		{"empty 200", accounts, 200, nil, ``, ClassMalformedResponse},
		{"trailing junk", refresh, 200, nil, validToken + `x`, ClassMalformedResponse},
		{"token invalid_grant 400", refresh, 400, map[string]string{"WWW-Authenticate": `Basic realm="finX", error="invalid_grant"`}, `{"error":{"code":1000,"message":"invalid_grant"}}`, ClassGrantRejected},
		{"token 401 invalid_grant", refresh, 401, map[string]string{"WWW-Authenticate": `Basic realm="finX", error="invalid_grant"`}, ``, ClassGrantRejected},
		{"token 401 finX code 1003", refresh, 401, nil, `{"error":{"code":1003,"group":"Client","message":"unauthorized"}}`, ClassGrantRejected},
		{"token 401 bare Basic challenge", refresh, 401, map[string]string{"WWW-Authenticate": `Basic realm="finX"`}, ``, ClassGrantRejected},
		{"token 401 invalid_client", refresh, 401, map[string]string{"WWW-Authenticate": `Basic realm="finX", error="invalid_client"`}, ``, ClassClientAuth},
		{"token 400 OAuth body invalid_client", exchange, 400, nil, `{"error":"invalid_client","error_description":"bad"}`, ClassClientAuth},
		{"token 400 OAuth body invalid_grant", exchange, 400, nil, `{"error":"invalid_grant"}`, ClassGrantRejected},
		{"token 403", refresh, 403, nil, ``, ClassClientAuth},
		{"token 415", refresh, 415, nil, ``, ClassBadRequest},
		{"token 429", refresh, 429, map[string]string{"Retry-After": "3"}, ``, ClassRetryable},
		{"token 502 html", refresh, 502, nil, `<html>bad gateway</html>`, ClassRetryable},
		{"408", accounts, 408, nil, ``, ClassRetryable},
		{"link ok", link, 200, nil, `{"location":"https://w.example/?token=x","id":"f"}`, 0},
		{"link relative location", link, 200, nil, `{"location":"/widget?token=x","id":"f"}`, ClassMalformedResponse},
		{"link without id", link, 200, nil, `{"location":"https://w.example/"}`, ClassMalformedResponse},
		{"link 401", link, 401, nil, ``, ClassClientAuth},
		{"link 403", link, 403, nil, ``, ClassClientAuth},
		{"link 400", link, 400, nil, `{"error":{"code":1000,"description":"redirect_uri is required"}}`, ClassBadRequest},
		{"link 302", link, 302, map[string]string{"Location": "https://elsewhere/"}, ``, ClassBadRequest},
		{"accounts ok", accounts, 200, nil, `{"accounts":[{"account_id":"A1.1","balance":{"balance":"12.30"},"status":{"synced_at":"2026-01-01T10:00:00.000+0100"}}]}`, 0},
		{"accounts missing array", accounts, 200, nil, `{"data":[]}`, ClassMalformedResponse},
		{"accounts null array", accounts, 200, nil, `{"accounts":null}`, ClassMalformedResponse},
		{"account without id", accounts, 200, nil, `{"accounts":[{"name":"x"}]}`, ClassMalformedResponse},
		{"account id too long", accounts, 200, nil, `{"accounts":[{"account_id":"` + strings.Repeat("A", maxAccountID+1) + `"}]}`, ClassMalformedResponse},
		{"account bad timestamp", accounts, 200, nil, `{"accounts":[{"account_id":"A","status":{"synced_at":"yesterday"}}]}`, ClassMalformedResponse},
		{"account bad amount", accounts, 200, nil, `{"accounts":[{"account_id":"A","balance":{"balance":"lots"}}]}`, ClassMalformedResponse},
		{"accounts 401", accounts, 401, map[string]string{"WWW-Authenticate": `Bearer realm="finX", error="invalid_token"`}, ``, ClassAccessTokenRejected},
		{"accounts 403", accounts, 403, nil, ``, ClassBadRequest},
		{"transactions ok", txs, 200, nil, `{"transactions":[{"transaction_id":"T1","amount":-1.5,"booking_date":"2026-01-01"}]}`, 0},
		{"transaction without id", txs, 200, nil, `{"transactions":[{"amount":1}]}`, ClassMalformedResponse},
		{"transactions 404", txs, 404, nil, `{"error":{"code":1002}}`, ClassBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := stubClient(t, &stub{status: tc.status, header: tc.header, body: tc.body}, nil)
			err := tc.call(c)
			if tc.class == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T %v", err, err)
			}
			if e.Class != tc.class {
				t.Fatalf("class %v, want %v: %v", e.Class, tc.class, err)
			}
			if strings.Contains(err.Error(), "refresh-token-value") || strings.Contains(err.Error(), "code-value") ||
				strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), `"AT"`) {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
}

func TestOversizedResponse(t *testing.T) {
	big := `{"accounts":[` + strings.Repeat(`{"account_id":"A1.1","name":"xxxxxxxxxx"},`, 100) + `{"account_id":"A2.1"}]}`
	c := stubClient(t, &stub{status: 200, body: big}, func(c *Config) { c.MaxResponseBytes = 1024 })
	_, err := c.ListAccounts(context.Background(), "access-token-value")
	if !IsMalformed(err) || !strings.Contains(err.Error(), "maximum size") {
		t.Errorf("oversized 200: %v", err)
	}
	c = stubClient(t, &stub{status: 500, body: strings.Repeat("x", 5000)}, func(c *Config) { c.MaxResponseBytes = 1024 })
	if _, err := c.ListAccounts(context.Background(), "access-token-value"); !IsRetryable(err) {
		t.Errorf("oversized 500 keeps its status class: %v", err)
	}
	c = stubClient(t, &stub{status: 200, body: big}, nil)
	if accts, err := c.ListAccounts(context.Background(), "access-token-value"); err != nil || len(accts) != 101 {
		t.Errorf("default limit: %v %d", err, len(accts))
	}
}

// A hostile or buggy server echoing what it was sent must not leak it into errors.
func TestErrorsRedactEchoedSecrets(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		_, secret, _ := r.BasicAuth()
		auth := r.Header.Get("Authorization")
		w.Header().Set("WWW-Authenticate", `Basic realm="finX", error="invalid_grant", token="`+body["refresh_token"]+body["code"]+`", secret="`+secret+`"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		msg := fmt.Sprintf("bad token %s %s %s %s %s\nforged log line", body["refresh_token"], body["code"], body["state"], secret, auth)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 1000, "message": msg, "description": msg}})
	})
	c := stubClient(t, echo, nil)
	ctx := context.Background()
	errs := []error{}
	_, err := c.Refresh(ctx, "refresh-token-value-123")
	errs = append(errs, err)
	_, err = c.ExchangeCode(ctx, "code-value-456")
	errs = append(errs, err)
	_, err = c.CreateOngoingAccess(ctx, AccessRequest{UserID: "u", RedirectURI: "https://op/cb", State: "state-value-789"})
	errs = append(errs, err)
	_, err = c.ListAccounts(ctx, "access-token-value-000")
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%#v", err)} {
			for _, secret := range []string{"refresh-token-value-123", "code-value-456", "state-value-789", testSecret, "access-token-value-000"} {
				if strings.Contains(s, secret) {
					t.Errorf("error contains %s: %s", secret, s)
				}
			}
			if strings.Contains(s, "\n") {
				t.Errorf("error contains a newline: %q", s)
			}
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("nothing redacted in %v", err)
		}
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	c := stubClient(t, &stub{status: 503, header: map[string]string{"Retry-After": when}}, nil)
	_, err := c.ListAccounts(context.Background(), "tok")
	if d := RetryAfter(err); !IsRetryable(err) || d < 85*time.Second || d > 90*time.Second {
		t.Errorf("HTTP-date Retry-After: %v", d)
	}
}

func TestRateLimit(t *testing.T) {
	s := &stub{status: 200, body: `{"accounts":[]}`}
	c := stubClient(t, s, func(c *Config) { c.RequestsPerSecond = 20; c.Burst = 1 })
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 5; i++ {
		if _, err := c.ListAccounts(ctx, "tok"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("5 calls at 20/s with burst 1 took only %v", d)
	}
	slow := stubClient(t, s, func(c *Config) { c.RequestsPerSecond = 0.1; c.Burst = 1 })
	if _, err := slow.ListAccounts(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := slow.ListAccounts(ctx2, "tok")
	if !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) || time.Since(start) > time.Second {
		t.Errorf("limiter wait past deadline: %v after %v", err, time.Since(start))
	}
	ctx3, cancel3 := context.WithCancel(ctx)
	cancel3()
	if _, err := slow.ListAccounts(ctx3, "tok"); !errors.Is(err, context.Canceled) {
		t.Errorf("limiter with cancelled context: %v", err)
	}
}

// pager serves a fixed data set with offset/count, optionally shifting it
// mid-way (as autosync would) or ignoring offset entirely.
type pager struct {
	ids          []string
	shiftAfter   int // after this many calls, prepend new items
	ignoreOffset bool
	calls        int
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls++
	if p.shiftAfter > 0 && p.calls == p.shiftAfter+1 {
		p.ids = append([]string{"new1", "new2"}, p.ids...)
	}
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	cnt, _ := strconv.Atoi(r.URL.Query().Get("count"))
	if p.ignoreOffset {
		off = 0
	}
	var items []string
	for i := off; i < len(p.ids) && i < off+cnt; i++ {
		items = append(items, fmt.Sprintf(`{"transaction_id":%q,"amount":1}`, p.ids[i]))
	}
	fmt.Fprintf(w, `{"transactions":[%s]}`, strings.Join(items, ","))
}

func TestAllTransactionsPaging(t *testing.T) {
	ids := make([]string, 25)
	for i := range ids {
		ids[i] = fmt.Sprintf("T%02d", i)
	}
	p := &pager{ids: append([]string(nil), ids...), shiftAfter: 1}
	c := stubClient(t, p, nil)
	all, err := c.AllTransactions(context.Background(), "tok", TransactionQuery{Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, tx := range all {
		seen[tx.TransactionID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("%s seen %d times", id, seen[id])
		}
	}
	if len(all) != len(seen) || p.calls != 3 {
		t.Errorf("%d items, %d distinct, %d calls", len(all), len(seen), p.calls)
	}
	// Exactly a multiple of the page size: one extra, empty page ends it.
	p = &pager{ids: ids[:20]}
	c = stubClient(t, p, nil)
	if all, err := c.AllTransactions(context.Background(), "tok", TransactionQuery{Count: 10}); err != nil || len(all) != 20 || p.calls != 3 {
		t.Errorf("exact multiple: %v %d items %d calls", err, len(all), p.calls)
	}
	c = stubClient(t, &pager{ids: ids, ignoreOffset: true}, nil)
	if _, err := c.AllTransactions(context.Background(), "tok", TransactionQuery{Count: 10}); !IsMalformed(err) {
		t.Errorf("server ignoring offset: %v", err)
	}
}

// A 2xx whose body breaks off is reported like a dropped connection: the
// server acted, but the answer (say, a rotated refresh token) is lost.
func TestTruncatedBody(t *testing.T) {
	var observed []int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"access_token":"AT","expires_in":`))
	})
	c := stubClient(t, h, func(c *Config) {
		c.Observe = func(_ string, status int, _ time.Duration) { observed = append(observed, status) }
	})
	_, err := c.Refresh(context.Background(), "refresh-token-value")
	e, ok := err.(*Error)
	if !ok || !IsRetryable(err) || e.StatusCode != 0 || len(observed) != 1 || observed[0] != 0 {
		t.Fatalf("truncated body: %v, observed %v", err, observed)
	}
}
