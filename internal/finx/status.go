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
	"net/http"
	"strings"
	"time"
)

const maxHeaderText = 512

// statusError turns a non-2xx response into a classified *Error.
func statusError(cl call, resp *http.Response, body []byte, red redactor) *Error {
	// Redact before anything is cut short: a secret echoed across a truncation point would no
	// longer match whole, and its prefix would survive into the error text.
	info := parseErrorBody([]byte(red.apply(string(body))))
	www := red.apply(strings.Join(resp.Header.Values("WWW-Authenticate"), ", "))
	challenges := parseWWWAuthenticate(www)
	e := &Error{
		Endpoint:        cl.endpoint,
		StatusCode:      resp.StatusCode,
		Class:           classify(cl, resp.StatusCode, challenges, info),
		RetryAfter:      parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		WWWAuthenticate: truncate(sanitize(www), maxHeaderText),
		Code:            info.Code,
		Message:         red.apply(info.Message),
	}
	return e
}

// classify maps a status to a Class. On the token endpoint a 400 or 401 means
// the code or refresh chain is dead (finX documents no finer error codes),
// unless the server says the client itself was refused: invalid_client in the
// header or body, finX code 1004, or a 403. A bare 401 therefore counts as a
// dead grant; callers keep the rejected token, so if the cause was in fact a
// credentials mistake, fixing the credentials and retrying recovers the chain.
func classify(cl call, status int, challenges []challenge, info errorInfo) Class {
	switch {
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return ClassRetryable
	case status < 400:
		return ClassBadRequest // 1xx/3xx: redirects are not followed
	}
	oauth := authError(challenges)
	if oauth == "" {
		oauth = info.OAuthError
	}
	switch {
	case cl.endpoint == EndpointToken:
		clientAuth := oauth == "invalid_client" || info.Code == 1004
		switch {
		case clientAuth || status == http.StatusForbidden:
			return ClassClientAuth
		case status == http.StatusBadRequest || status == http.StatusUnauthorized:
			return ClassGrantRejected
		}
		return ClassBadRequest
	case cl.bearer == "":
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return ClassClientAuth
		}
		return ClassBadRequest
	default:
		if status == http.StatusUnauthorized {
			return ClassAccessTokenRejected
		}
		return ClassBadRequest
	}
}

// sanitize removes control characters so server text cannot forge log lines.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
