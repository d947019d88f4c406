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

package controllers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// The consent lifecycle and the health of the bank data, on sandboxes that share the suite's
// clock: the spec steps the clock through a consent's renewal and expiry and past the accounts'
// read interval and staleness window instead of waiting. Every step is small enough (about 7h in
// all) that the other specs' bank data, on the real-time sandbox, stays within its 26h window.

// tenantWithConsent is a tenant whose FinXClient talks to baseURL and dates consents with lifetime.
func tenantWithConsent(baseURL string, lifetime time.Duration) tenant {
	t := newTenantVia(baseURL, nil)
	Eventually(func() error {
		fc := &v1.FinXClient{}
		if err := k8sClient.Get(ctx, clientKey(&v1.FinXClient{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: t.client}}), fc); err != nil {
			return err
		}
		fc.Spec.ConsentLifetime = &metav1.Duration{Duration: lifetime}
		fc.Spec.RefreshTokenLifetime = &metav1.Duration{Duration: 30 * 24 * time.Hour}
		return k8sClient.Update(ctx, fc)
	}).Should(Succeed())
	return t
}

var nudges atomic.Int64

// nudge makes the operator reconcile the connections now (the clock was stepped; their requeues
// still wait in real time).
func nudge(cs ...*v1.BankConnection) {
	for _, c := range cs {
		annotate(c, "test/nudge", fmt.Sprint(nudges.Add(1)))
	}
}

func accountsCalls(s *sandbox.Server) int { return s.Stats().Endpoints["accounts"].Calls }

// healthNow is how kstatus, Argo CD and Flux read the connection right now.
func healthNow(c *v1.BankConnection) health {
	u, err := readObject(clientKey(c))
	Expect(err).NotTo(HaveOccurred())
	return healthOf(u)
}

func consentGauge(c *v1.BankConnection) float64 {
	families, err := promReg.Gather()
	Expect(err).NotTo(HaveOccurred())
	var f *dto.MetricFamily
	for _, fam := range families {
		if fam.GetName() == "finx_operator_bankconnection_consent_expiration_timestamp_seconds" {
			f = fam
		}
	}
	return gaugeWith(f, map[string]string{"namespace": c.Namespace, "name": c.Name})
}

