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
	"net/url"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

var _ = Describe("BankConnection lifecycle", func() {
	var t tenant
	BeforeEach(func() { t = newTenant(nil) })

	It("issues a link, takes the callback, exchanges the code and stores both tokens", func() {
		start := time.Now()
		c := t.connection("alice", func(c *v1.BankConnection) {
			c.Spec.Language = "en"
			c.Spec.SyncPeriod = ptr.To[int32](30)
		})
		link := waitForLink(c, "")
		toLink := time.Since(start)
		AddReportEntry("apply to status.link", toLink.String())
		GinkgoWriter.Printf("MEASURE apply->status.link %s\n", toLink)

		got := get(c)
		Expect(got.Status.Phase).To(Equal(v1.PhaseAwaitingAuthorization))
		Expect(condition(c, v1.ConditionLinkIssued).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(c, v1.ConditionLinkIssued).ObservedGeneration).To(Equal(got.Generation))
		Expect(condition(c, v1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		Expect(link.URL).To(HavePrefix(sandboxURL))
		Expect(link.FlowID).NotTo(BeEmpty())
		Expect(link.StateHash).To(HaveLen(64))

		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		// The state finX echoes is the operator's own: unguessable, and only its hash is in status.
		state := redirect.Query().Get("state")
		Expect(len(state)).To(BeNumerically(">=", 22), "at least 128 bits")
		Expect(controllersStateHash(state)).To(Equal(link.StateHash))

		cbStart := time.Now()
		p := visit(http.MethodGet, redirect)
		Expect(p.status).To(Equal(http.StatusOK))
		Expect(p.body).To(ContainSubstring("Bank connected"))
		got = waitForPhase(c, v1.PhaseConnected, 20*time.Second)
		toConnected := time.Since(cbStart)
		AddReportEntry("callback to Connected", toConnected.String())
		GinkgoWriter.Printf("MEASURE callback->Connected %s\n", toConnected)

		for _, typ := range []string{v1.ConditionReady, v1.ConditionAuthorized, v1.ConditionTokensValid} {
			cond := condition(c, typ)
			Expect(cond.Status).To(Equal(metav1.ConditionTrue), typ)
			Expect(cond.ObservedGeneration).To(Equal(got.Generation), typ)
		}
		Expect(condition(c, v1.ConditionReauthorizationRequired).Status).To(Equal(metav1.ConditionFalse))
		Expect(got.Status.Link).To(BeNil(), "a used link is not kept")
		Expect(got.Status.AuthorizedAt).NotTo(BeNil())
		Expect(got.Status.RefreshToken.NextRefreshAt).NotTo(BeNil())
		Expect(got.Status.RefreshToken.NextRefreshAt.Time).To(BeTemporally("<", got.Status.AccessToken.ExpiresAt.Time))

		tp := readTokens(c)
		Expect(sbx.RefreshTokenState(tp.refresh)).To(Equal(sandbox.TokenActive))
		Expect(tp.private.Type).To(Equal(tokenstore.TypeRefreshToken))
		Expect(tp.accessSecret.Type).To(Equal(tokenstore.TypeAccessToken))
		Expect(tp.tokenType).To(Equal("Bearer"))
		exp, err := time.Parse(time.RFC3339, tp.expiresAt)
		Expect(err).NotTo(HaveOccurred())
		Expect(exp).To(BeTemporally("~", clk.Now().Add(accessTTL), 3*time.Second))
		for _, s := range []*corev1.Secret{tp.private, tp.accessSecret} {
			Expect(s.Labels).To(HaveKeyWithValue(tokenstore.LabelManagedBy, tokenstore.ManagedByValue))
			Expect(s.Labels).To(HaveKeyWithValue(tokenstore.LabelConnection, c.Name))
			Expect(s.OwnerReferences).To(ConsistOf(HaveField("UID", got.UID)))
		}
		// The code is gone from the Secret once exchanged.
		Expect(tp.private.Data).NotTo(HaveKey("callback_code"))

		// The access token really works against finX.
		api, err := finx.New(finx.Config{BaseURL: sandboxURL, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret})
		Expect(err).NotTo(HaveOccurred())
		accounts, err := api.ListAccounts(ctx, tp.access)
		Expect(err).NotTo(HaveOccurred())
		Expect(accounts).NotTo(BeEmpty())

		// A replay of the same callback is refused and changes nothing.
		replay := visit(http.MethodGet, redirect)
		Expect(replay.status).To(Equal(http.StatusConflict))
		Expect(replay.body).To(ContainSubstring("already been used"))
	})

	It("refreshes the access token and rotates the refresh token again and again", func() {
		c := t.connection("bob")
		authorize(c)
		seen := []string{readTokens(c).refresh}
		for len(seen) < 4 {
			Eventually(func(g Gomega) {
				tp := readTokens(c)
				g.Expect(tp.refresh).NotTo(Equal(seen[len(seen)-1]))
			}).WithTimeout(3 * accessTTL).WithPolling(100 * time.Millisecond).Should(Succeed())
			seen = append(seen, readTokens(c).refresh)
		}
		// Every new token is live at finX and every spent one is rejected.
		for _, tok := range seen[:len(seen)-1] {
			Expect(sbx.RefreshTokenState(tok)).To(Equal(sandbox.TokenSpent))
		}
		current := readTokens(c)
		Expect(sbx.RefreshTokenState(current.refresh)).To(BeElementOf(sandbox.TokenActive, sandbox.TokenSpent))
		got := get(c)
		Expect(got.Status.RefreshToken.Rotations).To(BeNumerically(">=", 3))
		Expect(got.Status.Phase).To(Equal(v1.PhaseConnected))
		Expect(got.Status.FailedAttempts).To(BeZero())
		api, _ := finx.New(finx.Config{BaseURL: sandboxURL, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret})
		_, err := api.Refresh(ctx, seen[0])
		Expect(finx.IsGrantRejected(err)).To(BeTrue(), "a spent token must be refused: %v", err)

		// The metrics endpoint reports refreshes, finX calls and this connection's schedule.
		families, err := promReg.Gather()
		Expect(err).NotTo(HaveOccurred())
		byName := map[string]*dto.MetricFamily{}
		for _, f := range families {
			byName[f.GetName()] = f
		}
		Expect(counterWith(byName["finx_operator_token_refreshes_total"], map[string]string{"result": "success"})).To(BeNumerically(">=", 3))
		Expect(counterWith(byName["finx_operator_finx_requests_total"], map[string]string{"endpoint": "token", "code": "200"})).To(BeNumerically(">=", 4))
		Expect(byName).To(HaveKey("finx_operator_finx_request_duration_seconds"))
		for _, g := range []string{
			"finx_operator_bankconnection_refresh_token_expiration_timestamp_seconds",
			"finx_operator_bankconnection_access_token_expiration_timestamp_seconds",
			"finx_operator_bankconnection_next_refresh_timestamp_seconds",
		} {
			Expect(gaugeWith(byName[g], map[string]string{"namespace": c.Namespace, "name": c.Name})).To(BeNumerically(">", float64(time.Now().Add(-time.Minute).Unix())), g)
		}
	})

	It("refreshes only the refresh token, refreshBefore ahead of its expiry, when the access token is not maintained", func() {
		c := t.connection("carol", func(c *v1.BankConnection) {
			c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled
			c.Spec.RefreshBefore = &metav1.Duration{Duration: 50 * time.Second}
		})
		got := authorize(c)
		rt := got.Status.RefreshToken
		Expect(got.Status.AccessToken).To(BeNil())
		want := rt.ExpiresAt.Add(-50 * time.Second)
		// Status times have one-second resolution.
		Expect(rt.NextRefreshAt.Time).To(BeTemporally("<=", want.Add(time.Second)))
		Expect(rt.NextRefreshAt.Time).To(BeTemporally(">=", want.Add(-2*time.Second)), "jitter stays small")
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: accessName(got)}, &corev1.Secret{})).NotTo(Succeed())
		first := readTokens(c).refresh
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(20 * time.Second).ShouldNot(Equal(first))
		Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).Should(BeEquivalentTo(1))
	})

	It("offers a new link when the user cancels", func() {
		c := t.connection("dave")
		link := waitForLink(c, "")
		redirect := completeWidget(link.URL, sandbox.DriveOptions{Cancel: true})
		Expect(redirect.Query().Get("cancel")).To(Equal("true"))
		p := visit(http.MethodGet, redirect)
		Expect(p.status).To(Equal(http.StatusOK))
		Expect(p.body).To(ContainSubstring("cancelled"))
		got := waitForPhase(c, v1.PhaseCancelled, 20*time.Second)
		Expect(condition(c, v1.ConditionAuthorized).Reason).To(Equal(v1.ReasonCancelled))
		newLink := waitForLink(c, link.URL)
		Expect(newLink.StateHash).NotTo(Equal(link.StateHash))
		Expect(got.Status.RefreshToken).To(BeNil())
		// The new link still works.
		authorize(c)
	})

	It("sends the browser to returnURL with the application's state, never the code", func() {
		c := t.connection("erin", func(c *v1.BankConnection) {
			c.Spec.ReturnURL = "https://app.example.com/banking/done?tab=1"
			c.Spec.State = "app-state-42"
		})
		link := waitForLink(c, "")
		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		p := visit(http.MethodPost, redirect) // an application forwarding the redirect as a form
		Expect(p.status).To(Equal(http.StatusSeeOther))
		loc, err := url.Parse(p.location)
		Expect(err).NotTo(HaveOccurred())
		Expect(loc.Host).To(Equal("app.example.com"))
		Expect(loc.Query().Get("state")).To(Equal("app-state-42"))
		Expect(loc.Query().Get("success")).To(Equal("true"))
		Expect(loc.Query().Get("cancel")).To(Equal("false"))
		Expect(loc.Query().Get("tab")).To(Equal("1"))
		Expect(loc.Query()).NotTo(HaveKey("code"))
		waitForPhase(c, v1.PhaseConnected, 20*time.Second)
	})

	It("re-issues a link when the spec changes before authorisation, and when the link expires", func() {
		c := t.connection("frank", func(c *v1.BankConnection) {
			c.Spec.LinkLifetime = &metav1.Duration{Duration: time.Minute}
		})
		first := waitForLink(c, "")
		Eventually(func() error {
			got := get(c)
			got.Spec.Language = "de"
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		second := waitForLink(c, first.URL)
		Expect(second.ForGeneration).To(Equal(get(c).Generation))

		// A change that is not sent to finX leaves the link the user may be using alone.
		Eventually(func() error {
			got := get(c)
			got.Spec.RefreshBefore = &metav1.Duration{Duration: 10 * time.Second}
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		Eventually(func() int64 { return get(c).Status.ObservedGeneration }).Should(Equal(get(c).Generation))
		Expect(get(c).Status.Link.URL).To(Equal(second.URL))

		// The old link's state is no longer accepted.
		old := completeWidget(first.URL, sandbox.DriveOptions{})
		Expect(visit(http.MethodGet, old).status).To(Equal(http.StatusNotFound))
	})

	It("acts on the refresh and relink annotations once per value", func() {
		c := t.connection("grace", func(c *v1.BankConnection) {
			c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled // no scheduled refresh in the window
		})
		authorize(c)
		before := readTokens(c).refresh
		calls := tokenCalls()
		annotate(c, v1.AnnotationRefresh, "1")
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(10 * time.Second).ShouldNot(Equal(before))
		Eventually(func() string { return get(c).Status.LastHandledRefreshRequest }).Should(Equal("1"))
		Expect(tokenCalls()).To(Equal(calls + 1))
		// The same value again does nothing, and an idle reconcile writes nothing: neither the Secret
		// nor the status changes.
		after := readTokens(c)
		annotate(c, "unrelated", "x")
		idle := get(c).ResourceVersion
		Consistently(func() string { return readTokens(c).private.ResourceVersion }).WithTimeout(2 * time.Second).Should(Equal(after.private.ResourceVersion))
		Expect(get(c).ResourceVersion).To(Equal(idle))

		annotate(c, v1.AnnotationRelink, strconv.Itoa(1))
		link := waitForLink(c, "")
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected), "a relink keeps the live chain")
		Expect(get(c).Status.LastHandledRelinkRequest).To(Equal("1"))
		Expect(visit(http.MethodGet, completeWidget(link.URL, sandbox.DriveOptions{})).status).To(Equal(http.StatusOK))
		Eventually(func() *v1.LinkStatus { return get(c).Status.Link }).WithTimeout(10 * time.Second).Should(BeNil())
		Expect(readTokens(c).refresh).NotTo(Equal(after.refresh), "the new authorisation replaced the chain")
	})

	It("stops calling finX for a deleted connection and leaves its Secrets to garbage collection", func() {
		c := t.connection("heidi")
		got := authorize(c)
		tp := readTokens(c)
		Expect(k8sClient.Delete(ctx, got)).To(Succeed())
		Eventually(func() bool {
			return k8sClient.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Name}, &v1.BankConnection{}) != nil
		}).Should(BeTrue())
		// No garbage collector runs in this suite (the end-to-end tests run one); the owner
		// references it acts on are in place.
		for _, s := range []*corev1.Secret{tp.private, tp.accessSecret} {
			Expect(s.OwnerReferences).To(ConsistOf(And(HaveField("UID", got.UID), HaveField("Controller", ptr.To(true)))))
		}
		// A live reconciler would refresh within two thirds of the 4s access token; nothing may.
		state := sbx.RefreshTokenState(tp.refresh)
		calls := tokenCalls()
		Consistently(func() sandbox.TokenState { return sbx.RefreshTokenState(tp.refresh) }).
			WithTimeout(accessTTL + time.Second).Should(Equal(state))
		Expect(tokenCalls()).To(Equal(calls), "no finX call for a deleted connection")
	})

	It("makes no finX call while suspended", func() {
		c := t.connection("ivan", func(c *v1.BankConnection) { c.Spec.Suspend = true })
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSuspended))
		Consistently(func() *v1.LinkStatus { return get(c).Status.Link }).WithTimeout(2 * time.Second).Should(BeNil())
		Eventually(func() error {
			got := get(c)
			got.Spec.Suspend = false
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		waitForLink(c, "")
	})
})

func controllersStateHash(s string) string { return stateHash(s) }

func counterWith(f *dto.MetricFamily, labels map[string]string) float64 {
	if m := metricWith(f, labels); m != nil {
		return m.GetCounter().GetValue()
	}
	return 0
}

func gaugeWith(f *dto.MetricFamily, labels map[string]string) float64 {
	if m := metricWith(f, labels); m != nil {
		return m.GetGauge().GetValue()
	}
	return 0
}

func metricWith(f *dto.MetricFamily, labels map[string]string) *dto.Metric {
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		match := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match == len(labels) {
			return m
		}
	}
	return nil
}
