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
	"strconv"
	"strings"
	"time"
)

type flowKind int

const (
	kindOngoing flowKind = iota
	kindSync
	kindOnetime
)

// flow is one widget session created by /ongoing/access, /ongoing/sync or /onetime/access.
type flow struct {
	id          string
	kind        flowKind
	widgetKey   tokenKey
	userID      string // onetime flows get a private synthetic user
	redirectURI string
	state       string // "" = omitted from the callback
	language    string
	preBank     string   // bank preselected by provider_id or sync account_ids
	preselect   []string // accounts[].id: IBANs or account ids to pre-check
	types       []string // account_types filter
	accountIDs  []string // sync: only these accounts are offered
	allowMulti  bool
	syncPeriod  int
	expires     time.Time

	bank     string // chosen on the bank page
	loggedIn string // bank the user logged in to
	done     bool
}

type accessRequest struct {
	RedirectURI         string       `json:"redirect_uri"`
	UserID              string       `json:"user_id"`
	State               string       `json:"state"`
	TrackingID          string       `json:"tracking_id"`
	Language            string       `json:"language"`
	ProviderID          string       `json:"provider_id"`
	Accounts            []accountRef `json:"accounts"`
	AccountTypes        []string     `json:"account_types"`
	AllowMultiSelection *bool        `json:"allow_multi_selection"`
	SyncPeriod          *int         `json:"sync_period"`
	SaveSecrets         bool         `json:"save_secrets"`
	AccountIDs          []string     `json:"account_ids"` // /ongoing/sync only
}

type accountRef struct {
	ID string `json:"id"`
}

var (
	languages    = []string{"de", "en", "es", "fr", "ar"}
	accountTypes = []string{"Giro account", "Savings account", "Daily savings account",
		"Credit card", "Loan account", "PayPal", "Depot"}
)

// Input limits. The lower-level finX sync API caps state at 1024 characters.
const (
	maxStateLen    = 1024
	maxIDLen       = 255
	maxRedirectLen = 2048
	maxListLen     = 100
)

func (s *Server) handleOngoingAccess(w http.ResponseWriter, r *http.Request, body []byte) {
	s.createFlow(w, r, body, kindOngoing)
}

func (s *Server) handleOngoingSync(w http.ResponseWriter, r *http.Request, body []byte) {
	s.createFlow(w, r, body, kindSync)
}

func (s *Server) handleOnetimeAccess(w http.ResponseWriter, r *http.Request, body []byte) {
	s.createFlow(w, r, body, kindOnetime)
}

func (s *Server) createFlow(w http.ResponseWriter, r *http.Request, body []byte, kind flowKind) {
	if !s.clientAuthOK(r) {
		writeError(w, errInvalidClient())
		return
	}
	if !isJSON(r) {
		writeError(w, errMediaType())
		return
	}
	var req accessRequest
	if e := decodeJSON(body, &req); e != nil {
		writeError(w, *e)
		return
	}
	f, e := newFlowFromRequest(req, kind)
	if e != nil {
		writeError(w, *e)
		return
	}
	tok := randomToken(widgetTokChars, widgetTokChars)
	f.id = newFlowID()
	f.widgetKey = keyOf(tok)
	if kind == kindOnetime {
		f.userID = "onetime:" + f.id
	}

	s.mu.Lock()
	now := s.now()
	if kind == kindSync {
		if e := s.checkSyncLocked(f); e != nil {
			s.mu.Unlock()
			writeError(w, *e)
			return
		}
	}
	f.expires = now.Add(s.cfg.FlowTTL)
	s.flows[f.id] = f
	s.noteWriteLocked(now)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]string{
		"location": s.publicURL(r) + "/widget/" + f.id + "?token=" + tok,
		"id":       f.id,
	})
}

// newFlowFromRequest validates the documented fields. Descriptions name the
// field but never repeat its value.
func newFlowFromRequest(req accessRequest, kind flowKind) (*flow, *apiError) {
	bad := func(desc string) (*flow, *apiError) {
		e := errBadRequest(desc)
		return nil, &e
	}
	if req.RedirectURI == "" {
		return bad("redirect_uri is required")
	}
	if !validRedirect(req.RedirectURI) {
		return bad("redirect_uri must be an absolute http or https URL without a fragment")
	}
	if kind != kindOnetime {
		if req.UserID == "" {
			return bad("user_id is required")
		}
		if len(req.UserID) > maxIDLen {
			return bad("user_id must be at most 255 characters")
		}
	}
	if len(req.State) > maxStateLen {
		return bad("state must be at most 1024 characters")
	}
	if len(req.TrackingID) > maxIDLen {
		return bad("tracking_id must be at most 255 characters")
	}
	lang := strings.ToLower(req.Language)
	if lang == "" {
		lang = "de"
	}
	if !contains(languages, lang) {
		return bad("language must be one of de, en, es, fr, ar")
	}
	if len(req.Accounts) > maxListLen || len(req.AccountTypes) > maxListLen || len(req.AccountIDs) > maxListLen {
		return bad("accounts, account_types and account_ids take at most 100 entries")
	}
	f := &flow{kind: kind, userID: req.UserID, redirectURI: req.RedirectURI, state: req.State,
		language: lang, allowMulti: true, syncPeriod: defaultSyncPeriod}
	for i, a := range req.Accounts {
		id := strings.TrimSpace(a.ID)
		if id == "" {
			return bad("accounts[" + strconv.Itoa(i) + "].id must not be empty")
		}
		f.preselect = append(f.preselect, id)
	}
	for i, t := range req.AccountTypes {
		if !contains(accountTypes, t) {
			return bad("account_types[" + strconv.Itoa(i) + "] is not a known account type")
		}
		f.types = append(f.types, t)
	}
	if req.AllowMultiSelection != nil {
		f.allowMulti = *req.AllowMultiSelection
	}
	if req.SyncPeriod != nil {
		if *req.SyncPeriod < 1 {
			return bad("sync_period must be at least 1 day")
		}
		// Capped at the chosen bank's maximum once the user picks a bank.
		f.syncPeriod = min(*req.SyncPeriod, 10000)
	}
	if b := bankByProvider(req.ProviderID); b != nil {
		f.preBank = b.name // an unknown provider_id just preselects nothing
	}
	if kind == kindSync {
		for i, id := range req.AccountIDs {
			if id == "" {
				return bad("account_ids[" + strconv.Itoa(i) + "] must not be empty")
			}
			f.accountIDs = append(f.accountIDs, id)
		}
	}
	return f, nil
}

func validRedirect(raw string) bool {
	if len(raw) > maxRedirectLen {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Fragment == "" && !strings.Contains(raw, "#")
}

// checkSyncLocked enforces that /ongoing/sync is for users who completed an
// ongoing access before (404 otherwise) and that account_ids are theirs (400).
func (s *Server) checkSyncLocked(f *flow) *apiError {
	u := s.users[f.userID]
	if u == nil || len(u.conns) == 0 {
		e := errNotFound("user_id has no completed ongoing access; create one with /ongoing/access first")
		return &e
	}
	accts := s.visibleAccountsLocked(f.userID)
	for i, id := range f.accountIDs {
		d, ok := findAccount(accts, id)
		if !ok {
			e := errBadRequest("account_ids[" + strconv.Itoa(i) + "] is not an account of this user")
			return &e
		}
		if f.preBank == "" {
			f.preBank = d.bank.name
		}
	}
	if f.preBank == "" {
		for _, b := range banks {
			if u.conns[b.name] != nil {
				f.preBank = b.name
				break
			}
		}
	}
	return nil
}
