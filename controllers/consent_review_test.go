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
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// Review of the consent change: the two link slots, and re-consent results that meet failed writes.

// reconsentLink makes finX report a sync only the user can fix and waits for the re-consent link
// that follows (the clock moves 2 s so the failure is newer than the consent).
func reconsentLink(c *v1.BankConnection, s *sandbox.Server, req string) *v1.LinkStatus {
	clk.Step(2 * time.Second)
	Expect(s.FailSyncs(get(c).Status.FinXUserID, sandbox.SyncFailureInvalidCredentials)).To(BeNumerically(">", 0))
	annotate(c, v1.AnnotationRefresh, req)
	var l *v1.LinkStatus
	Eventually(func() *v1.LinkStatus { l = get(c).Status.ConsentLink; return l }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
	return l
}

var _ = Describe("Consent review", func() {
	It("keeps a codeless renewal whose status write failed", func() {
		t := tenantWithConsent(noCodeURL, 30*24*time.Hour)
		c := t.connection("lost-renewal")
		authorize(c)
		link := reconsentLink(c, sbxNoCode, "lost-renewal")
		chain := readTokens(c).refresh

		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPatch, PathContains: "/bankconnections/" + c.Name + "/status",
			BodyHas: []string{`"Renewed"`}, Action: apifault.Refuse, Status: http.StatusInternalServerError, Count: 1,
		}))
		before := apiFaults.Counts()["refused"]
		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		Expect(redirect.Query().Has("code")).To(BeFalse())
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))

		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewed))
			g.Expect(got.Status.ConsentLink).To(BeNil(), "the used re-consent link is gone")
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">", before), "the fault did hit the status write")
		Expect(readTokens(c).refresh).To(Equal(chain))
	})

	It("does not let one link slot's callback overwrite the other's pending result", func() {
		t := tenantWithConsent(noCodeURL, 30*24*time.Hour)
		c := t.connection("two-slots")
		authorize(c)
		reconsentLink(c, sbxNoCode, "two-slots")
		annotate(c, v1.AnnotationRelink, "both-slots")
		Eventually(func() *v1.LinkStatus { return get(c).Status.Link }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
		got := get(c)
		Expect(got.Status.ConsentLink).NotTo(BeNil(), "both links are out")
		chain := readTokens(c).refresh

		// Suspended, the operator leaves hand-offs in the Secret: both results arrive before it acts.
		setSuspend(c, true)
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSuspended))
		Expect(visit(http.MethodGet, completeWidget(got.Status.Link.URL, sandbox.DriveOptions{})).status).To(Equal(http.StatusOK))
		second := visit(http.MethodGet, completeWidget(got.Status.ConsentLink.URL, sandbox.DriveOptions{}))
		Expect(second.status).To(Equal(http.StatusServiceUnavailable), "the re-consent result waits: the authorisation's code is pending")
		setSuspend(c, false)

		Eventually(func(g Gomega) {
			g.Expect(readTokens(c).refresh).NotTo(Equal(chain), "the authorisation's code was exchanged")
			g.Expect(get(c).Status.Link).To(BeNil())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(sbxNoCode.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
	})

	It("records a re-consent whose exchanged tokens were committed late as a renewal", func() {
		t := tenantWithConsent(sandboxConsentURL, 2*time.Hour)
		c := t.connection("late-commit")
		authorize(c)
		link := reconsentLink(c, sbxConsent, "late-commit")
		annotate(c, v1.AnnotationRelink, "late-commit")
		Eventually(func() *v1.LinkStatus { return get(c).Status.Link }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
		chain := readTokens(c)

		// The re-consent's code is handed over while the connection is suspended; then every
		// attempt of the exchange's commit (the first write of the Secret without a journal) is
		// refused: the tokens stay held and land in a later reconcile.
		setSuspend(c, true)
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSuspended))
		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		Expect(redirect.Query().Get("code")).NotTo(BeEmpty())
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPut, PathContains: "/secrets/" + refreshName(c),
			BodyLacks: []string{"exchange@", "refresh@"},
			Action:    apifault.Refuse, Status: http.StatusInternalServerError, Count: 4,
		}))
		before := apiFaults.Counts()["refused"]
		setSuspend(c, false)

		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(20 * time.Second).ShouldNot(Equal(chain.refresh))
		Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">=", before+4), "the fault did hit every commit attempt")
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewed))
			g.Expect(got.Status.ConsentLink).To(BeNil())
			g.Expect(got.Status.Link).NotTo(BeNil(), "the pending authorisation link is the user's, not the re-consent's")
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

})
