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
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// form posts a widget form the way a browser would.
func (e *env) form(path string, v url.Values) (int, string, string) {
	e.t.Helper()
	c := noRedirects(e.ts.Client())
	resp, err := c.PostForm(e.ts.URL+path, v)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

func (e *env) get(rawURL string) (int, string) {
	e.t.Helper()
	resp, err := e.ts.Client().Get(rawURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func widgetToken(t *testing.T, location string) string {
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func TestWidgetByFormPosts(t *testing.T) {
	e := newEnv(t, Config{})
	loc, id := e.link("bob", map[string]any{"language": "en"})
	tok := widgetToken(t, loc)

	status, page := e.get(loc)
	if status != 200 || !strings.Contains(page, `id="bank-select"`) || !strings.Contains(page, `<option value="Mockbank" selected>`) {
		t.Fatalf("bank page %d:\n%s", status, page)
	}
	for _, want := range []string{`id="bank-form"`, `name="bank"`, `id="bank-submit"`, `id="cancel"`, `lang="en"`} {
		if !strings.Contains(page, want) {
			t.Errorf("bank page lacks %s", want)
		}
	}
	status, page, _ = e.form("/widget/"+id+"/bank", url.Values{"token": {tok}, "bank": {"Mockbank"}})
	if status != 200 || !strings.Contains(page, `id="login-form"`) || strings.Contains(page, `id="login-error"`) {
		t.Fatalf("login page %d:\n%s", status, page)
	}
	// Wrong PIN: the login page again, with a visible error.
	status, page, _ = e.form("/widget/"+id+"/login", url.Values{"token": {tok}, "bank": {"Mockbank"},
		"username": {"figo01"}, "password": {"000000"}})
	if status != 200 || !strings.Contains(page, `id="login-error"`) || !strings.Contains(page, `id="username"`) {
		t.Fatalf("wrong PIN page %d:\n%s", status, page)
	}
	if strings.Contains(page, "000000") {
		t.Error("login page echoes the wrong PIN")
	}
	// Approving before a successful login is refused.
	status, _, _ = e.form("/widget/"+id+"/approve", url.Values{"token": {tok}, "account": {"x"}})
	if status != http.StatusConflict {
		t.Errorf("approve before login: %d", status)
	}
	status, page, _ = e.form("/widget/"+id+"/login", url.Values{"token": {tok}, "bank": {"Mockbank"},
		"username": {"figo01"}, "password": {"654321"}})
	if status != 200 || strings.Count(page, `name="account"`) != 3 || !strings.Contains(page, `id="approve"`) {
		t.Fatalf("accounts page %d:\n%s", status, page)
	}
	// No account selected: the page again with an error.
	status, page, _ = e.form("/widget/"+id+"/approve", url.Values{"token": {tok}})
	if status != 200 || !strings.Contains(page, `id="accounts-error"`) {
		t.Fatalf("empty selection %d:\n%s", status, page)
	}
	forms := parseForms(scanTags(page))
	acct := forms["accounts-form"].choices["account"][0].value
	status, _, loc2 := e.form("/widget/"+id+"/approve", url.Values{"token": {tok}, "account": {acct}})
	if status != http.StatusSeeOther {
		t.Fatalf("approve: %d", status)
	}
	prefix := "https://app.example.com/callback?code="
	if !strings.HasPrefix(loc2, prefix) {
		t.Fatalf("redirect %q", loc2)
	}
	rest := loc2[len(prefix):]
	code, tail, _ := strings.Cut(rest, "&")
	if tail != "state=st-123&success=true&flow_id="+id || len(code) < 96 {
		t.Errorf("redirect parameters out of order or wrong: code %d chars, tail %q", len(code), tail)
	}
	// A flow completes once.
	status, page, _ = e.form("/widget/"+id+"/approve", url.Values{"token": {tok}, "account": {acct}})
	if status != http.StatusGone || !strings.Contains(page, `data-reason="completed"`) {
		t.Errorf("second approve: %d", status)
	}
	if status, _ := e.get(loc); status != http.StatusGone {
		t.Errorf("reopen completed flow: %d", status)
	}
	// Only the approved account is visible with the resulting token.
	tr := e.exchange(code)
	var accts struct {
		Accounts []accountJSON `json:"accounts"`
	}
	e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)).json(t, &accts)
	if len(accts.Accounts) != 1 || accts.Accounts[0].AccountID != acct {
		t.Errorf("visible accounts %+v", accts.Accounts)
	}
}

func TestWidgetCallbackURLs(t *testing.T) {
	e := newEnv(t, Config{})
	cases := []struct {
		name, redirect, state string
		cancel                bool
		want                  string // with CODE and FLOW placeholders
	}{
		{"approve", "https://a.example/cb", "s1", false, "https://a.example/cb?code=CODE&state=s1&success=true&flow_id=FLOW"},
		{"approve keeps query", "https://a.example/cb?x=1&y=%2F", "s 2", false, "https://a.example/cb?x=1&y=%2F&code=CODE&state=s+2&success=true&flow_id=FLOW"},
		{"approve without state", "https://a.example/cb", "", false, "https://a.example/cb?code=CODE&success=true&flow_id=FLOW"},
		{"cancel", "https://a.example/cb", "s1", true, "https://a.example/cb?state=s1&success=false&cancel=true&flow_id=FLOW"},
		{"cancel without state", "http://localhost:9/cb?", "", true, "http://localhost:9/cb?success=false&cancel=true&flow_id=FLOW"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"redirect_uri": tc.redirect, "user_id": "carol"}
			if tc.state != "" {
				body["state"] = tc.state
			}
			r := e.post("/ongoing/access", body)
			var link struct{ Location, ID string }
			r.json(t, &link)
			got, err := DriveWidget(context.Background(), e.ts.Client(), link.Location, DriveOptions{Cancel: tc.cancel})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tc.want, "FLOW", link.ID)
			if !tc.cancel {
				u, _ := url.Parse(got)
				want = strings.ReplaceAll(want, "CODE", url.QueryEscape(u.Query().Get("code")))
			}
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestWidgetErrorsAndExpiry(t *testing.T) {
	e := newEnv(t, Config{FlowTTL: 10 * time.Minute})
	loc, id := e.link("dave", nil)
	if status, page := e.get(e.ts.URL + "/widget/" + id + "?token=wrong"); status != 404 || !strings.Contains(page, `data-reason="not-found"`) {
		t.Errorf("wrong token: %d", status)
	}
	if status, _ := e.get(e.ts.URL + "/widget/nope?token=x"); status != 404 {
		t.Errorf("unknown flow: %d", status)
	}
	e.clock.Advance(10 * time.Minute)
	if status, page := e.get(loc); status != http.StatusGone || !strings.Contains(page, `data-reason="expired"`) {
		t.Errorf("expired flow: %d", status)
	}
	if _, err := DriveWidget(context.Background(), e.ts.Client(), loc, DriveOptions{}); err == nil ||
		!strings.Contains(err.Error(), "410") || strings.Contains(err.Error(), widgetToken(t, loc)) {
		t.Errorf("DriveWidget on expired flow: %v", err)
	}
	if _, err := e.srv.CompleteFlow(id, true); err != ErrFlowExpired {
		t.Errorf("CompleteFlow expired: %v", err)
	}
}

func TestDriveWidgetOptions(t *testing.T) {
	e := newEnv(t, Config{})
	loc, _ := e.link("erin", nil)
	_, err := DriveWidget(context.Background(), e.ts.Client(), loc, DriveOptions{Password: "nope"})
	if err == nil || !strings.Contains(err.Error(), "login rejected") {
		t.Fatalf("wrong password: %v", err)
	}
	_, err = DriveWidget(context.Background(), e.ts.Client(), loc, DriveOptions{Bank: "Nobank"})
	if err == nil || !strings.Contains(err.Error(), "not offered") {
		t.Fatalf("unknown bank: %v", err)
	}
	// Demobank also accepts the demo/demo login from the finX Postman docs.
	cb := e.drive(loc, DriveOptions{Bank: "Demobank", Username: "demo", Password: "demo"})
	tr := e.exchange(cb.Query().Get("code"))
	var accts struct {
		Accounts []accountJSON `json:"accounts"`
	}
	e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)).json(t, &accts)
	if len(accts.Accounts) != 2 || accts.Accounts[0].BankName != "Demobank" || accts.Accounts[0].Type != "Depot" {
		t.Errorf("demobank accounts %+v", accts.Accounts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DriveWidget(ctx, e.ts.Client(), loc, DriveOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestWidgetSelectionRules(t *testing.T) {
	e := newEnv(t, Config{})
	// Single selection with a type filter: radio buttons, one account.
	loc, _ := e.link("frank", map[string]any{"allow_multi_selection": false,
		"account_types": []string{"Giro account", "Credit card"}})
	if status, _ := e.get(loc); status != 200 {
		t.Fatal(status)
	}
	tok := widgetToken(t, loc)
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], e.ts.URL+"/widget/")
	_, page, _ := e.form("/widget/"+id+"/login", url.Values{"token": {tok}, "bank": {"Mockbank"},
		"username": {"figo01"}, "password": {"654321"}})
	if strings.Count(page, `type="radio"`) != 2 || strings.Count(page, " checked") != 1 {
		t.Fatalf("single-selection page:\n%s", page)
	}
	choices := parseForms(scanTags(page))["accounts-form"].choices["account"]
	_, page, _ = e.form("/widget/"+id+"/approve", url.Values{"token": {tok}, "account": {choices[0].value, choices[1].value}})
	if !strings.Contains(page, `id="accounts-error"`) {
		t.Errorf("two accounts accepted under allow_multi_selection=false")
	}
	// Preselection by IBAN (spaces allowed) checks only that account.
	mock := bankByName("Mockbank")
	iban := germanIBAN(mock.code, accountNumber("gina", mock, 1))
	spaced := iban[:4] + " " + iban[4:8] + " " + iban[8:]
	r := e.post("/ongoing/access", map[string]any{"redirect_uri": "https://x/cb", "user_id": "gina",
		"accounts": []map[string]string{{"id": spaced}}})
	var link struct{ Location, ID string }
	r.json(t, &link)
	target, err := e.srv.CompleteFlow(link.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	tr := e.exchange(u.Query().Get("code"))
	var accts struct {
		Accounts []accountJSON `json:"accounts"`
	}
	e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)).json(t, &accts)
	if len(accts.Accounts) != 1 || accts.Accounts[0].IBAN != iban {
		t.Errorf("preselected %s, got %+v", iban, accts.Accounts)
	}
}

func TestWidgetLanguages(t *testing.T) {
	e := newEnv(t, Config{})
	for lang, word := range map[string]string{"de": "Bank auswählen", "en": "Choose your bank",
		"es": "Elija su banco", "fr": "Choisissez votre banque", "ar": "اختر البنك"} {
		loc, _ := e.link("hans", map[string]any{"language": lang})
		_, page := e.get(loc)
		if !strings.Contains(page, word) || !strings.Contains(page, `lang="`+lang+`"`) || !strings.Contains(page, `id="bank-select"`) {
			t.Errorf("%s page lacks %q", lang, word)
		}
		if lang == "ar" && !strings.Contains(page, `dir="rtl"`) {
			t.Error("arabic page is not rtl")
		}
	}
}

func TestWidgetHTMLEscapesState(t *testing.T) {
	e := newEnv(t, Config{})
	loc, id := e.link("ivy", map[string]any{"state": `"><script>alert(1)</script>`})
	_, page := e.get(loc)
	if strings.Contains(page, "<script>") {
		t.Fatal("unescaped markup on the page")
	}
	target, err := e.srv.CompleteFlow(id, false)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	if u.Query().Get("state") != `"><script>alert(1)</script>` {
		t.Errorf("state not round-tripped: %q", u.Query().Get("state"))
	}
}
