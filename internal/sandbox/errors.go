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
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is rendered in the legacy finX shape:
//
//	{"error":{"code":1000,"group":"Client","message":"…","description":"…"}}
//
// Messages and descriptions are fixed text plus field names; they never
// contain request values, so a token or code sent by a client cannot be
// echoed back into its logs.
type apiError struct {
	status      int
	code        int
	group       string
	message     string
	description string
	wwwAuth     string
	allow       string
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code        int    `json:"code"`
	Group       string `json:"group"`
	Message     string `json:"message"`
	Description string `json:"description"`
}

const (
	basicRealm  = `Basic realm="finX"`
	bearerRealm = `Bearer realm="finX"`
)

func writeError(w http.ResponseWriter, e apiError) {
	if e.wwwAuth != "" {
		w.Header().Set("WWW-Authenticate", e.wwwAuth)
	}
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{
		Code: e.code, Group: e.group, Message: e.message, Description: e.description,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types are encoded; this would be a bug
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":30000,"group":"figo","message":"processing not possible","description":"response encoding failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func errInvalidClient() apiError {
	return apiError{status: http.StatusUnauthorized, code: 1004, group: "Client",
		message:     "invalid client authorization",
		description: "HTTP Basic client credentials are missing or wrong",
		wwwAuth:     basicRealm + `, error="invalid_client"`}
}

func errInvalidToken(desc string) apiError {
	return apiError{status: http.StatusUnauthorized, code: 1003, group: "Client",
		message: "unauthorized", description: desc,
		wwwAuth: bearerRealm + `, error="invalid_token"`}
}

// errNoBearer follows RFC 6750 §3.1: no error attribute when no credentials were sent.
func errNoBearer() apiError {
	return apiError{status: http.StatusUnauthorized, code: 1003, group: "Client",
		message: "unauthorized", description: "an Authorization: Bearer access token is required",
		wwwAuth: bearerRealm}
}

func errInsufficientScope(scope string) apiError {
	return apiError{status: http.StatusForbidden, code: 1007, group: "Client",
		message: "forbidden", description: "the access token lacks scope " + scope,
		wwwAuth: bearerRealm + `, error="insufficient_scope", scope="` + scope + `"`}
}

func errBadRequest(desc string) apiError {
	return apiError{status: http.StatusBadRequest, code: 1000, group: "Client",
		message: "invalid request", description: desc}
}

func errNotFound(desc string) apiError {
	return apiError{status: http.StatusNotFound, code: 1002, group: "Client",
		message: "entity not found", description: desc}
}

func errMethod(allow string) apiError {
	return apiError{status: http.StatusMethodNotAllowed, code: 1000, group: "Client",
		message: "method not allowed", description: "this endpoint accepts " + allow, allow: allow}
}

func errMediaType() apiError {
	return apiError{status: http.StatusUnsupportedMediaType, code: 1000, group: "Client",
		message:     "unsupported media type",
		description: "the request body must be JSON with Content-Type: application/json"}
}

func errTooLarge() apiError {
	return apiError{status: http.StatusRequestEntityTooLarge, code: 1000, group: "Client",
		message: "request too large", description: "the request body exceeds 64 KiB"}
}

// errGrant builds token-endpoint failures. The OAuth error code travels in
// WWW-Authenticate because the finX docs put authentication details there.
func errGrant(oauthCode, desc string) apiError {
	return apiError{status: http.StatusBadRequest, code: 1000, group: "Client",
		message: oauthCode, description: desc,
		wwwAuth: basicRealm + `, error="` + oauthCode + `"`}
}

// errFault is what an injected fault returns.
func errFault(endpoint, grant string, status int) apiError {
	e := apiError{status: status, code: 1000, group: "Client",
		message: "injected fault", description: "fault injected by the sandbox test controls"}
	switch {
	case status >= 500:
		e.code, e.group, e.message = 30006, "figo", "service temporarily unavailable"
	case status == http.StatusTooManyRequests:
		e.message = "too many requests"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		switch {
		case endpoint == EndpointAccounts || endpoint == EndpointTransactions:
			e.code, e.wwwAuth = 1003, bearerRealm+`, error="invalid_token"`
		case endpoint == EndpointToken && grant != "":
			e.code, e.wwwAuth = 1003, basicRealm+`, error="invalid_grant"`
		default:
			e.code, e.wwwAuth = 1004, basicRealm+`, error="invalid_client"`
		}
	case status == http.StatusBadRequest && endpoint == EndpointToken:
		e.wwwAuth = basicRealm + `, error="invalid_grant"`
	}
	return e
}
