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
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// controlRoutes adds the /_sandbox/ test controls. They have no
// authentication: only enable them where nobody else can reach the sandbox.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/_sandbox/faults", s.handleFaults)
	mux.HandleFunc("/_sandbox/users/{user_id}/revoke", userAction("revoked", s.RevokeUser))
	mux.HandleFunc("/_sandbox/flows/{flow_id}/complete", s.handleComplete)
	mux.HandleFunc("/_sandbox/stats", s.handleStats)
	mux.HandleFunc("/_sandbox/users/{user_id}/sync-failure", s.handleSyncFailure)
	mux.HandleFunc("/_sandbox/users/{user_id}/expire-consent", userAction("banks", s.ExpireConsent))
	mux.HandleFunc("/_sandbox/users/{user_id}/consents", s.handleConsents)
}

// handleSyncFailure injects (POST {"reason": …}) or clears (DELETE) a sync failure for a user.
func (s *Server) handleSyncFailure(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user_id")
	switch r.Method {
	case http.MethodDelete:
		writeJSON(w, http.StatusOK, map[string]int{"banks": s.ClearSyncFailures(user)})
	case http.MethodPost:
		body, ok := readControlBody(w, r)
		if !ok {
			return
		}
		var req struct {
			Reason SyncFailure `json:"reason"`
		}
		if e := decodeJSON(body, &req); e != nil {
			writeError(w, *e)
			return
		}
		if !slices.Contains(SyncFailures, req.Reason) {
			names := make([]string, len(SyncFailures))
			for i, f := range SyncFailures {
				names[i] = string(f)
			}
			writeError(w, errBadRequest("reason must be one of "+strings.Join(names, ", ")))
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"banks": s.FailSyncs(user, req.Reason)})
	default:
		writeError(w, errMethod("POST, DELETE"))
	}
}

func (s *Server) handleConsents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	type consentJSON struct {
		Bank      string `json:"bank"`
		GivenAt   string `json:"given_at"`
		ExpiresAt string `json:"expires_at"`
	}
	out := []consentJSON{}
	for _, c := range s.Consents(r.PathValue("user_id")) {
		out = append(out, consentJSON{Bank: c.Bank, GivenAt: c.GivenAt.UTC().Format(isoLayout), ExpiresAt: c.ExpiresAt.UTC().Format(isoLayout)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"consents": out})
}

// faultJSON is the HTTP form of Fault. Durations are Go duration strings
// ("1.5s") or integers in milliseconds.
type faultJSON struct {
	Endpoint          string          `json:"endpoint"`
	GrantType         string          `json:"grant_type"`
	Status            int             `json:"status"`
	Count             int             `json:"count"`
	Latency           json.RawMessage `json:"latency"`
	RetryAfter        json.RawMessage `json:"retry_after"`
	DropAfterRotation bool            `json:"drop_after_rotation"`
	StatusAfterWork   bool            `json:"status_after_work"`
	AnswerLatency     json.RawMessage `json:"answer_latency"`
}

var faultEndpoints = []string{EndpointOngoingAccess, EndpointOngoingSync, EndpointOnetimeAccess,
	EndpointToken, EndpointAccounts, EndpointTransactions}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		body, ok := readControlBody(w, r)
		if !ok {
			return
		}
		var fj faultJSON
		if e := decodeJSON(body, &fj); e != nil {
			writeError(w, *e)
			return
		}
		f, msg := fj.toFault()
		if msg != "" {
			writeError(w, errBadRequest(msg))
			return
		}
		s.InjectFault(f)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, errMethod("POST, DELETE"))
	}
}

func (fj faultJSON) toFault() (Fault, string) {
	if !contains(faultEndpoints, fj.Endpoint) {
		return Fault{}, "endpoint must be one of " + strings.Join(faultEndpoints, ", ")
	}
	if fj.GrantType != "" && (fj.Endpoint != EndpointToken || !knownGrant(fj.GrantType)) {
		return Fault{}, "grant_type must be authorization_code, refresh_token or password, and only with endpoint token"
	}
	if fj.Status != 0 && (fj.Status < 200 || fj.Status > 599) {
		return Fault{}, "status must be 0 or an HTTP status from 200 to 599"
	}
	if fj.StatusAfterWork && fj.Status == 0 {
		return Fault{}, "status_after_work needs a status"
	}
	if fj.Count < 0 {
		return Fault{}, "count must not be negative"
	}
	lat, ok := parseControlDuration(fj.Latency)
	if !ok {
		return Fault{}, `latency must be a duration string like "1s" or milliseconds as an integer`
	}
	ra, ok := parseControlDuration(fj.RetryAfter)
	if !ok {
		return Fault{}, `retry_after must be a duration string like "1s" or milliseconds as an integer`
	}
	al, ok := parseControlDuration(fj.AnswerLatency)
	if !ok {
		return Fault{}, `answer_latency must be a duration string like "1s" or milliseconds as an integer`
	}
	return Fault{Endpoint: fj.Endpoint, GrantType: fj.GrantType, Status: fj.Status, Count: fj.Count,
		Latency: lat, RetryAfter: ra, DropAfterRotation: fj.DropAfterRotation, StatusAfterWork: fj.StatusAfterWork,
		AnswerLatency: al}, ""
}

// parseControlDuration accepts a Go duration string or integer milliseconds.
func parseControlDuration(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, true
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		d, err := time.ParseDuration(str)
		return d, err == nil && d >= 0
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ms < 0 || ms > int64(24*time.Hour/time.Millisecond) {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// userAction serves a POST that acts on one user and answers {key: the count fn returns}.
func userAction(key string, fn func(userID string) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeError(w, errMethod(http.MethodPost))
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{key: fn(r.PathValue("user_id"))})
	}
}

func (s *Server) handleComplete(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, errMethod(http.MethodPost))
		return
	}
	body, ok := readControlBody(w, r)
	if !ok {
		return
	}
	req := struct {
		Approve *bool `json:"approve"`
	}{}
	if len(strings.TrimSpace(string(body))) > 0 {
		if e := decodeJSON(body, &req); e != nil {
			writeError(w, *e)
			return
		}
	}
	approve := req.Approve == nil || *req.Approve // an empty body approves
	target, err := s.CompleteFlow(r.PathValue("flow_id"), approve)
	switch {
	case errors.Is(err, ErrFlowNotFound):
		writeError(w, errNotFound("no flow with this id"))
	case errors.Is(err, ErrFlowExpired), errors.Is(err, ErrFlowCompleted):
		writeError(w, apiError{status: http.StatusConflict, code: 1000, group: "Client",
			message: "flow not open", description: err.Error()})
	case err != nil:
		writeError(w, errBadRequest(err.Error()))
	default:
		writeJSON(w, http.StatusOK, map[string]string{"redirect": target})
	}
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	writeJSON(w, http.StatusOK, s.Stats())
}

func readControlBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, errTooLarge())
		return nil, false
	}
	return body, true
}
