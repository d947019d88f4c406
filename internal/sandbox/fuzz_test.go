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
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzHandler feeds arbitrary requests to the whole handler (test controls
// on, so fuzzed requests can also inject faults) and checks it never panics
// and always answers with a sane status.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, path, ctype, auth, body string }{
		{"POST", "/ongoing/access", "application/json", "basic", `{"redirect_uri":"https://x/cb","user_id":"u"}`},
		{"POST", "/ongoing/sync", "application/json", "basic", `{"redirect_uri":"https://x/cb","user_id":"u","account_ids":["A1.1"]}`},
		{"POST", "/onetime/access", "application/json", "basic", `{"redirect_uri":"https://x/cb","accounts":[{"id":""}]}`},
		{"POST", "/auth/token", "application/json", "basic", `{"grant_type":"refresh_token","refresh_token":"x"}`},
		{"POST", "/auth/token", "application/json", "basic", `{"grant_type":"password","username":"figo01","password":"654321","scope":"accounts=ro"}`},
		{"POST", "/auth/token", "application/json; charset=utf-8", "basic", `{"grant_type":"authorization_code","code":null}`},
		{"GET", "/rest/transactions?count=5&since=2026-01-01&sort=asc&accounts=A1.1,", "", "bearer", ""},
		{"GET", "/rest/accounts/%2F..%2F/transactions", "", "bearer", ""},
		{"POST", "/widget/abc/login", "application/x-www-form-urlencoded", "", "token=x&bank=Mockbank&username=figo01"},
		{"GET", "/widget/abc?token=%zz", "", "", ""},
		{"POST", "/_sandbox/faults", "", "", `{"endpoint":"token","drop_after_rotation":true,"count":1}`},
		{"POST", "/_sandbox/faults", "", "", `{"endpoint":"accounts","latency":"1h"}`},
		{"POST", "/_sandbox/flows/x/complete", "", "", `{"approve":"yes"}`},
		{"POST", "/_sandbox/users/u/revoke", "", "", ""},
		{"DELETE", "/_sandbox/faults", "", "", ""},
		{"PATCH", "/", "text/plain", "basic", "\x00\xff"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ctype, s.auth, []byte(s.body))
	}
	srv := New(Config{EnableTestControls: true})
	h := srv.Handler()
	// A live user so that bearer and sync paths get past authentication.
	tr, _ := srv.passwordGrant(sandboxUsername, sandboxPassword, "")
	f.Fuzz(func(t *testing.T, method, path, ctype, auth string, body []byte) {
		req, err := http.NewRequest(method, "http://sandbox.test"+path, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(path, "/") {
			return
		}
		// Latency faults must not stall the fuzzer.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		switch auth {
		case "basic":
			req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		default:
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		func() {
			defer func() {
				// DropAfterRotation cannot hijack a recorder and aborts on purpose.
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					t.Fatalf("panic: %v", p)
				}
			}()
			h.ServeHTTP(rec, req)
		}()
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
		srv.ClearFaults()
	})
}

// FuzzScanTags checks the widget HTML scanner never panics and that it still
// finds the forms of a real widget page with arbitrary text appended.
func FuzzScanTags(f *testing.F) {
	var page bytes.Buffer
	srv := New(Config{})
	fl := &flow{id: "f", language: "en", allowMulti: true, userID: "u"}
	r := httptest.NewRequest(http.MethodGet, "http://x/", nil)
	_ = widgetPage.Execute(&page, srv.accountsPage(r, fl, "tok&en", bankByName("Mockbank"), ""))
	f.Add(page.String(), "")
	f.Add(`<form id='a' action=/x><input type=hidden name=t value="a&amp;b"><!-- <form id="b"> --></form>`, "<")
	f.Add(`<select name="bank"><option value="x" selected>`, `<input name="account" type="checkbox" checked>`)
	f.Add(`<p id="login-error">Nope &lt;3</p><script>if (a<b) {}</script>`, "<!")
	f.Fuzz(func(t *testing.T, doc, tail string) {
		tags := scanTags(doc)
		forms := parseForms(tags)
		_, _ = elementText(doc, tags, "login-error")
		for _, fm := range forms {
			_ = fm.choices["account"]
		}
		if doc == page.String() {
			whole := doc + tail
			fm := parseForms(scanTags(whole))["accounts-form"]
			if fm == nil || len(fm.choices["account"]) != 3 || fm.hidden[0] != [2]string{"token", "tok&en"} {
				t.Fatalf("real page not parsed: %+v", fm)
			}
		}
	})
}
