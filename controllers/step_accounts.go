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

package controllers

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

const (
	defaultAccountsReadInterval = 6 * time.Hour
	defaultSyncStaleAfter       = 26 * time.Hour
	// accountsRetry bounds the wait after a failed read: soon enough to notice a recovery, rare
	// enough to add nothing to an outage.
	accountsRetry = 30 * time.Minute
	// maxStatusAccounts bounds status.accounts.items (the first by id); count has them all.
	maxStatusAccounts = 100
)

// followBankData watches what the live chain is for: it reads the accounts and their bank syncs
// when due, dates the consent, and offers the user a re-consent link when the consent is due or a
// sync failed in a way only the user can fix.
func (r *BankConnectionReconciler) followBankData(ctx context.Context, st *reconcileState) error {
	if st.suspended || st.client == nil || st.blocked != nil || st.private == nil {
		return nil
	}
	if !st.chainUsable() {
		// A re-consent cannot revive a dead chain: the authorisation link takes over.
		st.conn.Status.ConsentLink = nil
		return nil
	}
	dateConsent(st)
	// A person asking for a refresh now asks for a fresh look at the bank data too.
	st.accountsDue = st.accountsDue || st.refreshRequest != ""
	if err := r.readAccounts(ctx, st); err != nil {
		return err
	}
	return r.renewConsent(ctx, st)
}

// readAccounts reads GET /rest/accounts when the interval has passed, right after an
// authorisation, after a renewed consent, and with a refresh asked for by annotation. It never spends the refresh token for it: the access
// token comes from the spend this reconcile made, or from the access-token Secret in Maintain mode.
// In Disabled mode there is no access token between refreshes, so the accounts are read when the
// refresh schedule spends the token anyway.
func (r *BankConnectionReconciler) readAccounts(ctx context.Context, st *reconcileState) error {
	c := st.conn
	a := c.Status.Accounts
	interval := durationOr(c.Spec.AccountsReadInterval, defaultAccountsReadInterval)
	due := st.authorizedNow || st.accountsDue || a == nil || a.NextReadAt == nil || !st.now.Before(a.NextReadAt.Time)
	if !due {
		st.requeue(a.NextReadAt.Time)
		return nil
	}
	token, err := r.accessTokenFor(ctx, st)
	if err != nil || token == "" {
		return err
	}
	accts, err := st.client.api.ListAccounts(ctx, token)
	if a == nil {
		a = &v1.AccountsStatus{}
		c.Status.Accounts = a
	}
	if err != nil {
		retry := st.now.Add(max(min(interval, accountsRetry), finx.RetryAfter(err)))
		msg := fmt.Sprintf("Reading the accounts from finX failed (%v); retrying at %s.", err, retry.UTC().Format(time.RFC3339))
		a.LastReadError = &v1.AccountsReadError{Reason: classifyFinX(err).reason, Message: msg, Time: metav1.NewTime(st.now)}
		a.NextReadAt = nextAccountsRead(st, retry)
		r.event(st, corev1.EventTypeWarning, v1.ReasonAccountsReadFailed, "%s", msg)
		return nil
	}
	items := accountItems(accts)
	a.Count = int32(len(items))
	// finX's answer may list any number of accounts; status stays far below the API server's
	// object size limit whatever it sends.
	a.Items = items[:min(len(items), maxStatusAccounts)]
	a.ReadAt = ptrTime(st.now)
	a.NextReadAt = nextAccountsRead(st, st.now.Add(interval))
	a.LastReadError = nil
	return nil
}

// nextAccountsRead is when the accounts can be read next: at the time asked for in Maintain mode,
// and with the first refresh from then on in Disabled mode.
func nextAccountsRead(st *reconcileState, at time.Time) *metav1.Time {
	c := st.conn
	if maintainAccessToken(c) {
		st.requeue(at)
	} else if rt := c.Status.RefreshToken; rt != nil && rt.NextRefreshAt != nil && rt.NextRefreshAt.After(at) {
		at = rt.NextRefreshAt.Time
	}
	return ptrTime(at)
}

