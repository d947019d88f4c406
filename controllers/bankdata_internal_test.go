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

package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
)

// The rules that need no API server: what of an IBAN status may show, how finX's sync messages
// read, and how the consent is dated. The lifecycle around them runs in consent_test.go.

func TestMaskIBANShowsTheLastFourOnly(t *testing.T) {
	for in, want := range map[string]string{
		"DE89370400440532013000":       "****3000",
		"DE89 3704 0044 0532 0130 00":  "****3000",
		"":                             "",
		"1234":                         "****",
		"12":                           "****",
		"GB29NWBK60161331926819ÄÖÜß12": "****Üß12",
	} {
		if got := maskIBAN(in); got != want {
			t.Errorf("maskIBAN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskIBANsInSyncMessages(t *testing.T) {
	for in, want := range map[string]string{
		"Login failed for DE89370400440532013000.":                      "Login failed for ****3000.",
		"Konto DE89 3704 0044 0532 0130 00 gesperrt":                    "Konto ****3000 gesperrt",
		"GB29NWBK60161331926819 and DE02 1203 0000 0000 2020 51 LOCKED": "****6819 and ****2051 LOCKED",
		"Invalid credentials":                                           "Invalid credentials",
		"Error DE12 at bank":                                            "Error DE12 at bank",
	} {
		if got := maskIBANs(in); got != want {
			t.Errorf("maskIBANs(%q) = %q, want %q", in, got, want)
		}
	}
	items := accountItems([]finx.Account{{AccountID: "A1", IBAN: "DE89370400440532013000",
		Status: finx.AccountStatus{Message: "credentials invalid for DE89370400440532013000"}}})
	if got := items[0].SyncMessage; got != "credentials invalid for ****3000" {
		t.Errorf("sync message %q keeps the IBAN", got)
	}
}

func TestAccountItemsKeepNoOwnerOrBalance(t *testing.T) {
	synced := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	items := accountItems([]finx.Account{
		{AccountID: "B2", Name: "Tagesgeld", Owner: "Erika Mustermann", IBAN: "DE02120300000000202051", BankName: "Mockbank",
			Type: "Savings account", Balance: &finx.Balance{Balance: "1367.39"}, Status: finx.AccountStatus{SyncedAt: synced, SucceededAt: synced}},
		{AccountID: "A1", Name: "Girokonto", IBAN: "DE89370400440532013000", Status: finx.AccountStatus{SyncedAt: synced, Message: "m"}},
		{AccountID: "A1", Name: "Girokonto again"},
	})
	if len(items) != 2 || items[0].ID != "A1" || items[1].ID != "B2" {
		t.Fatalf("items %+v: want A1, B2 once each, in id order", items)
	}
	b := items[1]
	if b.IBAN != "****2051" || b.DisplayName != "Tagesgeld" || b.BankName != "Mockbank" || b.Type != "Savings account" ||
		!b.SyncedAt.Time.Equal(synced) || !b.SucceededAt.Time.Equal(synced) {
		t.Errorf("item %+v", b)
	}
	if items[0].SucceededAt != nil || items[0].SyncMessage != "m" {
		t.Errorf("a sync that never succeeded keeps succeededAt empty and the message: %+v", items[0])
	}
}

func TestSyncProblemTellsUserSideErrorsFromPassingOnes(t *testing.T) {
	for _, tc := range []struct {
		msg                string
		needsUser, expired bool
	}{
		{"Login credentials are invalid. Please update them.", true, false},
		{"Online banking access is blocked. Please contact your bank.", true, false},
		{"The consent for this bank has expired. Please renew it.", true, true},
		{"Account locked after too many PIN attempts", true, false},
		{"The bank is temporarily unavailable.", false, false},
		{"", false, false},
	} {
		needs, expired := syncProblem(tc.msg)
		if needs != tc.needsUser || expired != tc.expired {
			t.Errorf("syncProblem(%q) = %v, %v; want %v, %v", tc.msg, needs, expired, tc.needsUser, tc.expired)
		}
	}
}

func TestConsentDatesCapTheLeadAtHalfTheLifetime(t *testing.T) {
	given := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &reconcileState{conn: &v1.BankConnection{}, client: &resolvedClient{consentLifetime: 180 * 24 * time.Hour}}
	d := consentDates(st, given)
	if !d.ExpiresAt.Time.Equal(given.Add(180*24*time.Hour)) || !d.RenewalDueAt.Time.Equal(given.Add(166*24*time.Hour)) {
		t.Errorf("default dates %+v", d)
	}
	st.client.consentLifetime = 2 * time.Hour
	st.conn.Spec.ConsentRenewalBefore = &metav1.Duration{Duration: 14 * 24 * time.Hour}
	if d := consentDates(st, given); !d.RenewalDueAt.Time.Equal(given.Add(time.Hour)) {
		t.Errorf("a lead longer than the lifetime is capped at half of it: due %s", d.RenewalDueAt)
	}
}
