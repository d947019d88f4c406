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
	"testing"
	"time"
)

// accountStatuses lists the status of every account the access token sees.
func (e *env) accountStatuses(accessToken string) []accountJSON {
	e.t.Helper()
	var l acctList
	r := e.call(http.MethodGet, "/rest/accounts", nil, bearer(accessToken))
	if r.status != http.StatusOK {
		e.t.Fatalf("accounts: %d %s", r.status, r.body)
	}
	r.json(e.t, &l)
	if len(l.Accounts) == 0 {
		e.t.Fatal("no accounts")
	}
	return l.Accounts
}

func parseISO(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return v
}

// resync runs an /ongoing/sync flow for the user's first account and returns finX's redirect.
func (e *env) resync(user, accessToken string, opts DriveOptions) *url.URL {
	e.t.Helper()
	id := e.accountStatuses(accessToken)[0].AccountID
	r := e.post("/ongoing/sync", map[string]any{"redirect_uri": "https://app.example.com/callback", "user_id": user,
		"account_ids": []string{id}, "state": "renew-1"})
	if r.status != http.StatusOK {
		e.t.Fatalf("ongoing/sync: %d %s", r.status, r.body)
	}
	var link struct{ Location string }
	r.json(e.t, &link)
	return e.drive(link.Location, opts)
}

func TestConsentLapsesAfterItsLifetime(t *testing.T) {
	e := newEnv(t, Config{ConsentLifetime: 48 * time.Hour, AccessTokenTTL: 30 * 24 * time.Hour})
	given := e.clock.Now()
	at := e.exchange(e.connect("lapse@example.com")).AccessToken
	c := e.srv.Consents("lapse@example.com")
	if len(c) != 1 || !c[0].GivenAt.Equal(given) || !c[0].ExpiresAt.Equal(given.Add(48*time.Hour)) {
		t.Fatalf("consents %+v", c)
	}
	for _, a := range e.accountStatuses(at) {
		if a.Status.SyncedAt != a.Status.SucceededAt || a.Status.Message != "" {
			t.Fatalf("fresh consent: %+v", a.Status)
		}
	}

	// Two days on, autosync still tries, and every attempt after the expiry fails.
	e.clock.Advance(49 * time.Hour)
	for _, a := range e.accountStatuses(at) {
		synced, succeeded := parseISO(t, a.Status.SyncedAt), parseISO(t, a.Status.SucceededAt)
		if !succeeded.Before(given.Add(48*time.Hour)) || !synced.After(succeeded) {
			t.Fatalf("lapsed consent: synced %s succeeded %s", synced, succeeded)
		}
		if a.Status.Message != SyncFailureConsentExpired.Message() {
			t.Fatalf("message %q", a.Status.Message)
		}
	}
}

