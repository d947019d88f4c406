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
	"math/rand/v2"
	"strconv"
	"time"
)

// txn is one generated transaction.
type txn struct {
	id      string
	amount  money
	booking time.Time
	value   time.Time
	name    string
	purpose string
	typ     string
	booked  bool
}

var (
	shops = []struct{ name, purpose string }{
		{"REWE Markt", "Lebensmittel"}, {"dm-drogerie markt", "Drogerie"},
		{"Deutsche Bahn", "Fahrkarte"}, {"Stadtwerke Beispielstadt", "Strom Abschlag"},
		{"Mobilfunk AG", "Monatsrechnung"}, {"Buchhandlung Lesezeichen", "Buecher"},
		{"Cafe Bohne", "Kartenzahlung"}, {"Online Versand GmbH", "Bestellung"},
		{"Tankstelle Nord", "Kraftstoff"}, {"Apotheke am Markt", "Apotheke"},
	}
	debitTypes = []string{"Card payment", "Direct debit"}
)

// generateTransactions returns every transaction of an account from its
// history start to today, oldest first. Each day is seeded independently
// (user, account, day), so data is stable and new days simply append.
func generateTransactions(a accountDesc, now time.Time) []txn {
	base := hash64("tx", a.userID, a.accountID)
	today := startOfDay(now)
	var out []txn
	for day := startOfDay(a.historyFrom); !day.After(today); day = day.AddDate(0, 0, 1) {
		dayNum := uint64(day.Unix() / 86400)
		rng := rand.New(rand.NewPCG(base, mix64(base^dayNum)))
		start := len(out)
		out = appendDay(out, a.tmpl.kind, day, rng)
		for i := start; i < len(out); i++ {
			t := &out[i]
			t.id = "T" + digits18(hash64("txid", a.accountID, strconv.FormatUint(dayNum, 10), strconv.Itoa(i-start))) + ".1"
			t.booking = day
			if t.value.IsZero() {
				t.value = day
			}
			t.booked = day.Before(today) // today's items are still pending
		}
	}
	return out
}

func appendDay(out []txn, kind accountKind, day time.Time, rng *rand.Rand) []txn {
	month := day.Format("2006-01")
	lastOfMonth := day.AddDate(0, 0, 1).Day() == 1
	switch kind {
	case kindGiro:
		if day.Day() == 1 {
			out = append(out, txn{amount: money(250000 + rng.IntN(100000)), name: "Arbeitgeber GmbH",
				purpose: "Gehalt " + month, typ: "Salary or rent"})
		}
		if day.Day() == 3 {
			out = append(out, txn{amount: -money(90000 + rng.IntN(30000)), name: "Hausverwaltung Beispiel",
				purpose: "Miete " + month, typ: "Standing order"})
		}
		for n := rng.IntN(3); n > 0; n-- {
			s := shops[rng.IntN(len(shops))]
			out = append(out, txn{amount: -money(150 + rng.IntN(12000)), name: s.name, purpose: s.purpose,
				typ: debitTypes[rng.IntN(len(debitTypes))]})
		}
	case kindSavings:
		if day.Day() == 2 {
			out = append(out, txn{amount: money(5000 + rng.IntN(25000)), name: "Eigenes Girokonto",
				purpose: "Sparplan " + month, typ: "Transfer"})
		}
		if lastOfMonth {
			out = append(out, txn{amount: money(10 + rng.IntN(400)), name: "Zinsgutschrift",
				purpose: "Zinsen " + month, typ: "Charges or interest"})
		}
	case kindCard:
		if rng.IntN(2) == 0 {
			s := shops[rng.IntN(len(shops))]
			out = append(out, txn{amount: -money(500 + rng.IntN(20000)), name: s.name, purpose: s.purpose,
				typ: "Card payment", value: day.AddDate(0, 0, -1)})
		}
		if day.Day() == 5 {
			out = append(out, txn{amount: money(20000 + rng.IntN(80000)), name: "Kartenabrechnung",
				purpose: "Ausgleich Kreditkarte " + month, typ: "Transfer"})
		}
	case kindDepot:
		if day.Day() == 15 && day.Month()%3 == 0 {
			out = append(out, txn{amount: money(1000 + rng.IntN(20000)), name: "Beispiel Fonds",
				purpose: "Ausschuettung " + month, typ: "Charges or interest"})
		}
	}
	return out
}

// openingBalance is the balance before the first generated day.
func openingBalance(a accountDesc) money {
	h := hash64("opening", a.userID, a.accountID)
	switch a.tmpl.kind {
	case kindCard:
		return 0
	case kindSavings, kindDepot:
		return money(100000 + h%1500000)
	default:
		return money(50000 + h%500000)
	}
}