var _ = Describe("Consent and bank data", func() {
	It("dates the consent, renews it through a link of its own, and tells flowing bank data from stopped", func() {
		tc := tenantWithConsent(sandboxConsentURL, 2*time.Hour)
		tn := tenantWithConsent(noCodeURL, 30*24*time.Hour)
		lead := func(c *v1.BankConnection) { c.Spec.ConsentRenewalBefore = &metav1.Duration{Duration: 30 * time.Minute} }
		anna := tc.connection("anna", lead)
		bert := tc.connection("bert", lead)
		cora := tn.connection("cora")
		dora := tn.connection("dora", func(c *v1.BankConnection) { c.Spec.SyncStaleAfter = &metav1.Duration{Duration: 7 * time.Hour} })
		for _, c := range []*v1.BankConnection{anna, bert, cora, dora} {
			authorize(c)
		}

		By("dating the consent and reading the accounts at the authorisation")
		got := get(anna)
		cs := got.Status.Consent
		Expect(cs).NotTo(BeNil())
		Expect(cs.GivenAt.Time).To(BeTemporally("~", got.Status.AuthorizedAt.Time, 2*time.Second))
		Expect(cs.ExpiresAt.Time).To(Equal(cs.GivenAt.Add(2 * time.Hour)))
		Expect(cs.RenewalDueAt.Time).To(Equal(cs.ExpiresAt.Add(-30 * time.Minute)))
		Expect(consentGauge(anna)).To(BeEquivalentTo(cs.ExpiresAt.Unix()))
		a := got.Status.Accounts
		Expect(a).NotTo(BeNil())
		Expect(a.Count).To(BeNumerically(">", 0))
		Expect(a.Items).To(HaveLen(int(a.Count)))
		Expect(a.NextReadAt.Time).To(BeTemporally("~", a.ReadAt.Add(6*time.Hour), time.Second))
		for _, it := range a.Items {
			Expect(it.ID).NotTo(BeEmpty())
			Expect(it.BankName).NotTo(BeEmpty())
			Expect(it.IBAN).To(MatchRegexp(`^\*{4}[0-9]{4}$`))
			Expect(it.SucceededAt).NotTo(BeNil())
		}
		// The status is readable by every viewer of the namespace: no full IBAN, owner or balance.
		api, err := finx.New(finx.Config{BaseURL: sandboxConsentURL, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret})
		Expect(err).NotTo(HaveOccurred())
		accts, err := api.ListAccounts(ctx, readTokens(anna).access)
		Expect(err).NotTo(HaveOccurred())
		raw, err := json.Marshal(got.Status)
		Expect(err).NotTo(HaveOccurred())
		for _, acct := range accts {
			Expect(acct.IBAN).To(HaveLen(22))
			Expect(string(raw)).NotTo(ContainSubstring(acct.IBAN))
			Expect(string(raw)).NotTo(ContainSubstring(acct.Owner))
			Expect(string(raw)).NotTo(ContainSubstring(`"balance"`))
		}
		for _, c := range []*v1.BankConnection{anna, bert, cora, dora} {
			Expect(condition(c, v1.ConditionSynced).Reason).To(Equal(v1.ReasonSyncSucceeded))
			Expect(condition(c, v1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			Expect(condition(c, v1.ConditionConsentRenewalDue).Status).To(Equal(metav1.ConditionFalse))
			Expect(condition(c, v1.ConditionConsentExpired).Status).To(Equal(metav1.ConditionFalse))
		}
		// Syncs fail from now on, one in a way only the user can fix, one by itself.
		Expect(sbxNoCode.FailSyncs(get(cora).Status.FinXUserID, sandbox.SyncFailureInvalidCredentials)).To(Equal(1))
		Expect(sbxNoCode.FailSyncs(get(dora).Status.FinXUserID, sandbox.SyncFailureBankUnavailable)).To(Equal(1))

		By("not reading the accounts again before the interval")
		reads := accountsCalls(sbxConsent)
		nudge(anna, bert)
		Consistently(func() int { return accountsCalls(sbxConsent) }).WithTimeout(2 * time.Second).Should(Equal(reads))

		By("issuing a re-consent link in its own slot when renewal is due")
		clk.Step(95 * time.Minute)
		nudge(anna, bert)
		Eventually(func(g Gomega) {
			got := get(anna)
			g.Expect(got.Status.ConsentLink).NotTo(BeNil())
			g.Expect(condOf(got, v1.ConditionConsentRenewalDue)).To(Equal("True/" + v1.ReasonConsentRenewalDue))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		got = get(anna)
		Expect(got.Status.Link).To(BeNil(), "the authorisation link slot stays empty")
		Expect(condition(anna, v1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "the data still flows")
		Expect(warningEvents(anna, v1.ReasonConsentRenewalDue)).NotTo(BeEmpty())
		Expect(accountsCalls(sbxConsent)).To(Equal(reads), "a refresh is no reason to read the accounts")
		secrets.add("refresh token", readTokens(anna).refresh)

		By("keeping the chain and the old consent when the user cancels the re-consent")
		chain := readTokens(anna).refresh
		given := got.Status.Consent.GivenAt
		first := got.Status.ConsentLink
		Expect(visit(http.MethodGet, completeWidget(first.URL, sandbox.DriveOptions{Cancel: true})).status).To(Equal(http.StatusOK))
		Eventually(func(g Gomega) {
			got := get(anna)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewalCancelled))
			g.Expect(got.Status.ConsentLink).NotTo(BeNil())
			g.Expect(got.Status.ConsentLink.URL).NotTo(Equal(first.URL), "a new re-consent link follows")
		}).WithTimeout(20 * time.Second).Should(Succeed())
		got = get(anna)
		Expect(got.Status.Consent.GivenAt).To(Equal(given))
		Expect(readTokens(anna).refresh).To(Equal(chain))
		Expect(got.Status.Phase).To(Equal(v1.PhaseConnected))
		Expect(condOf(got, v1.ConditionConsentRenewalDue)).To(Equal("True/" + v1.ReasonConsentRenewalCancelled))
		Expect(eventsFor(anna, "Normal", v1.ReasonConsentRenewalCancelled)).NotTo(BeEmpty())
		Eventually(func() int { return len(eventsFor(anna, "Normal", v1.ReasonConsentLinkIssued)) }).Should(BeNumerically(">", 0))
		Expect(warningEvents(anna, v1.ReasonConsentRenewalDue)).To(HaveLen(1), "renewal is reported once, not with every new link")

		By("replacing the chain through the spend protocol when the re-consent comes back with a code")
		redirect := completeWidget(got.Status.ConsentLink.URL, sandbox.DriveOptions{})
		Expect(redirect.Query().Get("code")).NotTo(BeEmpty())
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))
		Eventually(func(g Gomega) {
			got := get(anna)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewed))
			g.Expect(got.Status.ConsentLink).To(BeNil())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		got = get(anna)
		Expect(got.Status.Consent.GivenAt.Time).To(BeTemporally(">", given.Time))
		Expect(readTokens(anna).refresh).NotTo(Equal(chain))
		Expect(got.Status.RefreshToken.Rotations).To(BeZero())
		Expect(condOf(got, v1.ConditionConsentRenewalDue)).To(Equal("False/" + v1.ReasonConsentValid))
		Expect(consentGauge(anna)).To(BeEquivalentTo(got.Status.Consent.ExpiresAt.Unix()))
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusConflict), "the re-consent state is used once")

		By("reporting the consent expired, and the connection as not healthy")
		clk.Step(30 * time.Minute)
		nudge(bert)
		Eventually(func() string { return condOf(get(bert), v1.ConditionConsentExpired) }).WithTimeout(20 * time.Second).
			Should(Equal("True/" + v1.ReasonConsentExpired))
		h := readHealth(bert, v1.PhaseConnected, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonConsentExpired))
		Expect(condOf(get(bert), v1.ConditionSynced)).To(Equal("False/" + v1.ReasonConsentExpired))
		Expect(condition(bert, v1.ConditionReady).Reason).To(Equal(v1.ReasonConsentExpired))
		Expect(warningEvents(bert, v1.ReasonConsentExpired)).NotTo(BeEmpty())
		Expect(get(bert).Status.ConsentLink).NotTo(BeNil())

		By("reading the accounts on schedule, and offering a re-consent at once for a sync only the user can fix")
		noCodeReads := accountsCalls(sbxNoCode)
		clk.Step(4 * time.Hour)
		nudge(cora, dora)
		Eventually(func() string { return condOf(get(cora), v1.ConditionSynced) }).WithTimeout(20 * time.Second).
			Should(Equal("False/" + v1.ReasonSyncNeedsUser))
		Expect(accountsCalls(sbxNoCode)).To(BeNumerically(">", noCodeReads))
		got = get(cora)
		Expect(got.Status.Consent.RenewalDueAt.Time).To(BeTemporally(">", clk.Now()), "not yet due by its dates")
		Expect(condOf(got, v1.ConditionConsentRenewalDue)).To(Equal("True/" + v1.ReasonSyncNeedsUser))
		Expect(got.Status.ConsentLink).NotTo(BeNil())
		h = readHealth(cora, v1.PhaseConnected, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonSyncNeedsUser))
		Eventually(func() string { return condOf(get(dora), v1.ConditionSynced) }).WithTimeout(20 * time.Second).
			Should(Equal("False/" + v1.ReasonSyncFailed))
		Expect(condition(dora, v1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "a failed sync with recent data is not yet an outage")

		By("renewing the consent and keeping the chain when the re-consent comes back without a code")
		chain = readTokens(cora).refresh
		given = got.Status.Consent.GivenAt
		redirect = completeWidget(got.Status.ConsentLink.URL, sandbox.DriveOptions{})
		Expect(redirect.Query().Has("code")).To(BeFalse())
		Expect(redirect.Query().Get("success")).To(Equal("true"))
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))
		Eventually(func(g Gomega) {
			got := get(cora)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewed))
			g.Expect(condOf(got, v1.ConditionSynced)).To(Equal("True/" + v1.ReasonSyncSucceeded))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		got = get(cora)
		Expect(got.Status.Consent.GivenAt.Time).To(BeTemporally(">", given.Time))
		Expect(got.Status.ConsentLink).To(BeNil())
		Expect(readTokens(cora).refresh).To(Equal(chain))
		readHealth(cora, v1.PhaseConnected, status.CurrentStatus, "Healthy", status.CurrentStatus)

		By("reporting stale bank data once the last success is older than the window")
		clk.Step(time.Hour)
		nudge(dora)
		Eventually(func() string { return condOf(get(dora), v1.ConditionSynced) }).WithTimeout(20 * time.Second).
			Should(Equal("False/" + v1.ReasonSyncStale))
		h = readHealth(dora, v1.PhaseConnected, status.InProgressStatus, "Progressing", status.InProgressStatus)
		Expect(h.reconciling).To(Equal(v1.ReasonSyncStale))

		By("dropping the re-consent link when the chain ends: the authorisation link takes over")
		Expect(get(bert).Status.ConsentLink).NotTo(BeNil())
		Expect(sbxConsent.RevokeUser(get(bert).Status.FinXUserID)).To(BeNumerically(">", 0))
		annotate(bert, v1.AnnotationRefresh, "after-revocation")
		got = waitForPhase(bert, v1.PhaseReauthorizationRequired, 20*time.Second)
		Expect(got.Status.ConsentLink).To(BeNil())
		Expect(got.Status.Link).NotTo(BeNil())
		Expect(condOf(got, v1.ConditionConsentRenewalDue)).To(BeEmpty())
		Expect(condOf(got, v1.ConditionConsentExpired)).To(BeEmpty())
	})

	It("reads the accounts in Disabled mode only with the access token a spend returned", func() {
		t := newTenant(nil)
		c := t.connection("dis", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		got := authorize(c)
		Eventually(func(g Gomega) {
			got = get(c)
			g.Expect(got.Status.Accounts).NotTo(BeNil())
			g.Expect(got.Status.Accounts.Count).To(BeNumerically(">", 0))
		}).Should(Succeed())
		Expect(condOf(got, v1.ConditionSynced)).To(Equal("True/" + v1.ReasonSyncSucceeded))
		Expect(got.Status.AccessToken).To(BeNil())
		Expect(got.Status.Accounts.NextReadAt.Time).To(BeTemporally(">=", got.Status.Accounts.ReadAt.Add(6*time.Hour)))
		reads := accountsCalls(sbx)
		nudge(c)
		Consistently(func() int { return accountsCalls(sbx) }).WithTimeout(time.Second).Should(Equal(reads))
	})
})

// condOf is a condition as "Status/Reason".
func condOf(c *v1.BankConnection, typ string) string {
	for _, cond := range c.Status.Conditions {
		if cond.Type == typ {
			return string(cond.Status) + "/" + cond.Reason
		}
	}
	return ""
}
