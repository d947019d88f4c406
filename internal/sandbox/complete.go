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
	"errors"
	"net/url"
	"strings"
	"time"
)

type offer struct {
	idx       int
	id, iban  string
	label     string
	checked   bool
	matchedBy bool // preselected via the request's accounts list
}

// offers lists the accounts a flow may approve at bank b: filtered by
// account_types and, for sync flows, account_ids. accounts[].id (IBAN or
// account id) only pre-checks boxes; it never hides accounts.
func offers(f *flow, b *bank) []offer {
	var out []offer
	for i, t := range b.accounts {
		if len(f.types) > 0 && !contains(f.types, t.typ) {
			continue
		}
		id := accountID(f.userID, b, i)
		if len(f.accountIDs) > 0 && !contains(f.accountIDs, id) {
			continue
		}
		iban := germanIBAN(b.code, accountNumber(f.userID, b, i))
		o := offer{idx: i, id: id, iban: iban, label: t.name + " (" + t.currency + ")"}
		for _, p := range f.preselect {
			if p == id || normalizeIBAN(p) == iban {
				o.matchedBy = true
			}
		}
		out = append(out, o)
	}
	anyMatch := false
	for _, o := range out {
		anyMatch = anyMatch || o.matchedBy
	}
	checkedOne := false
	for i := range out {
		c := out[i].matchedBy || (!anyMatch && f.allowMulti)
		if !f.allowMulti { // radio buttons: at most one, default the first
			c = !checkedOne && (out[i].matchedBy || !anyMatch)
		}
		out[i].checked = c
		checkedOne = checkedOne || c
	}
	return out
}

func normalizeIBAN(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, " ", ""))
}

// finishLocked completes a flow exactly once and returns the callback URL.
func (s *Server) finishLocked(f *flow, approve bool, b *bank, idx []int, code string, now time.Time) string {
	f.done = true
	s.noteWriteLocked(now)
	if !approve {
		return callbackURL(f.redirectURI, param("state", f.state), param("success", "false"),
			param("cancel", "true"), param("flow_id", f.id))
	}
	s.connectLocked(f.userID, b, idx, f.syncPeriod, f.kind != kindOnetime, now)
	if f.kind == kindSync && s.cfg.SyncRedirectWithoutCode {
		// The consent is renewed at finX; the client keeps the chain it has.
		return callbackURL(f.redirectURI, param("state", f.state), param("success", "true"), param("flow_id", f.id))
	}
	s.codes[keyOf(code)] = &codeEntry{flowID: f.id, userID: f.userID, kind: f.kind,
		redirectURI: f.redirectURI, expires: now.Add(s.cfg.CodeTTL)}
	return callbackURL(f.redirectURI, param("code", code), param("state", f.state),
		param("success", "true"), param("flow_id", f.id))
}

type kv struct{ k, v string }

func param(k, v string) kv { return kv{k, v} }

// callbackURL appends parameters in the given order (empty values are
// skipped, which drops an absent state) and keeps redirect_uri's own query.
func callbackURL(redirectURI string, params ...kv) string {
	var b strings.Builder
	b.WriteString(redirectURI)
	sep := "?"
	if i := strings.IndexByte(redirectURI, '?'); i >= 0 {
		sep = "&"
		if i == len(redirectURI)-1 || strings.HasSuffix(redirectURI, "&") {
			sep = ""
		}
	}
	for _, p := range params {
		if p.v == "" {
			continue
		}
		b.WriteString(sep)
		b.WriteString(url.QueryEscape(p.k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.v))
		sep = "&"
	}
	return b.String()
}

// Errors returned by CompleteFlow.
var (
	ErrFlowNotFound  = errors.New("sandbox: no such flow")
	ErrFlowExpired   = errors.New("sandbox: flow expired")
	ErrFlowCompleted = errors.New("sandbox: flow already completed")
	ErrNoAccounts    = errors.New("sandbox: the flow offers no accounts to approve")
)

// CompleteFlow finishes a flow as a person with figo01 / 654321 would: at the
// bank already chosen (else the preselected one, else Mockbank), approving the
// pre-checked accounts (all of them when none is pre-checked, the first one
// when multi-selection is off). It returns the callback URL.
func (s *Server) CompleteFlow(flowID string, approve bool) (string, error) {
	code := randomToken(codeMinChars, codeMaxChars)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	f := s.flows[flowID]
	switch {
	case f == nil:
		return "", ErrFlowNotFound
	case f.done:
		return "", ErrFlowCompleted
	case !now.Before(f.expires):
		return "", ErrFlowExpired
	}
	if !approve {
		return s.finishLocked(f, false, nil, nil, "", now), nil
	}
	name := f.loggedIn
	for _, n := range []string{f.bank, f.preBank, defaultBank} {
		if name == "" {
			name = n
		}
	}
	b := bankByName(name)
	var idx []int
	for _, o := range offers(f, b) {
		if o.checked {
			idx = append(idx, o.idx)
		}
	}
	if len(idx) == 0 {
		return "", ErrNoAccounts
	}
	return s.finishLocked(f, true, b, idx, code, now), nil
}
