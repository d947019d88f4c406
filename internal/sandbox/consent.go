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

// DefaultConsentLifetime is how long a bank consent lasts: finX says "usually after 180 days".
const DefaultConsentLifetime = 180 * 24 * time.Hour

// SyncFailure is a reason a bank sync fails, as finX reports it in an account's status.message.
type SyncFailure string

// Sync failures the test controls can inject. The first three need the end user (a new strong
// authentication through /ongoing/sync); SyncFailureBankUnavailable passes by itself.
const (
	SyncFailureInvalidCredentials SyncFailure = "invalid_credentials"
	SyncFailureAccessBlocked      SyncFailure = "access_blocked"
	SyncFailureConsentExpired     SyncFailure = "consent_expired"
	SyncFailureBankUnavailable    SyncFailure = "bank_unavailable"
)

// SyncFailures lists the injectable failures.
var SyncFailures = []SyncFailure{SyncFailureInvalidCredentials, SyncFailureAccessBlocked,
	SyncFailureConsentExpired, SyncFailureBankUnavailable}

// Message is the status.message finX-like accounts carry after a sync failed for this reason.
func (f SyncFailure) Message() string {
	switch f {
	case SyncFailureInvalidCredentials:
		return "Login credentials are invalid. Please update them."
	case SyncFailureAccessBlocked:
		return "Online banking access is blocked. Please contact your bank."
	case SyncFailureConsentExpired:
		return "The consent for this bank has expired. Please renew it."
	case SyncFailureBankUnavailable:
		return "The bank is temporarily unavailable."
	}
	return ""
}

// failure is a sync failure in force for a bank connection since a point in time.
type failure struct {
	reason SyncFailure
	since  time.Time
}

// Consent describes one bank connection's consent, for tests.
type Consent struct {
	Bank      string
	GivenAt   time.Time
	ExpiresAt time.Time
}

// Consents returns the user's bank consents in bank order.
func (s *Server) Consents(userID string) []Consent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Consent
	s.eachConnectionLocked(userID, func(c *connection) {
		out = append(out, Consent{Bank: c.bank.name, GivenAt: c.consentAt, ExpiresAt: c.consentExpires})
	})
	return out
}

// ExpireConsent lets every consent of the user lapse now, as if its lifetime had run out, and
// returns how many there were. Autosync keeps trying and fails until the user renews the consent
// through /ongoing/sync (or a new /ongoing/access).
func (s *Server) ExpireConsent(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	s.eachConnectionLocked(userID, func(c *connection) {
		if now.Before(c.consentExpires) {
			c.consentExpires = now
		}
		n++
	})
	s.noteWriteLocked(now)
	return n
}

// FailSyncs makes every later sync of the user's banks fail with reason, from now until the user
// completes a flow for that bank again (or ClearSyncFailures). It returns the number of banks.
func (s *Server) FailSyncs(userID string, reason SyncFailure) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	s.eachConnectionLocked(userID, func(c *connection) {
		c.failing = &failure{reason: reason, since: now}
		n++
	})
	s.noteWriteLocked(now)
	return n
}

// ClearSyncFailures lets the user's syncs succeed again (a bank outage that passed).
func (s *Server) ClearSyncFailures(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	s.eachConnectionLocked(userID, func(c *connection) {
		if c.failing != nil {
			c.failing = nil
			n++
		}
	})
	return n
}

func (s *Server) eachConnectionLocked(userID string, fn func(*connection)) {
	u := s.users[userID]
	if u == nil {
		return
	}
	for _, b := range banks {
		if c := u.conns[b.name]; c != nil {
			fn(c)
		}
	}
}

// syncStatus is what the account's status says at now: autosync tries at each slot (lastSync);
// a failure in force, or a lapsed consent, is a failed attempt at the moment it began and at every
// slot after it, so succeeded_at stays at the last slot before it and message says why.
func syncStatus(a accountDesc, now time.Time) statusJSON {
	attempted := lastSync(a.connectedAt, now)
	var cause SyncFailure
	var since time.Time
	if f := a.failing; f != nil {
		cause, since = f.reason, f.since
	}
	if exp := a.consentExpires; !exp.IsZero() && !now.Before(exp) && (cause == "" || exp.Before(since)) {
		cause, since = SyncFailureConsentExpired, exp
	}
	if cause == "" {
		at := attempted.UTC().Format(isoLayout)
		return statusJSON{SyncedAt: at, SucceededAt: at}
	}
	if since.After(attempted) {
		attempted = since
	}
	succeeded := lastSync(a.connectedAt, since.Add(-time.Nanosecond))
	return statusJSON{
		SyncedAt:    attempted.UTC().Format(isoLayout),
		SucceededAt: succeeded.UTC().Format(isoLayout),
		Message:     cause.Message(),
	}
}
