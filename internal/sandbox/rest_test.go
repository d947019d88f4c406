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
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

type txList struct {
	Transactions []transactionJSON `json:"transactions"`
}

type acctList struct {
	Accounts []accountJSON `json:"accounts"`
}

func TestAccountsShape(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("shape@example.com"))
	var l acctList
	r := e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken))
	r.json(t, &l)
	if len(l.Accounts) != 3 {
		t.Fatalf("%d accounts", len(l.Accounts))
	}
	for _, a := range l.Accounts {
		if !strings.HasPrefix(a.AccountID, "A") || !strings.HasSuffix(a.AccountID, ".1") || len(a.AccountID) != 21 ||
			!strings.HasPrefix(a.AccessID, "X") || !strings.HasSuffix(a.AccessID, ".1") {
			t.Errorf("ids %q %q", a.AccountID, a.AccessID)
		}
		if !validIBAN(a.IBAN) || a.BankName != "Mockbank" || a.Currency != "EUR" || !a.AutoSync || a.Owner == "" || a.Balance == nil {
			t.Errorf("account %+v", a)
		}
		if _, err := time.Parse(time.RFC3339, a.Status.SyncedAt); err != nil {
			t.Errorf("synced_at %q: %v", a.Status.SyncedAt, err)
		}
	}
	var one accountJSON
	e.call(http.MethodGet, "/rest/accounts/"+l.Accounts[2].AccountID, nil, bearer(tr.AccessToken)).json(t, &one)
	if one.AccountID != l.Accounts[2].AccountID || one.Type != "Credit card" {
		t.Errorf("single account %+v", one)
	}
	if r := e.call(http.MethodGet, "/rest/accounts/A1.1", nil, bearer(tr.AccessToken)); r.status != 404 {
		t.Errorf("foreign account: %d", r.status)
	}
	if r := e.call(http.MethodGet, "/rest/accounts", nil, nil); r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="finX"` {
		t.Errorf("no token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := e.call(http.MethodGet, "/rest/accounts", nil, map[string]string{"Authorization": jsonBasic["Authorization"]}); r.status != 401 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("basic on rest: %d", r.status)
	}
	if r := e.call(http.MethodPost, "/rest/accounts", "{}", bearer(tr.AccessToken)); r.status != 405 {
		t.Errorf("POST accounts: %d", r.status)
	}
}

// validIBAN checks ISO 13616 mod-97 check digits.
func validIBAN(iban string) bool {
	if len(iban) != 22 || !strings.HasPrefix(iban, "DE") {
		return false
	}
	s := iban[4:] + "1314" + iban[2:4]
	rem := 0
	for _, c := range s {
		rem = (rem*10 + int(c-'0')) % 97
	}
	return rem == 1
}

func TestDataIsDeterministic(t *testing.T) {
	e1 := newEnv(t, Config{})
	e2 := newEnv(t, Config{})
	get := func(e *env, user string) (acctList, txList) {
		tr := e.exchange(e.connect(user))
		var a acctList
		var x txList
		e.call(http.MethodGet, "/rest/accounts", nil, bearer(tr.AccessToken)).json(t, &a)
		e.call(http.MethodGet, "/rest/transactions", nil, bearer(tr.AccessToken)).json(t, &x)
		return a, x
	}
	a1, x1 := get(e1, "same")
	a2, x2 := get(e2, "same")
	if !reflect.DeepEqual(a1, a2) || !reflect.DeepEqual(x1, x2) {
		t.Error("two sandboxes disagree on the same user's data")
	}
	if len(x1.Transactions) < 100 {
		t.Errorf("only %d transactions for 90 days", len(x1.Transactions))
	}
	a3, _ := get(e1, "different")
	if a3.Accounts[0].AccountID == a1.Accounts[0].AccountID || a3.Accounts[0].IBAN == a1.Accounts[0].IBAN {
		t.Error("different users share account ids")
	}
	// Balance equals opening balance plus booked transactions, so it moves with data.
	for _, tx := range x1.Transactions {
		if tx.TransactionID == "" || tx.AccountID == "" || tx.Currency != "EUR" || tx.Type == "" || tx.Name == "" {
			t.Fatalf("transaction %+v", tx)
		}
	}
}

func TestTransactionQueries(t *testing.T) {
	e := newEnv(t, Config{})
	tr := e.exchange(e.connect("tx"))
	get := func(q string) (int, txList) {
		r := e.call(http.MethodGet, "/rest/transactions"+q, nil, bearer(tr.AccessToken))
		var l txList
		if r.status == 200 {
			r.json(t, &l)
		}
		return r.status, l
	}
	_, all := get("")
	n := len(all.Transactions)
	if n == 0 || n > 1000 {
		t.Fatalf("%d transactions", n)
	}
	for i := 1; i < n; i++ {
		if all.Transactions[i-1].BookingDate < all.Transactions[i].BookingDate {
			t.Fatal("default sort is not descending")
		}
	}
	// Paging with a small count reproduces the full list exactly.
	var paged []transactionJSON
	for off := 0; ; off += 37 {
		_, p := get(fmt.Sprintf("?count=37&offset=%d", off))
		paged = append(paged, p.Transactions...)
		if len(p.Transactions) < 37 {
			break
		}
	}
	if !reflect.DeepEqual(paged, all.Transactions) {
		t.Error("paging does not reproduce the full list")
	}
	_, asc := get("?sort=asc")
	if asc.Transactions[0] != all.Transactions[n-1] {
		t.Error("asc is not the reverse of desc")
	}
	_, window := get("?since=2026-02-01&until=2026-02-28")
	for _, tx := range window.Transactions {
		if tx.BookingDate < "2026-02-01" || tx.BookingDate >= "2026-03-01" {
			t.Errorf("transaction %s outside window", tx.BookingDate)
		}
	}
	if len(window.Transactions) == 0 {
		t.Error("empty February")
	}
	acct := all.Transactions[0].AccountID
	_, one := get("?accounts=" + acct + ",A999.1")
	for _, tx := range one.Transactions {
		if tx.AccountID != acct {
			t.Fatal("accounts filter leaked another account")
		}
	}
	r := e.call(http.MethodGet, "/rest/accounts/"+acct+"/transactions?count=5", nil, bearer(tr.AccessToken))
	var per txList
	r.json(t, &per)
	if len(per.Transactions) != 5 || per.Transactions[0].AccountID != acct {
		t.Errorf("per-account listing %+v", per.Transactions)
	}
	for _, q := range []string{"?count=0", "?count=1001", "?count=x", "?offset=-1", "?sort=up", "?since=yesterday", "?until=2026-13-01"} {
		if st, _ := get(q); st != 400 {
			t.Errorf("%s: %d", q, st)
		}
	}
	if st, l := get("?offset=100000"); st != 200 || l.Transactions == nil || len(l.Transactions) != 0 {
		t.Errorf("offset past the end: %d %v", st, l.Transactions)
	}
	// Today's transactions are pending; tomorrow they are booked and new ones appear.
	e.clock.Advance(24 * time.Hour)
	tr, _ = e.refresh(tr.RefreshToken)
	_, later := get("")
	if len(later.Transactions) < n {
		t.Errorf("history shrank over time: %d < %d", len(later.Transactions), n)
	}
	for _, tx := range later.Transactions {
		if tx.TransactionID == all.Transactions[0].TransactionID && !tx.Booked {
			t.Error("yesterday's transaction still pending")
		}
	}
}

func TestSyncPeriodCappedAtBankMax(t *testing.T) {
	e := newEnv(t, Config{})
	loc, _ := e.link("cap", map[string]any{"sync_period": 5000})
	tr := e.exchange(e.drive(loc, DriveOptions{Bank: "Demobank"}).Query().Get("code"))
	_, oldest := func() (int, txList) {
		r := e.call(http.MethodGet, "/rest/transactions?sort=asc&count=1", nil, bearer(tr.AccessToken))
		var l txList
		r.json(t, &l)
		return r.status, l
	}()
	if len(oldest.Transactions) != 1 {
		t.Fatal("no transactions")
	}
	first, _ := time.Parse(time.RFC3339, oldest.Transactions[0].BookingDate)
	limit := startOfDay(e.clock.Now()).AddDate(0, 0, -180)
	if first.Before(limit) {
		t.Errorf("history starts %s, before the bank's 180-day maximum", first)
	}
}
