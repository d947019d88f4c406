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
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Class says what a caller can do about an error.
type Class int

const (
	// ClassRetryable: timeouts, connection failures (including a connection
	// dropped without a response), 408, 429 and 5xx. On the token endpoint the
	// request may have taken effect anyway.
	ClassRetryable Class = iota + 1
	// ClassGrantRejected: 400/401 from the token endpoint that is not a client
	// authentication failure. The code or the refresh-token chain is dead and
	// the user has to go through the widget again.
	ClassGrantRejected
	// ClassClientAuth: the client credentials were refused (401 with
	// error="invalid_client", or 401/403 on endpoints using client Basic auth).
	ClassClientAuth
	// ClassBadRequest: any other 4xx, an unexpected status, or a request the
	// client refused to send.
	ClassBadRequest
	// ClassMalformedResponse: a 2xx whose body is not the documented JSON,
	// misses required fields, or exceeds MaxResponseBytes.
	ClassMalformedResponse
	// ClassAccessTokenRejected: 401 on a Bearer endpoint; the access token is
	// expired or revoked. Refreshing may help.
	ClassAccessTokenRejected
)

func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassGrantRejected:
		return "grant rejected"
	case ClassClientAuth:
		return "client authentication failed"
	case ClassBadRequest:
		return "bad request"
	case ClassMalformedResponse:
		return "malformed response"
	case ClassAccessTokenRejected:
		return "access token rejected"
	default:
		return "class(" + strconv.Itoa(int(c)) + ")"
	}
}

// Error is every error the client returns from an API call.
type Error struct {
	Endpoint        string // fixed endpoint name, e.g. "token"
	StatusCode      int    // 0 if no complete response was received (the outcome is unknown)
	Class           Class
	RetryAfter      time.Duration // parsed Retry-After (seconds or HTTP date); 0 if absent
	WWWAuthenticate string        // raw header, redacted
	Code            int           // finX error code from the body, if any
	Message         string        // text from the finX error body or the client, redacted
	Err             error         // underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("finx ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d, ", e.StatusCode)
	}
	b.WriteString(e.Class.String())
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.WWWAuthenticate != "" {
		fmt.Fprintf(&b, " [WWW-Authenticate: %s]", e.WWWAuthenticate)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " [retry after %s]", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// GoString keeps %#v from printing fields one by one (Err could hold raw text).
func (e *Error) GoString() string { return "&finx.Error{" + strconv.Quote(e.Error()) + "}" }

func (e *Error) Unwrap() error { return e.Err }

func classOf(err error) Class {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Class
	}
	return 0
}

// IsRetryable reports whether err is worth retrying later.
func IsRetryable(err error) bool { return classOf(err) == ClassRetryable }

// IsGrantRejected reports whether the code or refresh-token chain is dead.
func IsGrantRejected(err error) bool { return classOf(err) == ClassGrantRejected }

// IsClientAuth reports whether the client credentials were refused.
func IsClientAuth(err error) bool { return classOf(err) == ClassClientAuth }

// IsMalformed reports whether a 2xx response could not be used.
func IsMalformed(err error) bool { return classOf(err) == ClassMalformedResponse }

// IsAccessTokenRejected reports whether a Bearer call was refused with 401.
func IsAccessTokenRejected(err error) bool { return classOf(err) == ClassAccessTokenRejected }

// NoEffect reports whether err is an answer that proves the server did not act on the request: a
// complete 4xx response (except 408, which a server may send while it still acts). A 5xx, a
// redirect, a malformed 2xx or no answer at all proves nothing: on the token endpoint the grant may
// have been spent.
func NoEffect(err error) bool {
	e, ok := errors.AsType[*Error](err)
	if !ok || e.StatusCode < 400 || e.StatusCode > 499 || e.StatusCode == 408 {
		return false
	}
	return e.Class != ClassMalformedResponse
}

// RetryAfter returns the server's Retry-After hint, or 0.
func RetryAfter(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

func newError(endpoint string, status int, class Class, msg string, cause error, red redactor) *Error {
	e := &Error{Endpoint: endpoint, StatusCode: status, Class: class, Message: red.apply(msg)}
	if cause != nil {
		e.Err = &redactedError{msg: red.apply(cause.Error()), err: cause}
	}
	return e
}

// redactedError shows a cleaned message but keeps the cause for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }

// redactor removes known secret values from server- or library-provided text.
type redactor []string

func newRedactor(secrets ...string) redactor {
	var r redactor
	for _, s := range secrets {
		if len(s) >= 4 { // shorter values would shred ordinary words
			r = append(r, s)
		}
	}
	return r
}

func (r redactor) apply(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}
