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
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Token is a token-endpoint response.
type Token struct {
	AccessToken  string
	TokenType    string // always "Bearer"
	RefreshToken string // empty if the server sent none: keep using the old one
	Scope        string
	ExpiresIn    time.Duration
}

// maxExpiresIn rejects lifetimes that cannot be real (and would overflow).
const maxExpiresIn = 10 * 365 * 24 * time.Hour

// ExchangeCode redeems an authorization code from an ongoing flow. Codes are
// single use: never call this twice for one code, not even after a retryable
// error, since the first attempt may have consumed it. The response must
// carry a refresh token; one-time flows (which yield none) are not supported.
func (c *Client) ExchangeCode(ctx context.Context, code string) (Token, error) {
	if code == "" {
		return Token{}, localError(EndpointToken, "authorization code is empty")
	}
	return c.token(ctx, map[string]string{"grant_type": "authorization_code", "code": code}, code, true)
}

// Refresh trades a refresh token for a new access token and, normally, a new
// refresh token; persist the new one before using the access token. There is
// deliberately no automatic retry: after a retryable error the old token may
// already be spent, and the caller must decide (e.g. retry once, then treat
// IsGrantRejected as "reconnect needed").
func (c *Client) Refresh(ctx context.Context, refreshToken string) (Token, error) {
	if refreshToken == "" {
		return Token{}, localError(EndpointToken, "refresh token is empty")
	}
	return c.token(ctx, map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken}, refreshToken, false)
}

func (c *Client) token(ctx context.Context, body map[string]string, secret string, needRefresh bool) (Token, error) {
	resp, err := c.do(ctx, call{endpoint: EndpointToken, method: http.MethodPost, path: "auth/token",
		body: body, secrets: []string{secret}})
	if err != nil {
		return Token{}, err
	}
	t, reason := parseToken(resp.body, needRefresh)
	if reason != "" {
		// finX answered 2xx, so it has most likely rotated: a refresh token that can still be read
		// is returned with the error, for the caller to store. Dropping it would end the chain.
		return Token{RefreshToken: salvageRefreshToken(resp.body, secret)}, malformed(EndpointToken, resp.status, reason)
	}
	return t, nil
}

// salvageRefreshToken reads refresh_token leniently from a response that failed strict parsing
// (unknown shapes, a byte-order mark, trailing data). It returns "" when there is none, or when it
// is the token that was just sent.
func salvageRefreshToken(raw []byte, sent string) string {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	var w struct {
		RefreshToken json.RawMessage `json:"refresh_token"`
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&w); err != nil {
		return ""
	}
	var rt string
	if err := json.Unmarshal(w.RefreshToken, &rt); err != nil || strings.TrimSpace(rt) != rt || rt == sent {
		return ""
	}
	return rt
}

// parseToken validates a token response. token_type defaults to Bearer when
// absent (the docs only ever show Bearer); any other type is malformed.
// expires_in must be a positive whole number of seconds, as a JSON number or
// a numeric string. scope may be a string or an array of strings.
func parseToken(raw []byte, needRefresh bool) (Token, string) {
	var w struct {
		AccessToken  string          `json:"access_token"`
		TokenType    string          `json:"token_type"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		RefreshToken string          `json:"refresh_token"`
		Scope        json.RawMessage `json:"scope"`
	}
	if reason := decodeStrict(raw, &w); reason != "" {
		return Token{}, reason
	}
	if w.AccessToken == "" {
		return Token{}, "response lacks access_token"
	}
	switch {
	case w.TokenType == "", strings.EqualFold(w.TokenType, "bearer"):
	default:
		return Token{}, "response token_type is not Bearer"
	}
	exp, ok := parseExpiresIn(w.ExpiresIn)
	if !ok {
		return Token{}, "response expires_in is missing or not a positive number of seconds"
	}
	if needRefresh && w.RefreshToken == "" {
		return Token{}, "response lacks refresh_token"
	}
	scope, ok := parseScope(w.Scope)
	if !ok {
		return Token{}, "response scope is neither a string nor a list of strings"
	}
	return Token{AccessToken: w.AccessToken, TokenType: "Bearer", RefreshToken: w.RefreshToken,
		Scope: scope, ExpiresIn: exp}, ""
}

func parseExpiresIn(raw json.RawMessage) (time.Duration, bool) {
	s := strings.TrimSpace(string(raw))
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f != math.Trunc(f) || f > maxExpiresIn.Seconds() {
		return 0, false
	}
	return time.Duration(f) * time.Second, true
}

func parseScope(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " "), true
	}
	return "", false
}
