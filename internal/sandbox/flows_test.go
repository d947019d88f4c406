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
	"net/url"
	"strings"
	"testing"
)

func TestCreateOngoingAccess(t *testing.T) {
	e := newEnv(t, Config{PublicURL: "http://sandbox.test:8081/"})
	r := e.post("/ongoing/access", map[string]any{
		"redirect_uri": "https://app.example.com/cb", "user_id": "u1@example.com",
		"unknown_field": map[string]any{"ignored": true},
	})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var out struct{ Location, ID string }
	r.json(t, &out)
	u, err := url.Parse(out.Location)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Host != "sandbox.test:8081" || u.Path != "/widget/"+out.ID {
		t.Errorf("location %s does not point at the widget of flow %s", out.Location, out.ID)
	}
	if len(u.Query().Get("token")) < 40 {
		t.Errorf("widget token missing or short")
	}
	if len(out.ID) != 36 || strings.Count(out.ID, "-") != 4 {
		t.Errorf("flow id %q is not uuid-like", out.ID)
	}
}

func TestCreateFlowValidation(t *testing.T) {
	e := newEnv(t, Config{})
	valid := func() map[string]any {
		return map[string]any{"redirect_uri": "https://app.example.com/cb", "user_id": "u1"}
	}
	with := func(k string, v any) map[string]any { m := valid(); m[k] = v; return m }
	without := func(k string) map[string]any { m := valid(); delete(m, k); return m }
	cases := []struct {
		name   string
		body   any
		status int
		field  string // must appear in the description
	}{
		{"missing redirect_uri", without("redirect_uri"), 400, "redirect_uri"},
		{"relative redirect_uri", with("redirect_uri", "/cb"), 400, "redirect_uri"},
		{"ftp redirect_uri", with("redirect_uri", "ftp://x/cb"), 400, "redirect_uri"},
		{"fragment redirect_uri", with("redirect_uri", "https://x/cb#frag"), 400, "redirect_uri"},
		{"missing user_id", without("user_id"), 400, "user_id"},
		{"long user_id", with("user_id", strings.Repeat("u", 256)), 400, "user_id"},
		{"bad language", with("language", "it"), 400, "language"},
		{"sync_period zero", with("sync_period", 0), 400, "sync_period"},
		{"sync_period wrong type", with("sync_period", "90"), 400, "sync_period"},
		{"sync_period fraction", with("sync_period", 1.5), 400, "sync_period"},
		{"empty account id", with("accounts", []map[string]string{{"id": "DE02"}, {"id": ""}}), 400, "accounts[1].id"},
		{"bad account type", with("account_types", []string{"Giro account", "Bitcoin wallet"}), 400, "account_types[1]"},
		{"long state", with("state", strings.Repeat("s", 1025)), 400, "state"},
		{"not an object", []any{1, 2}, 400, "JSON object"},
		{"malformed", "{\"redirect_uri\":", 400, "JSON"},
		{"trailing data", `{"redirect_uri":"https://x/cb","user_id":"u"} {}`, 400, "JSON"},
		{"language upper case ok", with("language", "EN"), 200, ""},
		{"huge sync_period capped", with("sync_period", 100000), 200, ""},
		{"all fields", map[string]any{"redirect_uri": "https://x/cb?a=1", "user_id": "u", "state": "s",
			"tracking_id": "t", "language": "ar", "provider_id": "74bab9d2-9f60-4ab1-be63-706e67b99f58",
			"accounts": []map[string]string{{"id": "DE02120300000000202051"}}, "account_types": []string{"Giro account"},
			"allow_multi_selection": false, "sync_period": 30, "save_secrets": true}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post("/ongoing/access", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				d := r.errDetail(t)
				if d.Code != 1000 || d.Group != "Client" || !strings.Contains(d.Description, tc.field) {
					t.Errorf("error %+v does not name %q", d, tc.field)
				}
			}
		})
	}
}

