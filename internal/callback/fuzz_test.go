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
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

var parseSeeds = []string{
	"state=s1&success=true&cancel=false&code=c1&flow_id=f1",
	"state=s1&success=false&cancel=true&flow_id=f1",
	"state=s1&success=false",
	"code=c1&flow_id=f1&success=TRUE&state=s1",
	"state=Zm9vYmFy_-&success=true&code=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
	"",
	"state=",
	"state=&success=true&code=x",
	"state=a&state=b&success=false",
	"state=a&success=true&success=false&code=c",
	"state=a&success=true&cancel=true&code=c",
	"state=a&success=true",
	"state=a&success=true&code=",
	"state=a&success=1&code=c",
	"state=a&success=yes",
	"state=%zz&success=false",
	"state=a;success=false",
	"state=a&success=false&cancel=maybe",
	"state=%3Cscript%3Ealert(1)%3C%2Fscript%3E&success=true&code=%3Cimg+src%3Dx%3E",
	"state=a%00b&success=false&code=%00",
	"state=%E2%80%AE&success=true&code=%FF%FE",
	"state=a&success=true&code=c&code=c",
	"state=" + strings.Repeat("s", maxStateLen) + "&success=false",
	"state=" + strings.Repeat("s", maxStateLen+1) + "&success=false",
	"state=a&success=true&code=" + strings.Repeat("c", maxCodeLen+1),
	"state=a&success=false&flow_id=" + strings.Repeat("f", maxFlowIDLen+1),
	"&&&=&==&state=a&success=false",
	"state[]=a&success=false",
	"STATE=a&SUCCESS=true&CODE=c",
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// The handler refuses a query that does not parse; parseRequest must still cope with
		// whatever part of it did.
		v, _ := url.ParseQuery(raw)
		r, err := parseRequest(v)
		if err != nil {
			var ie *inputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not an input error", err, err)
			}
			return
		}
		if r.State == "" || len(r.State) > maxStateLen {
			t.Fatalf("accepted state of length %d", len(r.State))
		}
		if got := v["state"]; len(got) != 1 || got[0] != r.State {
			t.Fatalf("state %q does not come from the single state parameter %q", r.State, got)
		}
		if r.Success && r.Cancel {
			t.Fatal("accepted both success and cancel")
		}
		if r.Success {
			if len(r.Code) > maxCodeLen {
				t.Fatalf("success with code of length %d", len(r.Code))
			}
			if got := v["code"]; r.Code != "" && (len(got) != 1 || got[0] != r.Code) {
				t.Fatalf("code %q does not come from the single code parameter %q", r.Code, got)
			}
			if got := v["code"]; r.Code == "" && len(got) > 0 && got[0] != "" {
				t.Fatalf("code %q dropped from a success", got)
			}
		} else if r.Code != "" {
			t.Fatalf("code %q kept although success is false", r.Code)
		}
		if len(r.FlowID) > maxFlowIDLen {
			t.Fatalf("accepted flow_id of length %d", len(r.FlowID))
		}
		if got := v["success"]; len(got) != 1 || !strings.EqualFold(got[0], "true") && !strings.EqualFold(got[0], "false") {
			t.Fatalf("accepted success parameter %q", got)
		}
	})
}

var fuzzMethods = []string{
	http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut,
	http.MethodDelete, http.MethodPatch, http.MethodOptions,
}

// fuzzHandoff builds the fake a FuzzHandler iteration uses: mode picks the Handoff's answer.
func fuzzHandoff(mode uint8) *fakeHandoff {
	f := &fakeHandoff{}
	switch mode % 6 {
	case 1:
		f.err = ErrUnknownState
	case 2:
		f.err = ErrStateUsed
	case 3:
		f.err = ErrLinkExpired
	case 4:
		f.err = errors.New("apiserver unavailable")
	case 5:
		f.panicWith = "handoff panic"
	}
	switch (mode / 6) % 3 {
	case 1:
		f.res = Result{ReturnURL: "https://app.example/done?tab=1", AppState: "app-state"}
	case 2:
		f.res = Result{ReturnURL: "/not/absolute", AppState: "app-state"}
	}
	return f
}

func fuzzRequest(method uint8, query, body string, form bool) *http.Request {
	req := httptest.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], Path, strings.NewReader(body))
	req.URL.RawQuery = query
	if form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// fixedOutput is every body the handler produces for a sweep of requests without any code: the
