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
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTransactionCount is finX's documented default page size.
const DefaultTransactionCount = 1000

// TransactionQuery selects one page of GET /rest/transactions.
type TransactionQuery struct {
	Offset int
	Count  int       // page size; 0 = server default (1000)
	Since  time.Time // sent as a date (YYYY-MM-DD in Since's location); zero = unset
	Until  time.Time // inclusive, sent like Since
	Sort   string    // "asc", "desc" or "" (server default, desc)
	// Accounts limits the listing to these account ids (sent as CSV).
	Accounts []string
}

// Transaction is one finX transaction.
type Transaction struct {
	TransactionID string
	AccountID     string
	Amount        json.Number // decimal text as sent; negative for debits
	Currency      string
	BookingDate   time.Time
	ValueDate     time.Time
	Name          string
	Purpose       string
	Type          string
	Booked        bool // true when the field is absent
}

type transactionWire struct {
	TransactionID string      `json:"transaction_id"`
	AccountID     string      `json:"account_id"`
	Amount        json.Number `json:"amount"`
	Currency      string      `json:"currency"`
	BookingDate   flexTime    `json:"booking_date"`
	ValueDate     flexTime    `json:"value_date"`
	Name          string      `json:"name"`
	Purpose       string      `json:"purpose"`
	Type          string      `json:"type"`
	Booked        *bool       `json:"booked"`
}

func (q TransactionQuery) values() (url.Values, string) {
	v := url.Values{}
	if q.Offset < 0 || q.Count < 0 {
		return nil, "Offset and Count must not be negative"
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Count > 0 {
		v.Set("count", strconv.Itoa(q.Count))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.DateOnly))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.DateOnly))
	}
	switch q.Sort {
	case "":
	case "asc", "desc":
		v.Set("sort", q.Sort)
	default:
		return nil, `Sort must be "asc", "desc" or empty`
	}
	if len(q.Accounts) > 0 {
		v.Set("accounts", strings.Join(q.Accounts, ","))
	}
	return v, ""
}

// ListTransactions returns one page.
func (c *Client) ListTransactions(ctx context.Context, accessToken string, q TransactionQuery) ([]Transaction, error) {
	if accessToken == "" {
		return nil, localError(EndpointTransactions, "access token is empty")
	}
	v, msg := q.values()
	if msg != "" {
		return nil, localError(EndpointTransactions, msg)
	}
	resp, err := c.do(ctx, call{endpoint: EndpointTransactions, method: http.MethodGet, path: "rest/transactions",
		query: v, bearer: accessToken, secrets: []string{accessToken}})
	if err != nil {
		return nil, err
	}
	txs, reason := parseTransactions(resp.body)
	if reason != "" {
		return nil, malformed(EndpointTransactions, resp.status, reason)
	}
	return txs, nil
}

// AllTransactions pages from q.Offset until a page comes back shorter than
// the page size. Autosync can shift items between pages while we read, so
// results are de-duplicated by transaction_id (first occurrence wins). A full
// page that adds nothing new means the server ignores offset; that is
// reported as malformed rather than looping forever.
func (c *Client) AllTransactions(ctx context.Context, accessToken string, q TransactionQuery) ([]Transaction, error) {
	if q.Count == 0 {
		q.Count = DefaultTransactionCount
	}
	seen := map[string]bool{}
	var out []Transaction
	for {
		page, err := c.ListTransactions(ctx, accessToken, q)
		if err != nil {
			return nil, err
		}
		added := 0
		for _, t := range page {
			if !seen[t.TransactionID] {
				seen[t.TransactionID] = true
				out = append(out, t)
				added++
			}
		}
		if len(page) < q.Count {
			return out, nil
		}
		if added == 0 {
			return nil, malformed(EndpointTransactions, http.StatusOK, "a full page contained only transactions already seen; the server seems to ignore offset")
		}
		q.Offset += len(page)
	}
}

// parseTransactions requires a "transactions" array whose entries all have
// a transaction_id.
func parseTransactions(raw []byte) ([]Transaction, string) {
	var w struct {
		Transactions *[]transactionWire `json:"transactions"`
	}
	if reason := decodeStrict(raw, &w); reason != "" {
		return nil, reason
	}
	if w.Transactions == nil {
		return nil, "response lacks the transactions array"
	}
	out := make([]Transaction, 0, len(*w.Transactions))
	for _, t := range *w.Transactions {
		if t.TransactionID == "" {
			return nil, "response has a transaction without transaction_id"
		}
		booked := t.Booked == nil || *t.Booked
		out = append(out, Transaction{TransactionID: t.TransactionID, AccountID: t.AccountID, Amount: t.Amount,
			Currency: t.Currency, BookingDate: t.BookingDate.Time, ValueDate: t.ValueDate.Time, Name: t.Name,
			Purpose: t.Purpose, Type: t.Type, Booked: booked})
	}
	return out, ""
}
