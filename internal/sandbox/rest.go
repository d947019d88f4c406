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
	"sort"
	"strconv"
	"strings"
	"time"
)

const maxTransactionCount = 1000

// bearer authenticates a /rest request and returns the token's user and scope.
func (s *Server) bearer(r *http.Request) (accessEntry, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		e := errNoBearer()
		return accessEntry{}, &e
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		e := errInvalidToken("the Authorization header must be Bearer <access token>")
		return accessEntry{}, &e
	}
	k := keyOf(strings.TrimSpace(tok))
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.access[k]
	if a == nil || a.revoked || !s.now().Before(a.expires) {
		e := errInvalidToken("the access token is unknown, expired or revoked")
		return accessEntry{}, &e
	}
	return *a, nil
}

// authorizedAccounts authenticates, checks scope and snapshots the user's accounts.
func (s *Server) authorizedAccounts(w http.ResponseWriter, r *http.Request, scope string) ([]accountDesc, accessEntry, time.Time, bool) {
	a, e := s.bearer(r)
	if e != nil {
		writeError(w, *e)
		return nil, a, time.Time{}, false
	}
	if !hasScope(a.scope, scope) {
		writeError(w, errInsufficientScope(scope))
		return nil, a, time.Time{}, false
	}
	s.mu.Lock()
	accts := s.visibleAccountsLocked(a.userID)
	now := s.now()
	s.mu.Unlock()
	return accts, a, now, true
}

func (s *Server) handleListAccounts(w http.ResponseWriter, r *http.Request, _ []byte) {
	accts, a, now, ok := s.authorizedAccounts(w, r, scopeAccounts)
	if !ok {
		return
	}
	withBalance := hasScope(a.scope, scopeBalance)
	out := make([]accountJSON, 0, len(accts))
	for _, d := range accts {
		var txns []txn
		if withBalance {
			txns = generateTransactions(d, now)
		}
		out = append(out, renderAccount(d, txns, withBalance, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
}

func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request, _ []byte) {
	accts, a, now, ok := s.authorizedAccounts(w, r, scopeAccounts)
	if !ok {
		return
	}
	d, found := findAccount(accts, r.PathValue("id"))
	if !found {
		writeError(w, errNotFound("no account with this account_id is visible to the access token"))
		return
	}
	withBalance := hasScope(a.scope, scopeBalance)
	var txns []txn
	if withBalance {
		txns = generateTransactions(d, now)
	}
	writeJSON(w, http.StatusOK, renderAccount(d, txns, withBalance, now))
}

func (s *Server) handleTransactions(w http.ResponseWriter, r *http.Request, _ []byte) {
	accts, _, now, ok := s.authorizedAccounts(w, r, scopeTransactions)
	if !ok {
		return
	}
	q, e := parseTxQuery(r.URL.Query(), true)
	if e != nil {
		writeError(w, *e)
		return
	}
	if q.accounts != nil {
		// Ids the token cannot see are ignored rather than failing the whole
		// listing, so a removed account does not break a poller.
		var keep []accountDesc
		for _, d := range accts {
			if q.accounts[d.accountID] {
				keep = append(keep, d)
			}
		}
		accts = keep
	}
	writeTransactions(w, accts, q, now)
}

func (s *Server) handleAccountTransactions(w http.ResponseWriter, r *http.Request, _ []byte) {
	accts, _, now, ok := s.authorizedAccounts(w, r, scopeTransactions)
	if !ok {
		return
	}
	d, found := findAccount(accts, r.PathValue("id"))
	if !found {
		writeError(w, errNotFound("no account with this account_id is visible to the access token"))
		return
	}
	q, e := parseTxQuery(r.URL.Query(), false)
	if e != nil {
		writeError(w, *e)
		return
	}
	writeTransactions(w, []accountDesc{d}, q, now)
}

func findAccount(accts []accountDesc, id string) (accountDesc, bool) {
	for _, d := range accts {
		if d.accountID == id {
			return d, true
		}
	}
	return accountDesc{}, false
}

type txQuery struct {
	offset, count int
	since, until  time.Time // inclusive booking-date bounds; zero = open
	asc           bool
	accounts      map[string]bool // nil = all
}

func parseTxQuery(v url.Values, allowAccounts bool) (txQuery, *apiError) {
	q := txQuery{count: maxTransactionCount}
	bad := func(desc string) (txQuery, *apiError) {
		e := errBadRequest(desc)
		return txQuery{}, &e
	}
	if s := v.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return bad("offset must be a non-negative integer")
		}
		q.offset = n
	}
	if s := v.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxTransactionCount {
			return bad("count must be an integer from 1 to 1000")
		}
		q.count = n
	}
	var ok bool
	if q.since, ok = parseDay(v.Get("since")); !ok {
		return bad("since must be a date (YYYY-MM-DD) or an RFC 3339 timestamp")
	}
	if q.until, ok = parseDay(v.Get("until")); !ok {
		return bad("until must be a date (YYYY-MM-DD) or an RFC 3339 timestamp")
	}
	switch v.Get("sort") {
	case "", "desc":
	case "asc":
		q.asc = true
	default:
		return bad("sort must be asc or desc")
	}
	if s := v.Get("accounts"); s != "" && allowAccounts {
		q.accounts = map[string]bool{}
		for _, id := range strings.Split(s, ",") {
			if id = strings.TrimSpace(id); id != "" {
				q.accounts[id] = true
			}
		}
	}
	return q, nil
}

// parseDay accepts a date or timestamp and reduces it to a UTC day.
func parseDay(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return startOfDay(t), true
	}
	return time.Time{}, false
}

func writeTransactions(w http.ResponseWriter, accts []accountDesc, q txQuery, now time.Time) {
	var all []transactionJSON
	for _, d := range accts {
		for _, t := range generateTransactions(d, now) {
			if (!q.since.IsZero() && t.booking.Before(q.since)) || (!q.until.IsZero() && t.booking.After(q.until)) {
				continue
			}
			all = append(all, renderTransaction(d, t))
		}
	}
	// Booking date then id gives a total order, so offset paging is stable.
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		less := a.BookingDate < b.BookingDate || (a.BookingDate == b.BookingDate && a.TransactionID < b.TransactionID)
		if q.asc {
			return less
		}
		return !less && (a.BookingDate != b.BookingDate || a.TransactionID != b.TransactionID)
	})
	page := []transactionJSON{}
	if q.offset < len(all) {
		page = all[q.offset:min(len(all), q.offset+q.count)]
	}
	writeJSON(w, http.StatusOK, map[string]any{"transactions": page})
}