func TestCreateFlowRequestHandling(t *testing.T) {
	e := newEnv(t, Config{})
	body := `{"redirect_uri":"https://x/cb","user_id":"u"}`

	r := e.call(http.MethodPost, "/ongoing/access", body, map[string]string{"Content-Type": "application/json"})
	if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="finX", error="invalid_client"` {
		t.Errorf("no auth: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if d := r.errDetail(t); d.Code != 1004 {
		t.Errorf("no auth code %d", d.Code)
	}
	r = e.call(http.MethodPost, "/ongoing/access", body, map[string]string{
		"Content-Type": "application/json", "Authorization": basicAuth(DefaultClientID, "wrong")})
	if r.status != 401 {
		t.Errorf("wrong secret: %d", r.status)
	}
	r = e.call(http.MethodPost, "/ongoing/access", "redirect_uri=https://x/cb&user_id=u", map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Authorization": jsonBasic["Authorization"]})
	if r.status != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d", r.status)
	}
	r = e.call(http.MethodGet, "/ongoing/access", nil, jsonBasic)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET: %d allow=%q", r.status, r.header.Get("Allow"))
	}
	big := `{"redirect_uri":"https://x/cb","user_id":"u","tracking_id":"` + strings.Repeat("x", 70<<10) + `"}`
	r = e.post("/ongoing/access", big)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", r.status)
	}
	r = e.call(http.MethodGet, "/nope", nil, nil)
	if r.status != 404 || r.errDetail(t).Code != 1002 {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
}

func TestErrorsNeverEchoInput(t *testing.T) {
	e := newEnv(t, Config{})
	secret := "SECRET-VALUE-0123456789"
	bodies := []map[string]any{
		{"redirect_uri": secret, "user_id": "u"},
		{"redirect_uri": "https://x/cb", "user_id": "u", "language": secret},
		{"redirect_uri": "https://x/cb", "user_id": "u", "account_types": []string{secret}},
		{"redirect_uri": "https://x/cb", "user_id": "u", "sync_period": secret},
	}
	for _, b := range bodies {
		r := e.post("/ongoing/access", b)
		if r.status != 400 || strings.Contains(string(r.body), secret) {
			t.Errorf("%d %s", r.status, r.body)
		}
	}
	for _, b := range []map[string]any{
		{"grant_type": "authorization_code", "code": secret},
		{"grant_type": "refresh_token", "refresh_token": secret},
		{"grant_type": secret},
		{"grant_type": "password", "username": "figo01", "password": secret},
	} {
		r := e.post("/auth/token", b)
		if r.status != 400 || strings.Contains(string(r.body), secret) || strings.Contains(r.header.Get("WWW-Authenticate"), secret) {
			t.Errorf("%d %s", r.status, r.body)
		}
	}
	r := e.call(http.MethodGet, "/rest/accounts", nil, bearer(secret))
	if r.status != 401 || strings.Contains(string(r.body), secret) {
		t.Errorf("%d %s", r.status, r.body)
	}
}

func TestOngoingSync(t *testing.T) {
	e := newEnv(t, Config{})
	sync := func(user string, ids []string) result {
		return e.post("/ongoing/sync", map[string]any{"redirect_uri": "https://x/cb", "user_id": user,
			"account_ids": ids, "language": "en", "state": "s"})
	}
	if r := sync("nobody", nil); r.status != http.StatusNotFound || r.errDetail(t).Code != 1002 {
		t.Fatalf("unknown user: %d %s", r.status, r.body)
	}
	at := e.exchange(e.connect("alice"))
	var accts struct {
		Accounts []accountJSON `json:"accounts"`
	}
	e.call(http.MethodGet, "/rest/accounts", nil, bearer(at.AccessToken)).json(t, &accts)
	if len(accts.Accounts) != 3 {
		t.Fatalf("accounts %d", len(accts.Accounts))
	}
	if r := sync("alice", []string{"A000.1"}); r.status != 400 || !strings.Contains(r.errDetail(t).Description, "account_ids[0]") {
		t.Fatalf("foreign account id: %d %s", r.status, r.body)
	}
	r := sync("alice", []string{accts.Accounts[1].AccountID})
	if r.status != 200 {
		t.Fatalf("sync: %d %s", r.status, r.body)
	}
	var link struct{ Location, ID string }
	r.json(t, &link)
	cb := e.drive(link.Location, DriveOptions{})
	if cb.Query().Get("code") == "" || cb.Query().Get("flow_id") != link.ID {
		t.Fatalf("sync callback %v", cb.Query())
	}
	// The sync flow only offered the named account; its code yields a normal token pair.
	tr := e.exchange(cb.Query().Get("code"))
	if tr.RefreshToken == "" {
		t.Error("sync exchange returned no refresh token")
	}
}

func TestOnetimeAccess(t *testing.T) {
	e := newEnv(t, Config{})
	r := e.post("/onetime/access", map[string]any{"redirect_uri": "https://x/cb"})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var link struct{ Location, ID string }
	r.json(t, &link)
	cb := e.drive(link.Location, DriveOptions{})
	if cb.Query().Has("state") {
		t.Error("state present although none was sent")
	}
	tr := e.exchange(cb.Query().Get("code"))
	if tr.RefreshToken != "" || tr.AccessToken == "" {
		t.Fatalf("one-time exchange: refresh=%d access=%d chars", len(tr.RefreshToken), len(tr.AccessToken))
	}
	var accts struct {
		Accounts []accountJSON `json:"accounts"`
	}
	e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)).json(t, &accts)
	if len(accts.Accounts) == 0 || accts.Accounts[0].AutoSync {
		t.Errorf("one-time accounts %+v", accts.Accounts)
	}
}