// accessTokenFor returns an access token the operator already holds: one a spend returned in this
// reconcile, or the one in the access-token Secret (Maintain mode). "" means none is at hand.
func (r *BankConnectionReconciler) accessTokenFor(ctx context.Context, st *reconcileState) (string, error) {
	if st.freshAccess != "" && st.now.Before(st.freshAccessExpiresAt) {
		return st.freshAccess, nil
	}
	c := st.conn
	if !maintainAccessToken(c) || st.accessConflict != nil {
		return "", nil
	}
	// From the API server: the manager's cache keeps no token (docs/security.md). This read comes
	// at most once per accounts interval.
	token, exp, err := tokenstore.ReadAccessToken(ctx, r.APIReader, c, accessSecretName(c))
	if err != nil || token == "" || !st.now.Add(time.Second).Before(exp) {
		return "", err // an expired token is refilled by the refresh schedule; the read waits for it
	}
	return token, nil
}

// accountItems keeps what a namespace viewer may see of each account: no owner, no balance, and
// the IBAN only by its last 4 characters.
func accountItems(accts []finx.Account) []v1.BankAccountStatus {
	out := make([]v1.BankAccountStatus, 0, len(accts))
	for _, a := range accts {
		out = append(out, v1.BankAccountStatus{
			ID:          a.AccountID,
			DisplayName: a.Name,
			BankName:    a.BankName,
			Type:        a.Type,
			IBAN:        maskIBAN(a.IBAN),
			SyncedAt:    ptrTime(a.Status.SyncedAt),
			SucceededAt: ptrTime(a.Status.SucceededAt),
			SyncMessage: maskIBANs(a.Status.Message),
		})
	}
	// finX's order is not a contract; a stable order keeps an unchanged read from rewriting status.
	slices.SortFunc(out, func(x, y v1.BankAccountStatus) int { return strings.Compare(x.ID, y.ID) })
	return slices.CompactFunc(out, func(x, y v1.BankAccountStatus) bool { return x.ID == y.ID })
}

// maskIBAN shows the last 4 characters of an IBAN; anything too short to hide is hidden whole.
func maskIBAN(iban string) string {
	iban = strings.ReplaceAll(iban, " ", "")
	if iban == "" {
		return ""
	}
	r := []rune(iban)
	if len(r) <= 4 {
		return "****"
	}
	return "****" + string(r[len(r)-4:])
}

