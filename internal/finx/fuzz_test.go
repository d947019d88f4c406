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
	"strings"
	"testing"
	"time"
)

// The parsers below read untrusted server output. They must never panic,
// and what they accept must satisfy the documented invariants.

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{
		validToken,
		`{"access_token":"A","expires_in":"60"}`,
		`{"access_token":"A","expires_in":1e3,"scope":["a","b"]}`,
		`{"access_token":"A","expires_in":-1}`,
		`{"access_token":"A","expires_in":99999999999999999999}`,
		`{"access_token":"A","token_type":"MAC","expires_in":1}`,
		`{"access_token":null}`, `[]`, `"x"`, ``, `{`, `{"expires_in":"NaN"}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, needRefresh bool) {
		tok, reason := parseToken(raw, needRefresh)
		if reason != "" {
			if tok != (Token{}) {
				t.Fatal("token returned with a failure reason")
			}
			return
		}
		if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 || tok.ExpiresIn > maxExpiresIn ||
			tok.ExpiresIn%time.Second != 0 || (needRefresh && tok.RefreshToken == "") {
			t.Fatalf("accepted an invalid token: %+v", tok)
		}
	})
}

func FuzzParseLink(f *testing.F) {
	for _, s := range []string{
		`{"location":"https://w.example/?token=x","id":"f"}`,
		`{"location":"http://[::1]:8081/widget/f?token=x","id":"f"}`,
		`{"location":"//w.example/","id":"f"}`, `{"location":"javascript:alert(1)","id":"f"}`,
		`{"location":"https://w.example/"}`, `{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		l, reason := parseLink(raw)
		if reason == "" && (l.ID == "" || !(strings.HasPrefix(l.Location, "http://") || strings.HasPrefix(l.Location, "https://"))) {
			t.Fatalf("accepted %+v", l)
		}
	})
}

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"error":{"code":1000,"group":"Client","message":"invalid request","description":"x"}}`,
		`{"error":{"message":"m","description":"d","code":"90000"}}`,
		`{"error":"invalid_grant","error_description":"expired"}`,
		`{"code":-5,"message":"flat"}`, `{"error":[1,2]}`, `{"error":{"code":1e99}}`,
		`{"error":{"message":"` + strings.Repeat("é", 400) + `"}}`, `{"error":"a\nb"}`, `not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		info := parseErrorBody(raw)
		if info.Code < 0 || len(info.Message) > maxMessage+len("…") || strings.ContainsAny(info.Message, "\n\r") ||
			strings.ContainsAny(info.OAuthError, "\n\r") {
			t.Fatalf("bad info %+v", info)
		}
	})
}

func FuzzParseWWWAuthenticate(f *testing.F) {
	for _, s := range []string{
		`Basic realm="finX", error="invalid_client"`,
		`Bearer realm="finX", error="invalid_token", error_description="the \"token\" expired"`,
		`Negotiate abc==, Basic realm=x`,
		`Basic realm="unterminated`, `, , ,`, `=`, `Basic ,realm="a"`, `a b=c, d e=f, g=`, "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		cs := parseWWWAuthenticate(h)
		for _, c := range cs {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Fatalf("bad scheme %q", c.Scheme)
			}
		}
		_ = authError(cs)
		if h == `Basic realm="finX", error="invalid_client"` && authError(cs) != "invalid_client" {
			t.Fatal("seed misparsed")
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"0", "120", "99999999999999999999", "-1", "1.5", "Thu, 01 Jan 2026 00:02:00 GMT",
		"Wed, 31 Dec 2025 00:00:00 GMT", "Thursday, 01-Jan-26 00:02:00 GMT", "soon", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("%q -> %v", v, d)
		}
	})
}

func FuzzParseData(f *testing.F) {
	for _, s := range []string{
		`{"accounts":[{"account_id":"A1.1","balance":{"balance":1.5,"balance_date":"2026-01-01"},"status":{"synced_at":"2026-01-01T10:00:00Z"}}]}`,
		`{"transactions":[{"transaction_id":"T1","amount":"-1.50","booking_date":"2026-01-01 10:00:00","booked":false}]}`,
		`{"accounts":[{"account_id":""}]}`, `{"transactions":[{}]}`, `{"accounts":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if accts, reason := parseAccounts(raw); reason == "" {
			for _, a := range accts {
				if a.AccountID == "" || len(a.AccountID) > maxAccountID {
					t.Fatalf("account id of length %d accepted", len(a.AccountID))
				}
			}
		}
		if txs, reason := parseTransactions(raw); reason == "" {
			for _, tx := range txs {
				if tx.TransactionID == "" {
					t.Fatal("transaction without id accepted")
				}
			}
		}
	})
}
