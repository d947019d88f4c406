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
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	mrand "math/rand/v2"
	"time"
)

// tokenKey is the SHA-256 of a token. The store never keys or compares by the
// plaintext, so a map dump or a debugger view does not reveal live tokens.
type tokenKey [32]byte

func keyOf(tok string) tokenKey { return sha256.Sum256([]byte(tok)) }

// Token lengths in characters. The finX docs warn that tokens can exceed
// 2 KB, so access and refresh tokens vary across that boundary.
const (
	tokenMinChars  = 1536
	tokenMaxChars  = 3072
	codeMinChars   = 96
	codeMaxChars   = 160
	widgetTokChars = 86
)

// randomToken returns an opaque base64url string of random length in [minChars, maxChars].
func randomToken(minChars, maxChars int) string {
	n := minChars
	if maxChars > minChars {
		n += mrand.IntN(maxChars - minChars + 1)
	}
	b := make([]byte, (n*3+3)/4)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// newFlowID returns a random UUID (version 4 layout), like finX flow ids.
func newFlowID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// TokenState is what the sandbox knows about a refresh token.
type TokenState int

const (
	TokenUnknown TokenState = iota
	TokenActive
	TokenSpent // rotated away; rejected unless replayed within RefreshReuseGrace
	TokenExpired
	TokenRevoked
)

func (t TokenState) String() string {
	switch t {
	case TokenActive:
		return "active"
	case TokenSpent:
		return "spent"
	case TokenExpired:
		return "expired"
	case TokenRevoked:
		return "revoked"
	default:
		return "unknown"
	}
}

type codeEntry struct {
	flowID      string
	userID      string
	kind        flowKind
	redirectURI string
	expires     time.Time
	used        bool
}

type accessEntry struct {
	userID  string
	scope   string
	expires time.Time
	revoked bool
}

type refreshEntry struct {
	userID  string
	scope   string
	expires time.Time // issue time + RefreshTokenTTL; rotation gives the successor a fresh lifetime
	spent   bool
	spentAt time.Time
	revoked bool
	// next is the successor pair, kept only while a replay within
	// RefreshReuseGrace may still ask for it again.
	next    *tokenPair
	nextKey tokenKey
}

type tokenPair struct {
	access        string
	refresh       string
	accessExpires time.Time
	scope         string
}

func (e *refreshEntry) state(now time.Time) TokenState {
	switch {
	case e.revoked:
		return TokenRevoked
	case e.spent:
		return TokenSpent
	case !now.Before(e.expires):
		return TokenExpired
	default:
		return TokenActive
	}
}

// RefreshTokenState reports what the sandbox knows about token. Tokens that
// expired more than a day ago may have been swept and then read as Unknown.
func (s *Server) RefreshTokenState(token string) TokenState {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.refresh[keyOf(token)]
	if e == nil {
		return TokenUnknown
	}
	return e.state(s.now())
}

// RevokeUser revokes every access and refresh token of a finX user and
// invalidates their unused authorization codes. It returns how many tokens
// were live (usable) before the call.
func (s *Server) RevokeUser(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	for _, e := range s.refresh {
		if e.userID != userID {
			continue
		}
		if e.state(now) == TokenActive {
			n++
		}
		e.revoked, e.next = true, nil
	}
	for _, e := range s.access {
		if e.userID != userID {
			continue
		}
		if !e.revoked && now.Before(e.expires) {
			n++
		}
		e.revoked = true
	}
	for _, c := range s.codes {
		if c.userID == userID {
			c.used = true
		}
	}
	return n
}

// storeAccessLocked registers an access token and returns its expiry.
func (s *Server) storeAccessLocked(tok, userID, scope string, now time.Time) time.Time {
	exp := now.Add(s.cfg.AccessTokenTTL)
	s.access[keyOf(tok)] = &accessEntry{userID: userID, scope: scope, expires: exp}
	s.noteWriteLocked(now)
	return exp
}

func (s *Server) storeRefreshLocked(tok, userID, scope string, now time.Time) tokenKey {
	k := keyOf(tok)
	s.refresh[k] = &refreshEntry{userID: userID, scope: scope, expires: now.Add(s.cfg.RefreshTokenTTL)}
	s.noteWriteLocked(now)
	return k
}

// sweepEvery bounds memory in long-running sandboxes without a background goroutine.
const sweepEvery = 4096

func (s *Server) noteWriteLocked(now time.Time) {
	s.writes++
	if s.writes >= sweepEvery {
		s.writes = 0
		s.sweepLocked(now)
	}
}

// sweepLocked forgets entries whose answer can no longer change: every bad
// code and access token gets the same error whether known or not, and refresh
// tokens are kept a day past expiry so RefreshTokenState stays informative.
func (s *Server) sweepLocked(now time.Time) {
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
	for k, a := range s.access {
		if !now.Before(a.expires) {
			delete(s.access, k)
		}
	}
	for k, e := range s.refresh {
		if now.After(e.expires.Add(24 * time.Hour)) {
			delete(s.refresh, k)
			continue
		}
		if e.next != nil && !now.Before(e.spentAt.Add(s.cfg.RefreshReuseGrace)) {
			e.next = nil
		}
	}
	for id, f := range s.flows {
		if now.After(f.expires.Add(time.Hour)) {
			delete(s.flows, id)
		}
	}
}