// ibanLike matches an IBAN written compact or in groups of four: a country code, two check digits
// and 11 to 30 more letters or digits.
var ibanLike = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b`)

// maskIBANs masks every IBAN in finX's free-text sync message: a bank may quote the account, and
// the message goes to status and events, which namespace viewers read.
func maskIBANs(msg string) string {
	return ibanLike.ReplaceAllStringFunc(msg, maskIBAN)
}

// syncProblem is how finX's message about a failed sync reads: whether only the end user can fix
// it, and whether it says the consent expired. finX's messages are free text, so this looks for the
// words its documented user-side errors use (credentials, blocked or locked access, consent).
func syncProblem(msg string) (needsUser, consentExpired bool) {
	m := strings.ToLower(msg)
	consentExpired = strings.Contains(m, "consent") && (strings.Contains(m, "expired") || strings.Contains(m, "renew") || strings.Contains(m, "lapsed"))
	for _, w := range []string{"credential", "blocked", "locked", "password", "consent"} {
		if strings.Contains(m, w) {
			return true, consentExpired
		}
	}
	return false, consentExpired
}

// failedSync reports an account whose last sync attempt is newer than its last success.
func failedSync(a v1.BankAccountStatus) bool {
	if a.SyncedAt == nil {
		return false
	}
	return a.SucceededAt == nil || a.SyncedAt.After(a.SucceededAt.Time)
}

// userSideFailure returns the first account whose last sync failed, after the consent was last
// given, in a way only the user can fix. An older failure was answered by that consent.
func userSideFailure(c *v1.BankConnection) (acct v1.BankAccountStatus, consentExpired, ok bool) {
	a := c.Status.Accounts
	if a == nil {
		return acct, false, false
	}
	for _, it := range a.Items {
		if !failedSync(it) {
			continue
		}
		if cs := c.Status.Consent; cs != nil && !it.SyncedAt.After(cs.GivenAt.Time) {
			continue
		}
		if needs, expired := syncProblem(it.SyncMessage); needs {
			return it, expired, true
		}
	}
	return acct, false, false
}

// deriveSynced sets Synced from the last read of the accounts. finX's sync results are only as
// recent as that read, so a read older than the staleness window says nothing (Unknown).
func deriveSynced(s *reconcileState, chainAlive bool) {
	c := s.conn
	a := c.Status.Accounts
	stale := durationOr(c.Spec.SyncStaleAfter, defaultSyncStaleAfter)
	unknown := func(reason, msg string) { s.setCondition(v1.ConditionSynced, metav1.ConditionUnknown, reason, msg) }
	not := func(reason, msg string) { s.setCondition(v1.ConditionSynced, metav1.ConditionFalse, reason, msg) }
	switch {
	case !chainAlive:
		unknown(v1.ReasonAccountsNotRead, "The operator holds no live authorisation to read the accounts with.")
		return
	case a == nil || a.ReadAt == nil:
		unknown(v1.ReasonAccountsNotRead, "The operator has not read the accounts from finX yet.")
		return
	case s.now.Sub(a.ReadAt.Time) > stale:
		msg := "The accounts were last read at " + stamp(a.ReadAt) + ", longer ago than syncStaleAfter."
		if !maintainAccessToken(c) {
			msg += " With spec.accessToken.mode Disabled the operator holds an access token only when it refreshes, and reads the accounts then."
		}
		unknown(v1.ReasonAccountsNotRead, msg)
		return
	case a.Count == 0:
		unknown(v1.ReasonNoAccounts, "finX lists no account for this connection.")
		return
	}
	s.requeue(a.ReadAt.Add(stale))
	if consentLapsed(s) {
		not(v1.ReasonConsentExpired, fmt.Sprintf("The bank consent expired at %s, so finX no longer syncs the accounts. The user must renew it through status.consentLink.url.", stamp(&c.Status.Consent.ExpiresAt)))
		return
	}
	if it, _, ok := userSideFailure(c); ok {
		not(v1.ReasonSyncNeedsUser, fmt.Sprintf("finX's sync of account %s failed at %s with %q; only the user can fix this, through status.consentLink.url.",
			it.ID, stamp(it.SyncedAt), it.SyncMessage))
		return
	}
	var oldest *metav1.Time
	var failed *v1.BankAccountStatus
	for i, it := range a.Items {
		if it.SucceededAt == nil {
			not(v1.ReasonSyncStale, fmt.Sprintf("finX has never synced account %s successfully.", it.ID))
			return
		}
		if oldest == nil || it.SucceededAt.Before(oldest) {
			oldest = it.SucceededAt
		}
		if failed == nil && failedSync(it) {
			failed = &a.Items[i]
		}
	}
	if s.now.Sub(oldest.Time) > stale {
		not(v1.ReasonSyncStale, fmt.Sprintf("The oldest last successful sync, at %s, is older than syncStaleAfter: the bank data has stopped flowing.", stamp(oldest)))
		return
	}
	s.requeue(oldest.Add(stale))
	if failed != nil {
		msg := fmt.Sprintf("finX's last sync of account %s, at %s, failed", failed.ID, stamp(failed.SyncedAt))
		if failed.SyncMessage != "" {
			msg += fmt.Sprintf(" with %q", failed.SyncMessage)
		}
		not(v1.ReasonSyncFailed, msg+"; its data is from "+stamp(failed.SucceededAt)+".")
		return
	}
	s.setCondition(v1.ConditionSynced, metav1.ConditionTrue, v1.ReasonSyncSucceeded,
		fmt.Sprintf("finX synced all %d accounts successfully; the oldest last success is from %s.", a.Count, stamp(oldest)))
}

// dataStopped are the Synced reasons that make a connection not Ready: its bank data has stopped
// flowing. A single failed sync whose data is still recent only shows in Synced.
var dataStopped = map[string]bool{
	v1.ReasonSyncStale:      true,
	v1.ReasonSyncNeedsUser:  true,
	v1.ReasonConsentExpired: true,
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}
