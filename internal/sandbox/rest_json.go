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

import "time"

// Wire shapes follow the account example in the finX (white-label) docs.

const isoLayout = "2006-01-02T15:04:05.000-07:00"

type accountJSON struct {
	AccountID     string       `json:"account_id"`
	AccessID      string       `json:"access_id"`
	Name          string       `json:"name"`
	Owner         string       `json:"owner"`
	AutoSync      bool         `json:"auto_sync"`
	AccountNumber string       `json:"account_number"`
	BankCode      string       `json:"bank_code"`
	BankName      string       `json:"bank_name"`
	BIC           string       `json:"bic"`
	IBAN          string       `json:"iban"`
	Currency      string       `json:"currency"`
	Type          string       `json:"type"`
	SavePin       bool         `json:"save_pin"`
	Balance       *balanceJSON `json:"balance,omitempty"` // only with scope balance=ro
	Status        statusJSON   `json:"status"`
}

type balanceJSON struct {
	Balance              money  `json:"balance"`
	AvailableAmount      money  `json:"available_amount"`
	CreditLine           money  `json:"credit_line"`
	MonthlySpendingLimit money  `json:"monthly_spending_limit"`
	BalanceDate          string `json:"balance_date"`
}

type statusJSON struct {
	SyncedAt    string `json:"synced_at"`
	SucceededAt string `json:"succeeded_at"`
	Message     string `json:"message"`
}

type transactionJSON struct {
	TransactionID string `json:"transaction_id"`
	AccountID     string `json:"account_id"`
	Amount        money  `json:"amount"`
	Currency      string `json:"currency"`
	BookingDate   string `json:"booking_date"`
	ValueDate     string `json:"value_date"`
	Name          string `json:"name"`
	Purpose       string `json:"purpose"`
	Type          string `json:"type"`
	Booked        bool   `json:"booked"`
}

// lastSync is the latest of the four daily autosync slots (02, 08, 14, 20 UTC)
// that is not in the future, but never before the connection was made.
func lastSync(connectedAt, now time.Time) time.Time {
	day := startOfDay(now)
	t := day.Add(-4 * time.Hour) // yesterday's 20:00 slot
	for _, h := range []int{2, 8, 14, 20} {
		if slot := day.Add(time.Duration(h) * time.Hour); !slot.After(now) {
			t = slot
		}
	}
	if t.Before(connectedAt) {
		return connectedAt
	}
	return t
}

func renderAccount(a accountDesc, txns []txn, withBalance bool, now time.Time) accountJSON {
	num := accountNumber(a.userID, a.bank, a.idx)
	out := accountJSON{
		AccountID: a.accountID, AccessID: a.accessID, Name: a.tmpl.name, Owner: ownerName(a.userID),
		AutoSync: a.autoSync, AccountNumber: num, BankCode: a.bank.code, BankName: a.bank.name,
		BIC: a.bank.bic, IBAN: germanIBAN(a.bank.code, num), Currency: a.tmpl.currency, Type: a.tmpl.typ,
		Status: syncStatus(a, now),
	}
	if withBalance {
		bal := openingBalance(a)
		for _, t := range txns {
			if t.booked {
				bal += t.amount
			}
		}
		b := &balanceJSON{Balance: bal, AvailableAmount: bal, BalanceDate: now.UTC().Format(isoLayout)}
		if a.tmpl.kind == kindCard {
			b.CreditLine = 300000
			b.AvailableAmount = bal + b.CreditLine
		}
		out.Balance = b
	}
	return out
}

func renderTransaction(a accountDesc, t txn) transactionJSON {
	return transactionJSON{
		TransactionID: t.id, AccountID: a.accountID, Amount: t.amount, Currency: a.tmpl.currency,
		BookingDate: t.booking.Format(isoLayout), ValueDate: t.value.Format(isoLayout),
		Name: t.name, Purpose: t.purpose, Type: t.typ, Booked: t.booked,
	}
}
