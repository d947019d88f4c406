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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

var _ = Describe("The manager's cache", func() {
	It("keeps the operator's Secrets without their tokens, codes or managedFields", func() {
		t := newTenant(nil)
		c := authorize(t.connection("cached"))
		tp := readTokens(c)
		Expect(tp.refresh).NotTo(BeEmpty())
		Expect(tp.access).NotTo(BeEmpty())

		private, access := &corev1.Secret{}, &corev1.Secret{}
		Eventually(func(g Gomega) {
			g.Expect(mgrCache.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: refreshName(c)}, private)).To(Succeed())
			g.Expect(mgrCache.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: accessName(c)}, access)).To(Succeed())
			g.Expect(private.ResourceVersion).To(Equal(tp.private.ResourceVersion))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		// What the watch needs stays: the owner that maps an event to its connection. Labels and
		// annotations are not kept for an owned Secret (what the predicates read of them is in the
		// view's data; tokenstore's tests check it).
		Expect(private.OwnerReferences).To(Equal(tp.private.OwnerReferences))
		Expect(private.Labels).To(BeNil())
		Expect(private.Annotations).To(BeNil())
		Expect(tokenstore.CachedConsumedStates(private)).NotTo(BeEmpty())
		Expect(private.ManagedFields).To(BeEmpty())
		// No token, in any key.
		Expect(private.Data).NotTo(HaveKey(tokenstore.KeyRefreshToken))
		Expect(access.Data).To(BeEmpty())
		b, _ := json.Marshal([]*corev1.Secret{private, access})
		Expect(string(b)).NotTo(ContainSubstring(tp.refresh))
		Expect(string(b)).NotTo(ContainSubstring(tp.access))
	})

	It("keeps a BankConnection without kubectl's copy of it and without managedFields", func() {
		t := newTenant(nil)
		c := t.connection("applied", func(c *v1.BankConnection) {
			c.Annotations = map[string]string{
				"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"banking.finx-operator.io/v1alpha1"}`,
				"example.com/kept": "yes",
			}
		})
		waitForLink(c, "")
		cached := &v1.BankConnection{}
		Eventually(func(g Gomega) {
			g.Expect(mgrCache.Get(ctx, clientKey(c), cached)).To(Succeed())
			g.Expect(cached.Status.Link).NotTo(BeNil())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(cached.Annotations).To(Equal(map[string]string{"example.com/kept": "yes"}))
		Expect(cached.ManagedFields).To(BeEmpty())
		Expect(cached.Spec).To(Equal(get(c).Spec))
	})
})
