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
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// Defects an adversarial review of the token protocol found, each reproduced here first.
var _ = Describe("Token protocol, under review", func() {
	disabled := func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled }
	var t tenant
	BeforeEach(func() {
		t = newTenant(nil)
		DeferCleanup(sbx.ClearFaults)
	})

	It("reports a chain the Secret marks dead although the status write that said so was lost", func() {
		c := t.connection("rv-ended", disabled)
		authorize(c)
		Expect(sbx.RevokeUser(get(c).Status.FinXUserID)).To(BeNumerically(">", 0))
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPatch, PathContains: "/bankconnections/" + c.Name + "/status",
			BodyHas: []string{"RefreshRejected"}, Action: apifault.Refuse, Status: http.StatusInternalServerError, Count: 1,
		}))
		// The scheduled refresh, not an annotation: nothing asks for the refresh again.
		next := get(c).Status.RefreshToken.NextRefreshAt.Time
		clk.Step(next.Sub(clk.Now()) + time.Second)
		annotate(c, "test/nudge", "scheduled")
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.Phase).To(Equal(v1.PhaseReauthorizationRequired))
			g.Expect(condition(c, v1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
			g.Expect(condition(c, v1.ConditionReauthorizationRequired).Reason).To(Equal(v1.ReasonRefreshRejected))
			g.Expect(got.Status.Link).NotTo(BeNil())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">=", 1), "the fault did hit the status write")
	})

	It("goes on with an older chain restored while a rotated token was held, storing the rotated one", func() {
		c := t.connection("rv-restore", disabled)
		authorize(c)
		spent := readTokens(c).refresh
		remove := apiFaults.Add(apifault.Rule{
			Method: http.MethodPut, PathContains: "/secrets/" + refreshName(c),
			BodyLacks: []string{"refresh@"}, Action: apifault.Refuse, Status: http.StatusServiceUnavailable,
		})
		annotate(c, v1.AnnotationRefresh, "held")
		Eventually(func() sandbox.TokenState { return sbx.RefreshTokenState(spent) }).WithTimeout(10 * time.Second).Should(Equal(sandbox.TokenSpent))
		Eventually(func() v1.Operation {
			if le := get(c).Status.LastError; le != nil {
				return le.Operation
			}
			return ""
		}).WithTimeout(10 * time.Second).Should(Equal(v1.OperationStoreTokens))
		// A person restores the Secret from an old backup (another token, no journal).
		Eventually(func() error {
			s := readTokens(c).private
			s.Data[tokenstore.KeyRefreshToken] = []byte("restored-from-backup")
			s.Data["refresh_token_issued_at"] = []byte(clk.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339Nano))
			delete(s.Annotations, tokenstore.AnnotationInFlight)
			return k8sClient.Update(ctx, s)
		}).Should(Succeed())
		remove()
		annotate(c, v1.AnnotationRefresh, "after-restore")
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.LastHandledRefreshRequest).To(Equal("after-restore"), "the connection makes progress")
			g.Expect(got.Status.Phase).To(Equal(v1.PhaseConnected))
			g.Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
		}).WithTimeout(15 * time.Second).Should(Succeed())
	})

	It("does not let a relink's exchange erase the journal of a refresh whose outcome is unknown", func() {
		c := t.connection("rv-relink", disabled)
		authorize(c)
		spent := readTokens(c).refresh
		annotate(c, v1.AnnotationRelink, "r1")
		link := waitForLink(c, "")
		// finX rotates and the answer is lost; then its replays fail too, while the relink lands.
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusInternalServerError, StatusAfterWork: true, Count: 1})
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusServiceUnavailable, Count: 2})
		annotate(c, v1.AnnotationRefresh, "lost")
		Eventually(func() sandbox.TokenState { return sbx.RefreshTokenState(spent) }).WithTimeout(10 * time.Second).Should(Equal(sandbox.TokenSpent))
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "authorization_code", Status: http.StatusBadRequest, Count: 1})
		visit(http.MethodGet, completeWidget(link.URL, sandbox.DriveOptions{}))
		waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
		Expect(condition(c, v1.ConditionReauthorizationRequired).Reason).To(Equal(v1.ReasonRotationLost), "the rotation was lost, not rejected")
	})

	It("neither sends again a token the previous version recorded as refused, nor replaces its link", func() {
		c := t.connection("rv-upgrade", disabled)
		authorize(c)
		Expect(sbx.RevokeUser(get(c).Status.FinXUserID)).To(BeNumerically(">", 0))
		annotate(c, v1.AnnotationRefresh, "after-revoke")
		got := waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
		link := got.Status.Link.URL
		// The previous version kept "dead" in status only: no chain-ended mark in the Secret, and
		// none of the current protocol's marking.
		Eventually(func() error {
			s := readTokens(c).private
			delete(s.Annotations, tokenstore.AnnotationChainEnded)
			delete(s.Annotations, tokenstore.AnnotationProtocol)
			return k8sClient.Update(ctx, s)
		}).Should(Succeed())
		calls := tokenCalls()
		annotate(c, "test/nudge", "upgraded")
		Eventually(func() map[string]string { return readTokens(c).private.Annotations }).Should(HaveKey(tokenstore.AnnotationChainEnded))
		Consistently(tokenCalls).WithTimeout(2 * time.Second).Should(Equal(calls))
		got = get(c)
		Expect(got.Status.Phase).To(Equal(v1.PhaseReauthorizationRequired))
		Expect(got.Status.Link).NotTo(BeNil())
		Expect(got.Status.Link.URL).To(Equal(link), "the link the user was given still works")
	})

	It("waits for finX's Retry-After before repeating a refresh whose outcome a 503 left unknown", func() {
		c := t.connection("rv-503", disabled)
		authorize(c)
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusServiceUnavailable, RetryAfter: time.Minute})
		calls := tokenCalls()
		annotate(c, v1.AnnotationRefresh, "outage")
		for range 6 {
			time.Sleep(time.Second)
			clk.Step(time.Second)
			annotate(c, "test/nudge", clk.Now().String())
		}
		Expect(tokenCalls()-calls).To(BeNumerically("<=", 1), "finX asked for a minute's pause")
	})
})
