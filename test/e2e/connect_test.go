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

package e2e_test

import (
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/devstack"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// Scenario 1: what a person does first. Apply config/samples (pointed at this run's sandbox and
// callback ports), complete the widget with form posts, follow the redirect to the callback.
func sampleScenario(ctx SpecContext) {
	const ns = "e2e-sample"
	Expect(stack.Admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		_ = stack.Admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})

	objs, err := devstack.SamplesFor(repoRoot, ns)
	Expect(err).NotTo(HaveOccurred())
	var connName, clientName string
	for _, o := range objs {
		switch o.GetKind() {
		case "FinXClient":
			clientName = o.GetName()
			Expect(unstructured.SetNestedField(o.Object, sandboxURL, "spec", "baseURL")).To(Succeed())
		case "BankConnection":
			connName = o.GetName()
			Expect(unstructured.SetNestedField(o.Object, callbackURL(callbackA), "spec", "redirectURI")).To(Succeed())
		}
	}
	Expect(connName).NotTo(BeEmpty(), "config/samples has no BankConnection")
	Expect(clientName).NotTo(BeEmpty(), "config/samples has no FinXClient")
	Expect(devcluster.ServerSideApply(ctx, stack.AdminConfig(), objs, "finx-e2e")).To(Succeed())
	key := types.NamespacedName{Namespace: ns, Name: connName}
	DeferCleanup(func(ctx SpecContext) { deleteConnection(ctx, key) })

	By("waiting for the widget link and completing the widget")
	b := waitFor(ctx, key, 30*time.Second, "a widget link", hasLink)
	Expect(b.Status.Phase).To(Equal(v1.PhaseAwaitingAuthorization))
	Expect(conditionIs(b, v1.ConditionLinkIssued, metav1.ConditionTrue)).To(BeTrue(), summary(b))
	redirect := completeWidget(ctx, b, callbackA)

	By("waiting for phase Connected")
	b = waitFor(ctx, key, 30*time.Second, "phase Connected", isConnected)
	for _, typ := range []string{v1.ConditionReady, v1.ConditionAuthorized, v1.ConditionTokensValid} {
		Expect(conditionIs(b, typ, metav1.ConditionTrue)).To(BeTrue(), "%s: %s", typ, summary(b))
	}
	Expect(conditionIs(b, v1.ConditionReauthorizationRequired, metav1.ConditionFalse)).To(BeTrue(), summary(b))
	Expect(b.Status.Link).To(BeNil(), "an authorised connection keeps no link")
	Expect(b.Status.AuthorizedAt).NotTo(BeNil())
	Expect(b.Status.RefreshToken.NextRefreshAt).NotTo(BeNil())
	Expect(b.Status.RefreshToken.Rotations).To(BeZero())

	By("checking both Secrets")
	_, access := expectOwnedSecrets(ctx, b)
	accounts, err := finxClient().ListAccounts(ctx, string(access.Data[tokenstore.KeyAccessToken]))
	Expect(err).NotTo(HaveOccurred(), "the access token in the Secret must work at finX")
	Expect(accounts).NotTo(BeEmpty())

	fc := &v1.FinXClient{}
	Expect(stack.Admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: clientName}, fc)).To(Succeed())
	Expect(fc.Status.Conditions).To(ContainElement(And(
		HaveField("Type", "Ready"), HaveField("Status", metav1.ConditionTrue))), "FinXClient status")

	By("replaying the callback: the state is single use")
	status, body := get(ctx, redirect)
	Expect(status).To(Equal(http.StatusConflict), body)

	expectNoForbidden(primaryReplica)
}

// Scenario 2: every refresh rotates the refresh token, and the replaced tokens are spent at finX.
func rotationScenario(ctx SpecContext) {
	const ns = "e2e-rotation"
	newTenant(ctx, ns)
	key := newConnection(ctx, ns, "bob", callbackA)
	connect(ctx, key, callbackA)

	By("recording each refresh token the private Secret holds until three rotations happened")
	var refreshTokens, accessTokens []string
	deadline := time.Now().Add(45 * time.Second)
	var b *v1.BankConnection
	for {
		s := privateSecret(ctx, key)
		if t := string(s.Data[tokenstore.KeyRefreshToken]); len(refreshTokens) == 0 || refreshTokens[len(refreshTokens)-1] != t {
			Expect(t).NotTo(BeEmpty())
			refreshTokens = append(refreshTokens, t)
		}
		if a, err := secretOf(ctx, ns, key.Name+"-finx-access"); err == nil {
			if t := string(a.Data[tokenstore.KeyAccessToken]); len(accessTokens) == 0 || accessTokens[len(accessTokens)-1] != t {
				accessTokens = append(accessTokens, t)
			}
		}
		b = getConnection(ctx, key)
		Expect(b.Status.Phase).To(Equal(v1.PhaseConnected), summary(b))
		if rotations(b) >= 3 && len(refreshTokens) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			Fail(fmt.Sprintf("fewer than 3 rotations in 45s (saw %d refresh tokens): %s", len(refreshTokens), summary(b)))
		}
		sleep(ctx, 100*time.Millisecond)
	}
	Expect(len(accessTokens)).To(BeNumerically(">=", 4), "each refresh also renews the access token in its Secret")
	AddReportEntry("rotation", fmt.Sprintf("status.refreshToken.rotations=%d, distinct refresh tokens seen in the Secret: %d", rotations(b), len(refreshTokens)))

	By("presenting every replaced refresh token to finX: each must be spent")
	// The last one seen may still be live: never present it.
	replaced := refreshTokens[:len(refreshTokens)-1]
	for i, t := range replaced {
		expectSpent(ctx, t, fmt.Sprintf("refresh token #%d of %d", i+1, len(refreshTokens)))
	}

	By("checking the operator's chain is unaffected and keeps rotating")
	r := rotations(b)
	b = waitFor(ctx, key, 20*time.Second, "one more rotation", func(b *v1.BankConnection) bool {
		return isConnected(b) && rotations(b) > r
	})
	Expect(rotations(b)).To(BeNumerically(">=", int64(len(replaced))), "rotations counts every rotation")
	Expect(b.Status.LastError).To(BeNil(), summary(b))
}

// Scenario 5: the Secrets are owned by the connection; kube-controller-manager's garbage collector
// removes them when it is deleted.
func deletionScenario(ctx SpecContext) {
	const ns = "e2e-deletion"
	newTenant(ctx, ns)
	key := newConnection(ctx, ns, "dave", callbackA)
	b := connect(ctx, key, callbackA)
	refresh, access := expectOwnedSecrets(ctx, b)

	By("deleting the BankConnection")
	Expect(stack.Admin.Delete(ctx, b)).To(Succeed())
	start := time.Now()
	Eventually(ctx, func(g Gomega) {
		err := stack.Admin.Get(ctx, key, &v1.BankConnection{})
		g.Expect(isNotFound(err)).To(BeTrue(), "BankConnection still there (err %v)", err)
		for _, name := range []string{refresh.Name, access.Name} {
			_, err := secretOf(ctx, ns, name)
			g.Expect(isNotFound(err)).To(BeTrue(), "Secret %s still there (err %v)", name, err)
		}
	}).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	AddReportEntry("garbage collection", fmt.Sprintf("both Secrets gone %s after the delete", time.Since(start).Round(100*time.Millisecond)))
}
