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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// The token protocol under API faults, deleted Secrets, lost answers and restarts (issue 8).
var _ = Describe("Token protocol", func() {
	disabled := func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled }

	Context("against a finX without a reuse grace", func() {
		var t tenant
		BeforeEach(func() {
			t = newTenant(nil)
			DeferCleanup(sbx.ClearFaults)
		})

		It("counts a token commit that was applied although its answer was an error as done, and goes on refreshing", func() {
			c := t.connection("applied", disabled)
			authorize(c)
			spent := readTokens(c).refresh
			calls := tokenCalls()
			// The API server stores the rotated token, then a proxy answers 500.
			DeferCleanup(apiFaults.Add(apifault.Rule{
				Method: http.MethodPut, PathContains: "/secrets/" + refreshName(c),
				// The commit is the write without the journal's value (managedFields still name its key).
				BodyLacks: []string{"refresh@"}, Action: apifault.ApplyThenFail,
				Status: http.StatusInternalServerError, Count: 1,
			}))
			annotate(c, v1.AnnotationRefresh, "applied-then-500")

			Eventually(func() string { return readTokens(c).refresh }).WithTimeout(10 * time.Second).ShouldNot(Equal(spent))
			stored := readTokens(c).refresh
			Expect(sbx.RefreshTokenState(stored)).To(Equal(sandbox.TokenActive), "the stored token is the live successor")
			Eventually(func(g Gomega) {
				got := get(c)
				g.Expect(got.Status.LastError).To(BeNil(), "lastError must not claim the write failed")
				g.Expect(got.Status.Phase).To(Equal(v1.PhaseConnected))
				g.Expect(got.Status.LastHandledRefreshRequest).To(Equal("applied-then-500"))
			}).WithTimeout(10 * time.Second).Should(Succeed())
			Expect(tokenCalls()).To(Equal(calls+1), "the spent token was sent once")
			Expect(apiFaults.Counts()["write applied, answer lost"]).To(BeNumerically(">=", 1), "the fault did hit the commit")

			By("refreshing again: the connection is not wedged")
			annotate(c, v1.AnnotationRefresh, "after")
			Eventually(func() string { return readTokens(c).refresh }).WithTimeout(10 * time.Second).ShouldNot(Equal(stored))
			Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
			Eventually(func() *v1.LastError { return get(c).Status.LastError }).Should(BeNil())
		})

		It("counts an exchange commit whose connection dropped after it was applied as done", func() {
			c := t.connection("applied-exchange", disabled)
			link := waitForLink(c, "")
			// The first write that carries a refresh token is the commit of the first chain.
			DeferCleanup(apiFaults.Add(apifault.Rule{
				Method: http.MethodPut, PathContains: "/secrets/" + refreshName(c),
				BodyHas: []string{"refresh_token_issued_at"}, Action: apifault.ApplyThenFail, Count: 1,
			}))
			before := apiFaults.Counts()["write applied, answer lost"]
			calls := tokenCalls()
			p := visit(http.MethodGet, completeWidget(link.URL, sandbox.DriveOptions{}))
			Expect(p.status).To(Equal(http.StatusOK))
			got := waitForPhase(c, v1.PhaseConnected, 20*time.Second)
			Expect(got.Status.LastError).To(BeNil())
			Expect(apiFaults.Counts()["write applied, answer lost"]).To(Equal(before+1), "the fault did hit the commit")
			Expect(tokenCalls()).To(Equal(calls+1), "the code was exchanged once")
			Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
		})

		It("reports a deleted private Secret at once, with a fresh link", func() {
			c := t.connection("deleted", disabled)
			authorize(c)
			tp := readTokens(c)
			Expect(k8sClient.Delete(ctx, tp.private)).To(Succeed())
			expectTokenMissing(c)
		})

		It("reports a private Secret whose refresh token was emptied, with a fresh link", func() {
			c := t.connection("emptied", disabled)
			authorize(c)
			Eventually(func() error {
				s := readTokens(c).private
				s.Data[tokenstore.KeyRefreshToken] = nil
				return k8sClient.Update(ctx, s)
			}).Should(Succeed())
			expectTokenMissing(c)
		})

		It("reports RotationLost, not RefreshRejected, when finX rotated behind a 500", func() {
			c := t.connection("gateway", disabled)
			authorize(c)
			spent := readTokens(c).refresh
			sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusInternalServerError, StatusAfterWork: true, Count: 1})
			annotate(c, v1.AnnotationRefresh, "rotated-behind-500")
			got := waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
			Expect(condition(c, v1.ConditionReauthorizationRequired).Reason).To(Equal(v1.ReasonRotationLost))
			Expect(got.Status.Link).NotTo(BeNil(), "a new link is issued at once")
			Expect(sbx.RefreshTokenState(spent)).To(Equal(sandbox.TokenSpent))
			Expect(warningEvents(c, v1.ReasonReauthorizationRequired)).NotTo(BeEmpty())
		})

		It("reports RotationLost when finX rotated behind a redirect", func() {
			c := t.connection("redirect", disabled)
			authorize(c)
			sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusFound, StatusAfterWork: true, Count: 1})
			annotate(c, v1.AnnotationRefresh, "rotated-behind-302")
			waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
			Expect(condition(c, v1.ConditionReauthorizationRequired).Reason).To(Equal(v1.ReasonRotationLost))
		})

		It("takes a re-authorisation whose status write failed from the Secret, and refreshes it", func() {
			c := t.connection("reauth", disabled)
			authorize(c)
			Expect(sbx.RevokeUser(get(c).Status.FinXUserID)).To(BeNumerically(">", 0))
			annotate(c, v1.AnnotationRefresh, "after-revoke")
			got := waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
			Expect(got.Status.Link).NotTo(BeNil())

			// The status write after the exchange fails (an API error, or a crash right there).
			DeferCleanup(apiFaults.Add(apifault.Rule{
				Method: http.MethodPatch, PathContains: "/bankconnections/" + c.Name + "/status",
				BodyHas: []string{`"Authorized"`}, Action: apifault.Refuse, Status: http.StatusInternalServerError, Count: 1,
			}))
			p := visit(http.MethodGet, completeWidget(got.Status.Link.URL, sandbox.DriveOptions{}))
			Expect(p.status).To(Equal(http.StatusOK))

			got = waitForPhase(c, v1.PhaseConnected, 20*time.Second)
			Expect(condition(c, v1.ConditionReauthorizationRequired).Status).To(Equal(metav1.ConditionFalse))
			Expect(condition(c, v1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			Expect(got.Status.Link).To(BeNil(), "the used link is gone from status")
			Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
			Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">=", 1), "the fault did hit the status write")

			By("refreshing the new chain")
			live := readTokens(c).refresh
			annotate(c, v1.AnnotationRefresh, "new-chain")
			Eventually(func() string { return readTokens(c).refresh }).WithTimeout(10 * time.Second).ShouldNot(Equal(live))
			Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
		})
	})

	Context("against a finX with a 30s reuse grace", func() {
		var t tenant
		BeforeEach(func() {
			t = newTenantVia(sandboxGraceURL, nil)
			DeferCleanup(sbxGrace.ClearFaults)
		})

		It("replays a refresh whose answer was a 500 and keeps the chain", func() {
			c := t.connection("grace-500", disabled)
			authorize(c)
			spent := readTokens(c).refresh
			sbxGrace.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusInternalServerError, StatusAfterWork: true, Count: 1})
			annotate(c, v1.AnnotationRefresh, "grace-500")
			Eventually(func() string { return readTokens(c).refresh }).WithTimeout(15 * time.Second).ShouldNot(Equal(spent))
			Expect(sbxGrace.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
			Eventually(func() *v1.LastError { return get(c).Status.LastError }).Should(BeNil())
			Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
		})

		It("replays at once a spend an earlier run of this instance left unfinished, whatever the backoff in status", func() {
			c := t.connection("restarted", disabled)
			authorize(c)
			tp := readTokens(c)
			// An earlier run of this manager spent the token at finX and died before storing the
			// answer; its failures had pushed the next attempt ten minutes out.
			successor := refreshAt(sandboxGraceURL, tp.refresh)
			secrets.add("refresh token", successor)
			since := clk.Now().Add(-2 * time.Second).UTC().Format(time.RFC3339Nano)
			Eventually(func() error {
				s := readTokens(c).private
				s.Annotations[tokenstore.AnnotationInFlight] = "refresh@" + since + "@" + suiteInstance + "~deadrun@" + since
				return k8sClient.Update(ctx, s)
			}).Should(Succeed())
			Eventually(func() error {
				got := get(c)
				got.Status.FailedAttempts = 9
				got.Status.LastError = &v1.LastError{
					Operation: v1.OperationRefresh, Reason: v1.ReasonFinXUnavailable, Message: "an earlier run's failures",
					Time: metav1.NewTime(clk.Now().Add(-10 * time.Second)), NextAttemptAt: &metav1.Time{Time: clk.Now().Add(10 * time.Minute)},
				}
				return k8sClient.Status().Update(ctx, got)
			}).Should(Succeed())
			annotate(c, "test/nudge", "1") // an event, as a restart's initial list would give

			Eventually(func() string { return readTokens(c).refresh }).WithTimeout(8*time.Second).Should(Equal(successor),
				"the replay inside the grace gets the successor the dead run never stored")
			Expect(readTokens(c).private.Annotations).NotTo(HaveKey(tokenstore.AnnotationInFlight))
			Eventually(func(g Gomega) {
				got := get(c)
				g.Expect(got.Status.Phase).To(Equal(v1.PhaseConnected))
				g.Expect(got.Status.LastError).To(BeNil())
			}).WithTimeout(5 * time.Second).Should(Succeed())
		})
	})
})

// expectTokenMissing waits for the report of a vanished refresh token.
func expectTokenMissing(c *v1.BankConnection) {
	Eventually(func(g Gomega) {
		got := get(c)
		g.Expect(got.Status.Phase).To(Equal(v1.PhaseReauthorizationRequired))
		reauth := condition(c, v1.ConditionReauthorizationRequired)
		g.Expect(reauth.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(reauth.Reason).To(Equal(v1.ReasonRefreshTokenMissing))
		g.Expect(condition(c, v1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(condition(c, v1.ConditionTokensValid).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(got.Status.Link).NotTo(BeNil(), "a fresh link")
	}).WithTimeout(5 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	Expect(warningEvents(c, v1.ReasonReauthorizationRequired)).NotTo(BeEmpty())
}

// refreshAt spends token at the sandbox at baseURL directly, as another process would, and returns
// the successor.
func refreshAt(baseURL, token string) string {
	fc, err := finx.New(finx.Config{BaseURL: baseURL, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret})
	Expect(err).NotTo(HaveOccurred())
	tok, err := fc.Refresh(ctx, token)
	Expect(err).NotTo(HaveOccurred())
	return tok.RefreshToken
}
