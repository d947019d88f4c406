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
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantPassword          = "password"
)

type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	Code         string `json:"code"`
	RedirectURI  string `json:"redirect_uri"`
	RefreshToken string `json:"refresh_token"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	Scope        string `json:"scope"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// handleToken serves POST /auth/token. Only JSON bodies are accepted: that is
// what the official finX Postman collection sends, and form encoding is not
// documented, so a client that works here works against finX.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if !s.clientAuthOK(r) {
		writeError(w, errInvalidClient())
		return
	}
	if !isJSON(r) {
		writeError(w, errMediaType())
		return
	}
	var req tokenRequest
	if e := decodeJSON(body, &req); e != nil {
		writeError(w, errGrant("invalid_request", e.description))
		return
	}
	var resp tokenResponse
	var e *apiError
	switch req.GrantType {
	case grantAuthorizationCode:
		if req.Code == "" {
			writeError(w, errGrant("invalid_request", "code is required for grant_type authorization_code"))
			return
		}
		resp, e = s.exchangeCode(req.Code, req.RedirectURI, req.Scope)
	case grantRefreshToken:
		if req.RefreshToken == "" {
			writeError(w, errGrant("invalid_request", "refresh_token is required for grant_type refresh_token"))
			return
		}
		resp, e = s.rotate(req.RefreshToken, req.Scope)
	case grantPassword:
		if req.Username == "" || req.Password == "" {
			writeError(w, errGrant("invalid_request", "username and password are required for grant_type password"))
			return
		}
		resp, e = s.passwordGrant(req.Username, req.Password, req.Scope)
	case "":
		writeError(w, errGrant("invalid_request", "grant_type is required"))
		return
	default:
		writeError(w, errGrant("unsupported_grant_type", "grant_type must be authorization_code, refresh_token or password"))
		return
	}
	if e != nil {
		writeError(w, *e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func grantErr(code, desc string) *apiError {
	e := errGrant(code, desc)
	return &e
}

func expiresIn(exp, now time.Time) int64 {
	secs := int64((exp.Sub(now) + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// exchangeCode redeems an authorization code once. All failures share one
// description so the error does not tell an attacker which codes exist.
func (s *Server) exchangeCode(code, redirectURI, scope string) (tokenResponse, *apiError) {
	access := randomToken(tokenMinChars, tokenMaxChars)
	refresh := randomToken(tokenMinChars, tokenMaxChars)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c := s.codes[keyOf(code)]
	if c == nil || c.used || !now.Before(c.expires) {
		return tokenResponse{}, grantErr("invalid_grant", "the authorization code is unknown, expired or already used")
	}
	if redirectURI != "" && redirectURI != c.redirectURI {
		return tokenResponse{}, grantErr("invalid_grant", "redirect_uri does not match the redirect_uri of the flow")
	}
	granted, ok := grantScope(scope, strings.Join(registeredScopes, " "))
	if !ok {
		return tokenResponse{}, grantErr("invalid_scope", "scope asks for a permission this client was not registered with")
	}
	c.used = true
	exp := s.storeAccessLocked(access, c.userID, granted, now)
	resp := tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: expiresIn(exp, now), Scope: granted}
	if c.kind != kindOnetime { // one-time access yields no refresh token
		s.storeRefreshLocked(refresh, c.userID, granted, now)
		resp.RefreshToken = refresh
	}
	return resp, nil
}

// rotate spends a refresh token and issues a new access and refresh token.
// A replay of the spent token within RefreshReuseGrace gets the same successor
// pair back, so a client whose response was lost does not fork the chain.
func (s *Server) rotate(old, scope string) (tokenResponse, *apiError) {
	access := randomToken(tokenMinChars, tokenMaxChars)
	refresh := randomToken(tokenMinChars, tokenMaxChars)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e := s.refresh[keyOf(old)]
	if e == nil {
		return tokenResponse{}, grantErr("invalid_grant", "the refresh token is unknown")
	}
	switch e.state(now) {
	case TokenRevoked:
		return tokenResponse{}, grantErr("invalid_grant", "the refresh token has been revoked")
	case TokenSpent:
		if resp, ok := s.replayLocked(e, now); ok {
			return resp, nil
		}
		return tokenResponse{}, grantErr("invalid_grant", "the refresh token has already been used")
	case TokenExpired:
		return tokenResponse{}, grantErr("invalid_grant", "the refresh token has expired")
	}
	granted, ok := grantScope(scope, e.scope)
	if !ok {
		return tokenResponse{}, grantErr("invalid_scope", "scope asks for more than the refresh token was granted")
	}
	e.spent, e.spentAt = true, now
	exp := s.storeAccessLocked(access, e.userID, granted, now)
	// The successor keeps the chain's full scope; only the access token is narrowed.
	nk := s.storeRefreshLocked(refresh, e.userID, e.scope, now)
	if s.cfg.RefreshReuseGrace > 0 {
		e.next = &tokenPair{access: access, refresh: refresh, accessExpires: exp, scope: granted}
		e.nextKey = nk
	}
	return tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: expiresIn(exp, now),
		RefreshToken: refresh, Scope: granted}, nil
}

// replayLocked answers a spent token inside the grace window, but only while
// its successor is untouched: once the successor was used, the client clearly
// received it and a replay is a genuine reuse.
func (s *Server) replayLocked(e *refreshEntry, now time.Time) (tokenResponse, bool) {
	if e.next == nil || !now.Before(e.spentAt.Add(s.cfg.RefreshReuseGrace)) {
		return tokenResponse{}, false
	}
	succ := s.refresh[e.nextKey]
	if succ == nil || succ.state(now) != TokenActive {
		return tokenResponse{}, false
	}
	a := s.access[keyOf(e.next.access)]
	if a == nil || a.revoked || !now.Before(a.expires) {
		return tokenResponse{}, false
	}
	return tokenResponse{AccessToken: e.next.access, TokenType: "Bearer",
		ExpiresIn: expiresIn(e.next.accessExpires, now), RefreshToken: e.next.refresh, Scope: e.next.scope}, true
}

// passwordGrant supports the finX-managed-user grant for the sandbox user
// figo01, who is connected to Mockbank with every account on first use.
func (s *Server) passwordGrant(username, password, scope string) (tokenResponse, *apiError) {
	uOK := subtle.ConstantTimeCompare([]byte(username), []byte(sandboxUsername))
	pOK := subtle.ConstantTimeCompare([]byte(password), []byte(sandboxPassword))
	if uOK&pOK != 1 {
		return tokenResponse{}, grantErr("invalid_grant", "username or password is wrong")
	}
	granted, ok := grantScope(scope, strings.Join(registeredScopes, " "))
	if !ok {
		return tokenResponse{}, grantErr("invalid_scope", "scope asks for a permission this client was not registered with")
	}
	access := randomToken(tokenMinChars, tokenMaxChars)
	refresh := randomToken(tokenMinChars, tokenMaxChars)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if u := s.users[sandboxUsername]; u == nil || len(u.conns) == 0 {
		b := bankByName(defaultBank)
		s.connectLocked(sandboxUsername, b, allIndexes(b), defaultSyncPeriod, true, now)
	}
	exp := s.storeAccessLocked(access, sandboxUsername, granted, now)
	s.storeRefreshLocked(refresh, sandboxUsername, granted, now)
	return tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: expiresIn(exp, now),
		RefreshToken: refresh, Scope: granted}, nil
}
