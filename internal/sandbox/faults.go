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

import "time"

// Fault changes how the sandbox answers matching requests. Faults are checked
// in injection order and the first match applies; one request consumes at most
// one fault.
type Fault struct {
	// Endpoint is one of ongoing_access, ongoing_sync, onetime_access, token,
	// accounts (also /rest/accounts/{id}) or transactions (also
	// /rest/accounts/{id}/transactions).
	Endpoint string
	// GrantType narrows a token fault to authorization_code, refresh_token or password.
	GrantType string
	// Status, when non-zero, is returned (with a finX error body) instead of
	// doing the work. Ignored when DropAfterRotation is set.
	Status int
	// StatusAfterWork does the request's work first (for a refresh: the old
	// token is spent and a successor issued) and then answers Status instead of
	// the result, like a gateway in front of finX that fails after finX acted.
	StatusAfterWork bool
	// Count is how many requests the fault applies to; 0 means until cleared.
	Count int
	// Latency delays the request before it is handled.
	Latency time.Duration
	// Hold, when set, keeps the request waiting (after Latency) until the channel is closed: for
	// Go callers that must act while a request is at finX, whatever the machine's load. The HTTP
	// control API cannot carry it.
	Hold <-chan struct{}
	// AnswerLatency handles the request at once and delays only the answer: for a refresh, the
	// window in which finX has rotated and the client does not know it yet.
	AnswerLatency time.Duration
	// RetryAfter adds a Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration
	// DropAfterRotation does the request's work (for a refresh: the old token
	// is spent and a successor issued) and then closes the connection without
	// sending a response, like a network failure on the way back.
	DropAfterRotation bool
}

type faultEntry struct {
	Fault
	remaining int // only meaningful when Count > 0
}

// InjectFault adds f behind any faults already injected.
func (s *Server) InjectFault(f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &faultEntry{Fault: f, remaining: f.Count})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault matching the request and uses up one of its count.
func (s *Server) takeFault(endpoint, grant string) (Fault, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != endpoint || (f.GrantType != "" && f.GrantType != grant) {
			continue
		}
		if f.Count > 0 {
			f.remaining--
			if f.remaining <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// retryAfterSeconds rounds up so a sub-second RetryAfter still sends "1".
func retryAfterSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
