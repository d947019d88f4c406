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
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

var _ = Describe("BankConnection failures", func() {
	var t tenant
	BeforeEach(func() {
		t = newTenant(nil)
		DeferCleanup(sbx.ClearFaults)
	})

	// disabled keeps the scheduled refresh far away (about 40s), so specs trigger refreshes by annotation.
	disabled := func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled }

	It("asks for a new authorisation, with a new link, when finX rejects the refresh token", func() {
		c := t.connection("judy", disabled)
		authorize(c)
		dead := readTokens(c).refresh
		Expect(sbx.RevokeUser(get(c).Status.FinXUserID)).To(BeNumerically(">", 0))
		annotate(c, v1.AnnotationRefresh, "after-revoke")

		got := waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
		cond := condition(c, v1.ConditionReauthorizationRequired)
		Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		Expect(cond.Reason).To(Equal(v1.ReasonRefreshRejected))
		Expect(condition(c, v1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		Expect(condition(c, v1.ConditionTokensValid).Status).To(Equal(metav1.ConditionFalse))
		Expect(got.Status.Link).NotTo(BeNil(), "a new link is issued at once")
		Expect(got.Status.LastError.Reason).To(Equal(v1.ReasonRefreshRejected))
		Expect(warningEvents(c, v1.ReasonReauthorizationRequired)).NotTo(BeEmpty())
		Expect(readTokens(c).refresh).To(Equal(dead), "the dead token is kept until a new authorisation replaces it")

		// The user goes through the new link and the connection recovers.
		p := visit(http.MethodGet, completeWidget(got.Status.Link.URL, sandbox.DriveOptions{}))
		Expect(p.status).To(Equal(http.StatusOK))
		waitForPhase(c, v1.PhaseConnected, 20*time.Second)
		Expect(condition(c, v1.ConditionReauthorizationRequired).Status).To(Equal(metav1.ConditionFalse))
		Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
	})

	It("backs off on finX 5xx, then succeeds", func() {
		c := t.connection("ken", disabled)
		authorize(c)
		before := readTokens(c).refresh
		// Retry-After keeps the failed state visible long enough to look at it.
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusServiceUnavailable, RetryAfter: 2 * time.Second, Count: 2})
		annotate(c, v1.AnnotationRefresh, "5xx")
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.FailedAttempts).To(BeNumerically(">=", 1))
			g.Expect(got.Status.LastError).NotTo(BeNil())
			g.Expect(got.Status.LastError.Reason).To(Equal(v1.ReasonFinXUnavailable))
			g.Expect(got.Status.LastError.NextAttemptAt).NotTo(BeNil())
		}).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected), "the chain is still alive while retrying")
		Expect(sbx.RefreshTokenState(before)).To(Equal(sandbox.TokenActive), "a 5xx spends nothing")

		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(15 * time.Second).ShouldNot(Equal(before))
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.FailedAttempts).To(BeZero())
			g.Expect(got.Status.LastError).To(BeNil())
		}).Should(Succeed())
		Expect(sbx.Stats().Endpoints["token"].ByStatus[http.StatusServiceUnavailable]).To(BeNumerically(">=", 2))
		Expect(warningEvents(c, v1.ReasonRefreshFailed)).NotTo(BeEmpty())
	})

	It("honours Retry-After on 429", func() {
		c := t.connection("liam", disabled)
		authorize(c)
		before := readTokens(c).refresh
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second, Count: 1})
		annotate(c, v1.AnnotationRefresh, "429")
		var failedAt, next time.Time
		Eventually(func(g Gomega) {
			le := get(c).Status.LastError
			g.Expect(le).NotTo(BeNil())
			g.Expect(le.NextAttemptAt).NotTo(BeNil())
			failedAt, next = le.Time.Time, le.NextAttemptAt.Time
		}).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
		Expect(next.Sub(failedAt)).To(BeNumerically(">=", 2*time.Second), "Retry-After beats the 300ms backoff base")
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(15 * time.Second).ShouldNot(Equal(before))
		Expect(clk.Now()).To(BeTemporally(">=", failedAt.Add(2*time.Second)))
	})

	It("keeps a rotated token in memory while its Secret cannot be written, without calling finX again", func() {
		c := t.connection("mallory", disabled)
		authorize(c)
		spent := readTokens(c).refresh
		unblock := blockTokenCommits(t.ns)
		calls := tokenCalls()
		annotate(c, v1.AnnotationRefresh, "blocked")

		// finX rotated the token, but the operator could not store the new one.
		Eventually(func() sandbox.TokenState { return sbx.RefreshTokenState(spent) }).WithTimeout(10 * time.Second).Should(Equal(sandbox.TokenSpent))
		Eventually(func() string {
			le := get(c).Status.LastError
			if le == nil {
				return ""
			}
			return le.Reason
		}).WithTimeout(10 * time.Second).Should(Equal(v1.ReasonSecretWriteFailed))
		tp := readTokens(c)
		Expect(tp.refresh).To(Equal(spent))
		Expect(tp.private.Annotations).To(HaveKey(tokenstore.AnnotationInFlight))
		// The operator keeps retrying the write, never the spent token.
		Consistently(tokenCalls).WithTimeout(3 * time.Second).Should(Equal(calls + 1))

		unblock()
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(20 * time.Second).ShouldNot(Equal(spent))
		tp = readTokens(c)
		Expect(sbx.RefreshTokenState(tp.refresh)).To(Equal(sandbox.TokenActive), "the token held in memory is the live one")
		Expect(tp.private.Annotations).NotTo(HaveKey(tokenstore.AnnotationInFlight))
		Expect(tokenCalls()).To(Equal(calls + 1))
		Eventually(func() *v1.LastError { return get(c).Status.LastError }).Should(BeNil())
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
	})

	It("still reports RotationLost when a finX error comes between the lost rotation and the rejection", func() {
		c := t.connection("olga", disabled)
		authorize(c)
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", DropAfterRotation: true, Count: 1})
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusServiceUnavailable, Count: 1})
		annotate(c, v1.AnnotationRefresh, "drop-then-503")
		waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
		Expect(condition(c, v1.ConditionReauthorizationRequired).Reason).To(Equal(v1.ReasonRotationLost))
		Expect(sbx.Stats().Endpoints["token"].ByStatus[http.StatusServiceUnavailable]).To(BeNumerically(">=", 1))
	})

	It("does not start a refresh that the time its journal write took leaves too little room for", func() {
		c := t.connection("petra", disabled)
		authorize(c)
		before, calls, delayed := readTokens(c).refresh, tokenCalls(), apiFaults.Counts()["delayed"]
		// An overloaded API server takes 3 of the spend's 4 seconds to write the journal, and finX
		// rotates at once but answers 2 seconds later: a call made now would be cut off by the spend's
		// deadline after finX rotated, and the rotated token would be lost.
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPut, PathContains: "/namespaces/" + t.ns + "/secrets/petra-finx-refresh",
			BodyHas: []string{tokenstore.AnnotationInFlight}, Action: apifault.Delay, Latency: 3 * time.Second, Count: 1,
		}))
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", AnswerLatency: 2 * time.Second, Count: 1})
		annotate(c, v1.AnnotationRefresh, "slow-journal")
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(20 * time.Second).ShouldNot(Equal(before))
		Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive), "the chain goes on")
		Expect(apiFaults.Counts()["delayed"]).To(Equal(delayed+1), "the journal write was held back")
		Expect(tokenCalls()).To(Equal(calls+1), "the late attempt sent nothing; the next one refreshed")
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
		Expect(meta.FindStatusCondition(get(c).Status.Conditions, v1.ConditionReauthorizationRequired).Status).To(Equal(metav1.ConditionFalse))
	})

	It("reports RotationLost with a new link when a rotation's answer never arrived", func() {
		c := t.connection("niaj", disabled)
		authorize(c)
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", DropAfterRotation: true, Count: 1})
		annotate(c, v1.AnnotationRefresh, "drop")
		got := waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
		Expect(condition(c, v1.ConditionReauthorizationRequired).Reason).To(Equal(v1.ReasonRotationLost))
		Expect(got.Status.Link).NotTo(BeNil())
		Expect(sbx.Stats().Endpoints["token"].Dropped).To(BeNumerically(">=", 1))
	})
})

