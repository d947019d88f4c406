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
	"bytes"
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"
)

type widgetHandler func(w http.ResponseWriter, r *http.Request, flowID, token string)

// widget wraps a widget page handler: method check, body limit, form parsing
// and stats. The widget token travels in the link's query string and then in
// a hidden form field, never in a path, so the request log cannot see it.
func (s *Server) widget(method string, h widgetHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.record(EndpointWidget, "", sw.status, false, false) }()
		hdr := sw.Header()
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if r.Method != method {
			hdr.Set("Allow", method)
			renderPage(sw, http.StatusMethodNotAllowed, errorPage("en", "method"))
			return
		}
		var token string
		if method == http.MethodGet {
			token = r.URL.Query().Get("token")
		} else {
			r.Body = http.MaxBytesReader(sw, r.Body, maxBodyBytes)
			if err := r.ParseForm(); err != nil {
				renderPage(sw, http.StatusBadRequest, errorPage("en", "bad-request"))
				return
			}
			token = r.PostForm.Get("token")
		}
		h(sw, r, r.PathValue("flow"), token)
	}
}

func renderPage(w http.ResponseWriter, status int, d pageData) {
	var buf bytes.Buffer
	if err := widgetPage.Execute(&buf, d); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func errorPage(lang, reason string) pageData {
	t := textsFor(lang)
	msg := map[string]string{
		"not-found": t.NotFound, "expired": t.Expired, "completed": t.Completed,
		"bad-step": t.BadStep, "bad-request": t.BadRequest, "method": t.BadRequest,
	}[reason]
	return pageData{Lang: lang, Dir: dirFor(lang), T: t, Page: "error", Error: msg, Reason: reason}
}

// widgetFlowLocked finds a live flow whose widget token matches. An unknown
// flow and a wrong token look the same (404) so tokens cannot be probed.
func (s *Server) widgetFlowLocked(id, token string, now time.Time) (*flow, int, pageData) {
	f := s.flows[id]
	if f == nil || token == "" {
		return nil, http.StatusNotFound, errorPage("en", "not-found")
	}
	k := keyOf(token)
	if subtle.ConstantTimeCompare(k[:], f.widgetKey[:]) != 1 {
		return nil, http.StatusNotFound, errorPage("en", "not-found")
	}
	if f.done {
		return nil, http.StatusGone, errorPage(f.language, "completed")
	}
	if !now.Before(f.expires) {
		return nil, http.StatusGone, errorPage(f.language, "expired")
	}
	return f, http.StatusOK, pageData{}
}

// basePage fills what every step page shares.
func (s *Server) basePage(r *http.Request, f *flow, token, page, step string) pageData {
	base := s.publicURL(r) + "/widget/" + f.id
	return pageData{Lang: f.language, Dir: dirFor(f.language), T: textsFor(f.language), Page: page,
		Token: token, Action: base + "/" + step, CancelAction: base + "/cancel", Multi: f.allowMulti}
}

func (s *Server) bankPage(r *http.Request, f *flow, token, errMsg string) pageData {
	d := s.basePage(r, f, token, "bank", "bank")
	sel := f.bank
	if sel == "" {
		sel = f.preBank
	}
	if sel == "" {
		sel = defaultBank
	}
	for _, b := range banks {
		d.Banks = append(d.Banks, bankOption{Name: b.name, Selected: b.name == sel})
	}
	d.Error = errMsg
	return d
}

func (s *Server) loginPage(r *http.Request, f *flow, token string, b *bank, username, errMsg string) pageData {
	d := s.basePage(r, f, token, "login", "login")
	d.Bank, d.Username, d.Error = b.name, username, errMsg
	return d
}

func (s *Server) accountsPage(r *http.Request, f *flow, token string, b *bank, errMsg string) pageData {
	d := s.basePage(r, f, token, "accounts", "approve")
	for _, o := range offers(f, b) {
		d.Accounts = append(d.Accounts, accountOption{ID: o.id, Label: o.label, IBAN: o.iban, Checked: o.checked})
	}
	d.Error = errMsg
	if len(d.Accounts) == 0 && errMsg == "" {
		d.Error = d.T.NoAccounts
	}
	return d
}

func (s *Server) handleWidgetStart(w http.ResponseWriter, r *http.Request, id, token string) {
	s.mu.Lock()
	f, status, ep := s.widgetFlowLocked(id, token, s.now())
	if f == nil {
		s.mu.Unlock()
		renderPage(w, status, ep)
		return
	}
	d := s.bankPage(r, f, token, "")
	s.mu.Unlock()
	renderPage(w, http.StatusOK, d)
}

func (s *Server) handleWidgetBank(w http.ResponseWriter, r *http.Request, id, token string) {
	s.mu.Lock()
	f, status, ep := s.widgetFlowLocked(id, token, s.now())
	if f == nil {
		s.mu.Unlock()
		renderPage(w, status, ep)
		return
	}
	b := bankByName(r.PostForm.Get("bank"))
	var d pageData
	if b == nil {
		d = s.bankPage(r, f, token, textsFor(f.language).UnknownBank)
	} else {
		f.bank = b.name
		d = s.loginPage(r, f, token, b, "", "")
	}
	s.mu.Unlock()
	renderPage(w, http.StatusOK, d)
}

func (s *Server) handleWidgetLogin(w http.ResponseWriter, r *http.Request, id, token string) {
	s.mu.Lock()
	f, status, ep := s.widgetFlowLocked(id, token, s.now())
	if f == nil {
		s.mu.Unlock()
		renderPage(w, status, ep)
		return
	}
	b := bankByName(r.PostForm.Get("bank"))
	if b == nil {
		d := s.bankPage(r, f, token, textsFor(f.language).UnknownBank)
		s.mu.Unlock()
		renderPage(w, http.StatusOK, d)
		return
	}
	var d pageData
	if b.login(r.PostForm.Get("username"), r.PostForm.Get("password")) {
		f.bank, f.loggedIn = b.name, b.name
		d = s.accountsPage(r, f, token, b, "")
	} else {
		// Redisplay the username (not the PIN) like a bank login form would.
		d = s.loginPage(r, f, token, b, r.PostForm.Get("username"), textsFor(f.language).LoginError)
	}
	s.mu.Unlock()
	renderPage(w, http.StatusOK, d)
}

func (s *Server) handleWidgetApprove(w http.ResponseWriter, r *http.Request, id, token string) {
	code := randomToken(codeMinChars, codeMaxChars)
	s.mu.Lock()
	now := s.now()
	f, status, ep := s.widgetFlowLocked(id, token, now)
	if f == nil {
		s.mu.Unlock()
		renderPage(w, status, ep)
		return
	}
	b := bankByName(f.loggedIn)
	if b == nil {
		d := errorPage(f.language, "bad-step")
		s.mu.Unlock()
		renderPage(w, http.StatusConflict, d)
		return
	}
	idx, msg := selectAccounts(f, b, r.PostForm["account"])
	if msg != "" {
		d := s.accountsPage(r, f, token, b, msg)
		s.mu.Unlock()
		renderPage(w, http.StatusOK, d)
		return
	}
	target := s.finishLocked(f, true, b, idx, code, now)
	s.mu.Unlock()
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Server) handleWidgetCancel(w http.ResponseWriter, r *http.Request, id, token string) {
	s.mu.Lock()
	now := s.now()
	f, status, ep := s.widgetFlowLocked(id, token, now)
	if f == nil {
		s.mu.Unlock()
		renderPage(w, status, ep)
		return
	}
	target := s.finishLocked(f, false, nil, nil, "", now)
	s.mu.Unlock()
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// selectAccounts maps submitted account ids to the bank's account slots.
func selectAccounts(f *flow, b *bank, ids []string) ([]int, string) {
	t := textsFor(f.language)
	byID := map[string]int{}
	for _, o := range offers(f, b) {
		byID[o.id] = o.idx
	}
	seen := map[int]bool{}
	var idx []int
	for _, id := range ids {
		i, ok := byID[id]
		if !ok {
			return nil, t.SelectOne
		}
		if !seen[i] {
			seen[i] = true
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, t.SelectOne
	}
	if !f.allowMulti && len(idx) > 1 {
		return nil, t.SelectOnlyOne
	}
	return idx, ""
}
