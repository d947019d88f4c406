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
	"sort"
	"time"
)

// user is a finX user as seen through the sandbox: a set of bank connections.
type user struct {
	id    string
	conns map[string]*connection // by bank name
}

type connection struct {
	bank        *bank
	approved    map[int]bool // account template indexes the user approved
	historyFrom time.Time    // first day of generated history
	connectedAt time.Time
	autoSync    bool
	// consentAt is the last strong authentication for this bank (any completed flow); the consent,
	// and with it autosync, lapses at consentExpires.
	consentAt      time.Time
	consentExpires time.Time
	failing        *failure // replaced, never modified: accountDesc copies the pointer
}

// connectLocked records a completed flow. Reconnecting the same bank adds
// accounts and may extend history; it never removes anything.
func (s *Server) connectLocked(userID string, b *bank, idx []int, syncDays int, autoSync bool, now time.Time) {
	u := s.users[userID]
	if u == nil {
		u = &user{id: userID, conns: map[string]*connection{}}
		s.users[userID] = u
	}
	syncDays = min(max(syncDays, 1), b.maxSyncDays)
	from := startOfDay(now).AddDate(0, 0, -syncDays)
	c := u.conns[b.name]
	if c == nil {
		c = &connection{bank: b, approved: map[int]bool{}, historyFrom: from, connectedAt: now, autoSync: autoSync}
		u.conns[b.name] = c
	}
	if from.Before(c.historyFrom) {
		c.historyFrom = from
	}
	for _, i := range idx {
		c.approved[i] = true
	}
	// The user just authenticated at the bank: a fresh consent, and whatever made syncs fail
	// (credentials, a block) is taken care of.
	c.consentAt, c.consentExpires, c.failing = now, now.Add(s.cfg.ConsentLifetime), nil
}

// accountDesc is everything needed to render an account and its transactions,
// copied out of the store so generation runs without the lock.
type accountDesc struct {
	userID      string
	bank        *bank
	idx         int
	tmpl        accountTemplate
	accountID   string
	accessID    string
	historyFrom time.Time
	connectedAt time.Time
	autoSync    bool

	consentExpires time.Time
	failing        *failure
}

// visibleAccountsLocked lists a user's approved accounts in a stable order.
func (s *Server) visibleAccountsLocked(userID string) []accountDesc {
	u := s.users[userID]
	if u == nil {
		return nil
	}
	var out []accountDesc
	for _, b := range banks { // bank order, not map order, for stable output
		c := u.conns[b.name]
		if c == nil {
			continue
		}
		idx := make([]int, 0, len(c.approved))
		for i := range c.approved {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		for _, i := range idx {
			out = append(out, describeAccount(userID, b, i, c))
		}
	}
	return out
}

func describeAccount(userID string, b *bank, i int, c *connection) accountDesc {
	return accountDesc{
		userID: userID, bank: b, idx: i, tmpl: b.accounts[i],
		accountID:   accountID(userID, b, i),
		accessID:    accessID(userID, b),
		historyFrom: c.historyFrom, connectedAt: c.connectedAt, autoSync: c.autoSync,
		consentExpires: c.consentExpires, failing: c.failing,
	}
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
