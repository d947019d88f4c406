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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

var _ = Describe("ClusterFinXClient tenancy", func() {
	It("keeps tenants with the same userID apart and refuses namespaces outside its selector", func() {
		label := "finx-test/banking-" + string(uuidish())
		shared := sharedClient(map[string]string{label: "yes"})
		Eventually(func() metav1.ConditionStatus {
			got := &v1.ClusterFinXClient{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: shared}, got)).To(Succeed())
			for _, c := range got.Status.Conditions {
				if c.Type == v1.ConditionReady {
					return c.Status
				}
			}
			return ""
		}).Should(Equal(metav1.ConditionTrue))

		useShared := func(c *v1.BankConnection) {
			c.Spec.ClientRef = v1.ClientReference{Kind: v1.ClientKindClusterFinXClient, Name: shared}
			c.Spec.UserID = "same-user@example.com"
			c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled
		}
		labels := map[string]string{label: "yes"}
		a, b := newTenant(labels), newTenant(labels)
		ca, cb := a.connection("pat", useShared), b.connection("pat", useShared)
		authorize(ca)
		authorize(cb)
		ta, tb := readTokens(ca).refresh, readTokens(cb).refresh

		// Each tenant is its own finX user, named after its namespace's UID: revoking one leaves the
		// other untouched.
		nsA := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: a.ns}, nsA)).To(Succeed())
		Expect(get(ca).Status.FinXUserID).To(Equal(string(nsA.UID) + "/same-user@example.com"))
		Expect(sbx.RevokeUser("same-user@example.com")).To(BeZero(), "the raw userID is never sent")
		Expect(sbx.RevokeUser(a.ns+"/same-user@example.com")).To(BeZero(), "nor the namespace name")
		Expect(sbx.RevokeUser(get(ca).Status.FinXUserID)).To(BeNumerically(">", 0))
		Expect(sbx.RefreshTokenState(ta)).To(Equal(sandbox.TokenRevoked))
		Expect(sbx.RefreshTokenState(tb)).To(Equal(sandbox.TokenActive))

		// Their data differs too.
		api, err := finx.New(finx.Config{BaseURL: sandboxURL, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret})
		Expect(err).NotTo(HaveOccurred())
		tok, err := api.Refresh(ctx, tb)
		Expect(err).NotTo(HaveOccurred())
		secrets.add("access token", tok.AccessToken)
		secrets.add("refresh token", tok.RefreshToken)

		// A namespace outside the selector gets a condition and no finX call.
		outsider := newTenant(nil)
		calls := sbx.Stats().Endpoints["ongoing_access"].Calls
		co := outsider.connection("pat", useShared)
		Eventually(func() string { return condition(co, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonClientNotAllowed))
		Expect(readHealth(co, v1.PhasePending, status.FailedStatus, "Degraded", status.FailedStatus).stalled).To(Equal(v1.ReasonClientNotAllowed))
		Consistently(func() *v1.LinkStatus { return get(co).Status.Link }).WithTimeout(time.Second).Should(BeNil())
		Expect(get(co).Status.Phase).To(Equal(v1.PhasePending))
		Expect(sbx.Stats().Endpoints["ongoing_access"].Calls).To(Equal(calls))
	})

	It("reports a FinXClient whose credentials Secret is missing", func() {
		t := newTenant(nil)
		fc := &v1.FinXClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "broken"},
			Spec:       v1.FinXClientSpec{BaseURL: sandboxURL, CredentialsSecretRef: v1.CredentialsSecretReference{Name: "nope"}},
		}
		Expect(k8sClient.Create(ctx, fc)).To(Succeed())
		c := t.connection("quinn", func(c *v1.BankConnection) { c.Spec.ClientRef.Name = "broken" })
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonClientNotReady))
		Eventually(func() string {
			got := &v1.FinXClient{}
			Expect(k8sClient.Get(ctx, clientKey(fc), got)).To(Succeed())
			for _, c := range got.Status.Conditions {
				if c.Type == v1.ConditionReady {
					return c.Reason
				}
			}
			return ""
		}).Should(Equal(v1.ReasonCredentialsMissing))
	})
})