// blockTokenCommits installs a ValidatingAdmissionPolicy that refuses any Secret update in ns which
// clears the refresh journal, i.e. the write that stores a rotated token. It returns the undo.
func blockTokenCommits(ns string) func() {
	policy, binding := secretUpdatePolicy(ns, "block-commits-"+ns, admissionv1.Deny, admissionv1.Validation{
		Expression: `!(has(oldObject.metadata.annotations) && 'banking.finx-operator.io/in-flight' in oldObject.metadata.annotations) || (has(object.metadata.annotations) && 'banking.finx-operator.io/in-flight' in object.metadata.annotations)`,
		Message:    "test: token commits are blocked",
	})
	// Policies take a moment to be enforced: probe with a Secret of our own until it is.
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: "commit-probe", Annotations: map[string]string{tokenstore.AnnotationInFlight: "probe"},
	}}
	Expect(k8sClient.Create(ctx, probe)).To(Succeed())
	Eventually(func() error {
		s := &corev1.Secret{}
		if err := k8sClient.Get(ctx, clientKey(probe), s); err != nil {
			return err
		}
		delete(s.Annotations, tokenstore.AnnotationInFlight)
		if err := k8sClient.Update(ctx, s); err == nil {
			s.Annotations = map[string]string{tokenstore.AnnotationInFlight: "probe"}
			_ = k8sClient.Update(ctx, s)
			return errNotYet
		}
		return nil
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return func() {
		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		Expect(k8sClient.Delete(ctx, policy)).To(Succeed())
	}
}