// fixed text a fuzzed code may happen to coincide with without having been echoed.
func fixedOutput() string {
	queries := append([]string{"x=1"}, parseSeeds...)
	seen := map[string]bool{}
	var all strings.Builder
	for mode := range uint8(18) {
		for m := range uint8(len(fuzzMethods)) {
			for _, q := range queries {
				v, _ := url.ParseQuery(q)
				v.Del("code")
				if v.Get("success") == "true" || v.Get("success") == "TRUE" {
					v.Set("code", "zzzz")
				}
				rec := httptest.NewRecorder()
				NewHandler(fuzzHandoff(mode), discardLog).ServeHTTP(rec, fuzzRequest(m, v.Encode(), v.Encode(), true))
				if b := rec.Body.String(); !seen[b] {
					seen[b] = true
					all.WriteString(b)
					all.WriteString("\n")
				}
			}
		}
	}
	return all.String()
}

var discardLog = logr.Discard()

func FuzzHandler(f *testing.F) {
	for i, s := range parseSeeds {
		f.Add(uint8(i), s, s, uint8(i*7), true)
	}
	f.Add(uint8(0), "state=s&success=true&code=AUTHCODE-12345678", "", uint8(6), false)
	f.Add(uint8(1), "", "state=s&success=true&code=AUTHCODE-12345678", uint8(6), true)
	f.Add(uint8(1), "state=q&success=true&code=QUERYCODE-1234", "state=b&success=true&code=BODYCODE-1234", uint8(12), true)
	f.Add(uint8(0), "state=s&success=true&code=%3Ch1%3EBank+connected%3C%2Fh1%3E", "", uint8(0), false)
	f.Add(uint8(1), "", "state=s&success=true&code=c&pad="+strings.Repeat("p", maxBodyBytes), uint8(0), true)
	f.Add(uint8(0), "pad="+strings.Repeat("p", maxQueryBytes), "", uint8(0), false)

	fixed := fixedOutput()
	allowed := map[int]bool{
		http.StatusOK: true, http.StatusSeeOther: true, http.StatusBadRequest: true, http.StatusNotFound: true,
		http.StatusMethodNotAllowed: true, http.StatusConflict: true, http.StatusGone: true,
		http.StatusRequestEntityTooLarge: true, http.StatusInternalServerError: true, http.StatusServiceUnavailable: true,
	}

	f.Fuzz(func(t *testing.T, method uint8, query, body string, mode uint8, form bool) {
		fake := fuzzHandoff(mode)
		req := fuzzRequest(method, query, body, form)
		rec := httptest.NewRecorder()
		NewHandler(fake, discardLog).ServeHTTP(rec, req)

		if !allowed[rec.Code] {
			t.Fatalf("unexpected status %d", rec.Code)
		}
		delivered := len(fake.delivered()) > 0
		if !delivered {
			switch rec.Code {
			case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("status %d without a hand-off", rec.Code)
			}
		} else {
			if req.Method != http.MethodGet && req.Method != http.MethodPost {
				t.Fatalf("%s request reached the Handoff", req.Method)
			}
			switch rec.Code {
			case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge:
				t.Fatalf("status %d after a hand-off", rec.Code)
			}
			if r := fake.delivered()[0]; r.State == "" || (r.Success && r.Code == "") || (r.Success && r.Cancel) {
				t.Fatalf("invalid request reached the Handoff: %+v", r)
			}
		}
		if rec.Code == http.StatusSeeOther && (mode%6 != 0 || (mode/6)%3 != 1) {
			t.Fatalf("redirect with mode %d", mode)
		}
		if rec.Code == http.StatusInternalServerError && mode%6 != 5 {
			t.Fatalf("500 without a panic (mode %d)", mode)
		}

		// The code is never shown or forwarded.
		respBody := rec.Body.String()
		loc := rec.Header().Get("Location")
		for _, src := range []string{query, body} {
			v, _ := url.ParseQuery(src)
			for _, code := range v["code"] {
				if len(code) < 8 {
					continue
				}
				if strings.Contains(loc, code) || strings.Contains(loc, url.QueryEscape(code)) {
					t.Fatalf("code %q forwarded in Location %q", code, loc)
				}
				if strings.Contains(fixed, code) {
					continue // fixed page text; its presence proves nothing
				}
				if strings.Contains(respBody, code) || strings.Contains(respBody, html.EscapeString(code)) {
					t.Fatalf("code %q appears in the %d response body:\n%s", code, rec.Code, respBody)
				}
			}
		}
	})
}
