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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// Scenario: secretsDeletionPolicy Retain against the real garbage collector, deleted the way Argo CD
// prunes (foreground propagation): the access-token Secret goes, the refresh chain stays, and the
// connection applied again carries on without the widget.
func retainScenario(ctx SpecContext) {
	const ns = "e2e-retain"
	newTenant(ctx, ns)
	retain := func(b *v1.BankConnection) { b.Spec.SecretsDeletionPolicy = v1.DeletionPolicyRetain }
	key := newConnection(ctx, ns, "rita", callbackA, retain)
	b := connect(ctx, key, callbackA)
	Eventually(ctx, func() []metav1.OwnerReference { return privateSecret(ctx, key).OwnerReferences }).
		WithTimeout(10 * time.Second).Should(BeEmpty())
	chain := string(privateSecret(ctx, key).Data[tokenstore.KeyRefreshToken])

	By("deleting the BankConnection with foreground propagation")
	Expect(stack.Admin.Delete(ctx, b, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
	Eventually(ctx, func(g Gomega) {
		g.Expect(isNotFound(stack.Admin.Get(ctx, key, &v1.BankConnection{}))).To(BeTrue(), "BankConnection still there")
		_, err := secretOf(ctx, ns, key.Name+"-finx-access")
		g.Expect(isNotFound(err)).To(BeTrue(), "the access-token Secret is garbage collected (err %v)", err)
	}).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	Consistently(ctx, func() error { _, err := secretOf(ctx, ns, key.Name+"-finx-refresh"); return err }).
		WithTimeout(3*time.Second).Should(Succeed(), "the retained private Secret outlives its connection")

	By("applying the same connection again")
	newConnection(ctx, ns, "rita", callbackA, retain)
	again := waitFor(ctx, key, 30*time.Second, "phase Connected", isConnected)
	Expect(again.Status.Link).To(BeNil(), "no widget link was needed")
	Eventually(ctx, func() bool { return string(privateSecret(ctx, key).Data[tokenstore.KeyRefreshToken]) == chain }).
		WithTimeout(30*time.Second).Should(BeFalse(), "the adopted chain was refreshed")
	Expect(privateSecret(ctx, key).Annotations).To(HaveKeyWithValue(tokenstore.AnnotationRetainedFor, string(again.UID)))
	Eventually(ctx, func(g Gomega) {
		access, err := secretOf(ctx, ns, key.Name+"-finx-access")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(access.Data[tokenstore.KeyAccessToken]).NotTo(BeEmpty())
		g.Expect(metav1.IsControlledBy(access, again)).To(BeTrue(), "the access-token Secret is owned as always")
	}).WithTimeout(30 * time.Second).Should(Succeed())
}