func TestSyncFailuresAndRenewalThroughOngoingSync(t *testing.T) {
	for _, withoutCode := range []bool{false, true} {
		name := map[bool]string{false: "redirect with code", true: "redirect without code"}[withoutCode]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{SyncRedirectWithoutCode: withoutCode, AccessTokenTTL: 30 * 24 * time.Hour})
			const user = "renew@example.com"
			tr := e.exchange(e.connect(user))
			e.clock.Advance(7 * time.Hour)
			failedAt := e.clock.Now()
			if n := e.srv.FailSyncs(user, SyncFailureInvalidCredentials); n != 1 {
				t.Fatalf("FailSyncs hit %d banks", n)
			}
			for _, a := range e.accountStatuses(tr.AccessToken) {
				synced, succeeded := parseISO(t, a.Status.SyncedAt), parseISO(t, a.Status.SucceededAt)
				if !synced.Equal(failedAt) || !succeeded.Before(failedAt) || a.Status.Message != SyncFailureInvalidCredentials.Message() {
					t.Fatalf("after the failure: %+v (failed at %s)", a.Status, failedAt)
				}
			}

			// Cancelling the re-consent changes nothing.
			before := e.srv.Consents(user)[0]
			e.clock.Advance(time.Hour)
			cancel := e.resync(user, tr.AccessToken, DriveOptions{Cancel: true})
			if cancel.Query().Get("cancel") != "true" || cancel.Query().Get("code") != "" {
				t.Fatalf("cancel redirect %v", cancel.Query())
			}
			if got := e.srv.Consents(user)[0]; !got.GivenAt.Equal(before.GivenAt) {
				t.Fatalf("a cancel renewed the consent: %+v", got)
			}
			if a := e.accountStatuses(tr.AccessToken)[0]; a.Status.Message == "" {
				t.Fatal("a cancel cleared the failure")
			}

			// Completing it renews the consent and clears the failure.
			e.clock.Advance(time.Hour)
			redirect := e.resync(user, tr.AccessToken, DriveOptions{})
			q := redirect.Query()
			if q.Get("success") != "true" || q.Get("state") != "renew-1" {
				t.Fatalf("renewal redirect %v", q)
			}
			if withoutCode {
				if q.Has("code") {
					t.Fatal("the code-less variant sent a code")
				}
			} else if renewed := e.exchange(q.Get("code")); renewed.RefreshToken == "" {
				t.Fatal("the renewal's code yields no chain")
			}
			if got := e.srv.Consents(user)[0]; !got.GivenAt.Equal(e.clock.Now()) || !got.ExpiresAt.Equal(e.clock.Now().Add(DefaultConsentLifetime)) {
				t.Fatalf("consent after renewal %+v", got)
			}
			for _, a := range e.accountStatuses(tr.AccessToken) {
				if a.Status.Message != "" || a.Status.SyncedAt != a.Status.SucceededAt {
					t.Fatalf("after renewal: %+v", a.Status)
				}
			}
			// The existing chain goes on either way.
			if _, r := e.refresh(tr.RefreshToken); r.status != http.StatusOK {
				t.Fatalf("the old chain after renewal: %d %s", r.status, r.body)
			}
		})
	}
}

func TestExpireConsentAndFailureControlsOverHTTP(t *testing.T) {
	e := newEnv(t, Config{EnableTestControls: true, AccessTokenTTL: 30 * 24 * time.Hour})
	const user = "ctl@example.com"
	at := e.exchange(e.connect(user)).AccessToken
	path := "/_sandbox/users/" + url.PathEscape(user)

	if r := e.call(http.MethodPost, path+"/sync-failure", map[string]string{"reason": "nope"}, nil); r.status != http.StatusBadRequest {
		t.Fatalf("unknown reason: %d %s", r.status, r.body)
	}
	if r := e.call(http.MethodPost, path+"/sync-failure", map[string]string{"reason": string(SyncFailureBankUnavailable)}, nil); r.status != http.StatusOK {
		t.Fatalf("inject: %d %s", r.status, r.body)
	}
	if m := e.accountStatuses(at)[0].Status.Message; m != SyncFailureBankUnavailable.Message() {
		t.Fatalf("message %q", m)
	}
	if r := e.call(http.MethodDelete, path+"/sync-failure", nil, nil); r.status != http.StatusOK {
		t.Fatalf("clear: %d %s", r.status, r.body)
	}
	if m := e.accountStatuses(at)[0].Status.Message; m != "" {
		t.Fatalf("message after clearing %q", m)
	}

	e.clock.Advance(time.Minute)
	if r := e.call(http.MethodPost, path+"/expire-consent", nil, nil); r.status != http.StatusOK {
		t.Fatalf("expire: %d %s", r.status, r.body)
	}
	var consents struct {
		Consents []struct {
			Bank      string `json:"bank"`
			ExpiresAt string `json:"expires_at"`
		} `json:"consents"`
	}
	e.call(http.MethodGet, path+"/consents", nil, nil).json(t, &consents)
	if len(consents.Consents) != 1 || !parseISO(t, consents.Consents[0].ExpiresAt).Equal(e.clock.Now()) {
		t.Fatalf("consents %+v", consents)
	}
	if m := e.accountStatuses(at)[0].Status.Message; m != SyncFailureConsentExpired.Message() {
		t.Fatalf("message after expiry %q", m)
	}
	// The controls exist only with EnableTestControls.
	off := newEnv(t, Config{})
	if r := off.call(http.MethodPost, path+"/expire-consent", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("controls without EnableTestControls: %d", r.status)
	}
}
