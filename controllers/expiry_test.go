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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// Both expiries have a one-minute floor in the API, so one spec waits it out once for both.
var _ = Describe("Expiry", func() {
	It("re-issues an unused link when it expires, and asks for a new authorisation when the refresh token expired unrefreshed", func() {
		t := newTenant(nil)
		linked := t.connection("link-expiry", func(c *v1.BankConnection) {
			c.Spec.LinkLifetime = &metav1.Duration{Duration: time.Minute}
		})
		first := waitForLink(linked, "")

		idle := t.connection("token-expiry", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		authorize(idle)
		// Suspended, the operator makes no finX call, so the one-minute refresh token runs out.
		Eventually(func() error {
			got := get(idle)
			got.Spec.Suspend = true
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		expires := get(idle).Status.RefreshToken.ExpiresAt.Time

		// Past both the link's and the refresh token's expiry, without waiting for it.
		clk.Step(expires.Sub(clk.Now()) + 2*time.Second)
		annotate(linked, "test/nudge", "after-step")
		second := waitForLinkWithin(linked, first.URL, 10*time.Second)
		Expect(second.IssuedAt.Time).To(BeTemporally(">=", first.ExpiresAt.Time.Add(-time.Second)))
		Expect(get(linked).Status.Phase).To(Equal(v1.PhaseAwaitingAuthorization))

		Eventually(func() error {
			got := get(idle)
			got.Spec.Suspend = false
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		got := waitForPhase(idle, v1.PhaseReauthorizationRequired, 20*time.Second)
		Expect(condition(idle, v1.ConditionReauthorizationRequired).Reason).To(Equal(v1.ReasonTokenExpired))
		Expect(got.Status.Link).NotTo(BeNil(), "a new link is issued at once")
		Expect(warningEvents(idle, v1.ReasonReauthorizationRequired)).NotTo(BeEmpty())
	})
})

func waitForLinkWithin(c *v1.BankConnection, notURL string, timeout time.Duration) *v1.LinkStatus {
	var link *v1.LinkStatus
	Eventually(func(g Gomega) {
		got := get(c)
		g.Expect(got.Status.Link).NotTo(BeNil())
		g.Expect(got.Status.Link.URL).NotTo(Equal(notURL))
		link = got.Status.Link
	}).WithTimeout(timeout).WithPolling(200 * time.Millisecond).Should(Succeed())
	return link
}
