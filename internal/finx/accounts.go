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
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Account is a finX account as returned by GET /rest/accounts.
type Account struct {
	AccountID     string // e.g. "A998944684550094849.1"
	AccessID      string // the bank connection, e.g. "X998944684550094849.1"
	Name          string
	Owner         string
	IBAN          string
	AccountNumber string
	BankCode      string
	BankName      string
	BIC           string
	Currency      string
	Type          string // e.g. "Giro account"
	AutoSync      bool
	Balance       *Balance // nil when the response had none (e.g. no balance=ro scope)
	Status        AccountStatus
}

// Balance keeps amounts as the decimal text finX sent, so no precision is lost.
type Balance struct {
	Balance         json.Number
	AvailableAmount json.Number
	CreditLine      json.Number
	BalanceDate     time.Time
}

// AccountStatus is the account's sync status. SyncedAt newer than SucceededAt
// means the last sync failed.
type AccountStatus struct {
	SyncedAt    time.Time
	SucceededAt time.Time
	Message     string
}

type accountWire struct {
	AccountID     string `json:"account_id"`
	AccessID      string `json:"access_id"`
	Name          string `json:"name"`
	Owner         string `json:"owner"`
	IBAN          string `json:"iban"`
	AccountNumber string `json:"account_number"`
	BankCode      string `json:"bank_code"`
	BankName      string `json:"bank_name"`
	BIC           string `json:"bic"`
	Currency      string `json:"currency"`
	Type          string `json:"type"`
	AutoSync      bool   `json:"auto_sync"`
	Balance       *struct {
		Balance         json.Number `json:"balance"`
		AvailableAmount json.Number `json:"available_amount"`
		CreditLine      json.Number `json:"credit_line"`
		BalanceDate     flexTime    `json:"balance_date"`
	} `json:"balance"`
	Status struct {
		SyncedAt    flexTime `json:"synced_at"`
		SucceededAt flexTime `json:"succeeded_at"`
		Message     string   `json:"message"`
	} `json:"status"`
}

// ListAccounts returns every account the access token can see.
func (c *Client) ListAccounts(ctx context.Context, accessToken string) ([]Account, error) {
	if accessToken == "" {
		return nil, localError(EndpointAccounts, "access token is empty")
	}
	resp, err := c.do(ctx, call{endpoint: EndpointAccounts, method: http.MethodGet, path: "rest/accounts",
		bearer: accessToken, secrets: []string{accessToken}})
	if err != nil {
		return nil, err
	}
	accts, reason := parseAccounts(resp.body)
	if reason != "" {
		return nil, malformed(EndpointAccounts, resp.status, reason)
	}
	return accts, nil
}

// maxAccountID bounds an account_id (finX's are a few dozen characters).
const maxAccountID = 256

// parseAccounts requires an "accounts" array whose entries all have an account_id.
func parseAccounts(raw []byte) ([]Account, string) {
	var w struct {
		Accounts *[]accountWire `json:"accounts"`
	}
	if reason := decodeStrict(raw, &w); reason != "" {
		return nil, reason
	}
	if w.Accounts == nil {
		return nil, "response lacks the accounts array"
	}
	out := make([]Account, 0, len(*w.Accounts))
	for _, a := range *w.Accounts {
		if a.AccountID == "" {
			return nil, "response has an account without account_id"
		}
		if len(a.AccountID) > maxAccountID {
			// An id is sent back to finX and quoted in messages; one this long is no id.
			return nil, fmt.Sprintf("response has an account_id longer than %d bytes", maxAccountID)
		}
		acct := Account{AccountID: a.AccountID, AccessID: a.AccessID, Name: a.Name, Owner: a.Owner, IBAN: a.IBAN,
			AccountNumber: a.AccountNumber, BankCode: a.BankCode, BankName: a.BankName, BIC: a.BIC,
			Currency: a.Currency, Type: a.Type, AutoSync: a.AutoSync,
			Status: AccountStatus{SyncedAt: a.Status.SyncedAt.Time, SucceededAt: a.Status.SucceededAt.Time,
				Message: truncate(sanitize(a.Status.Message), maxMessage)}}
		if b := a.Balance; b != nil {
			acct.Balance = &Balance{Balance: b.Balance, AvailableAmount: b.AvailableAmount,
				CreditLine: b.CreditLine, BalanceDate: b.BalanceDate.Time}
		}
		out = append(out, acct)
	}
	return out, ""
}
