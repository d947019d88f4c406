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
	"crypto/sha256"
	"encoding/hex"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

var _ = Describe("Deletion policy", func() {
	var t tenant
	BeforeEach(func() { t = newTenant(nil) })

	retain := func(c *v1.BankConnection) {
		c.Spec.SecretsDeletionPolicy = v1.DeletionPolicyRetain
		// No access token: refreshes happen only when a spec asks, so none races the deletion.
		c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled
	}
	privateSecret := func(ns, name string) *corev1.Secret {
		s := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name + "-finx-refresh"}, s)).To(Succeed())
		return s
	}
	deleteAndWait := func(c *v1.BankConnection) {
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &v1.BankConnection{}) }).ShouldNot(Succeed())
	}

	It("keeps a retained chain for a new connection of the same name, user and client, and for no other", func() {
		c := t.connection("mia", retain)
		first := authorize(c)
		chain := readTokens(c).refresh
		// Retained from the start: no owner reference for the garbage collector to act on, whatever
		// the propagation policy of the deletion.
		Eventually(func(g Gomega) {
			s := privateSecret(t.ns, "mia")
			g.Expect(s.OwnerReferences).To(BeEmpty())
			g.Expect(s.Annotations).To(HaveKeyWithValue(tokenstore.AnnotationRetainedFor, string(first.UID)))
			g.Expect(s.Annotations).To(HaveKeyWithValue(tokenstore.AnnotationRetainedClient, "FinXClient/finx"))
			g.Expect(s.Annotations[tokenstore.AnnotationRetainedUser]).To(HaveLen(64))
			g.Expect(s.Annotations[tokenstore.AnnotationRetainedUser]).NotTo(ContainSubstring("mia"), "the userID itself is not copied")
		}).Should(Succeed())

		deleteAndWait(c)
		s := privateSecret(t.ns, "mia")
		Expect(string(s.Data[tokenstore.KeyRefreshToken]) == chain).To(BeTrue(), "the chain is kept")
		Expect(sbx.RefreshTokenState(chain)).To(Equal(sandbox.TokenActive))

		// Another user under the same name is refused, and the chain is left alone.
		other := t.connection("mia", retain, func(c *v1.BankConnection) { c.Spec.UserID = "mallory@example.com" })
		Eventually(func() string { return condition(other, v1.ConditionStalled).Reason }).Should(Equal(v1.ReasonSecretConflict))
		deleteAndWait(other)
		// So is another client, even for the same user.
		Expect(k8sClient.Create(ctx, &v1.FinXClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "second"},
			Spec: v1.FinXClientSpec{
				BaseURL:              sandboxURL,
				CredentialsSecretRef: v1.CredentialsSecretReference{Name: "finx-credentials"},
				RefreshTokenLifetime: &metav1.Duration{Duration: refreshLifetime},
			},
		})).To(Succeed())
		otherClient := t.connection("mia", retain, func(c *v1.BankConnection) { c.Spec.ClientRef.Name = "second" })
		Eventually(func() string { return condition(otherClient, v1.ConditionStalled).Reason }).Should(Equal(v1.ReasonSecretConflict))
		deleteAndWait(otherClient)
		s = privateSecret(t.ns, "mia")
		Expect(string(s.Data[tokenstore.KeyRefreshToken]) == chain).To(BeTrue(), "neither touched the token")
		Expect(s.Annotations).To(HaveKeyWithValue(tokenstore.AnnotationRetainedFor, string(first.UID)))
		Expect(sbx.RefreshTokenState(chain)).To(Equal(sandbox.TokenActive))

		// The same name, user and client carries on without the widget.
		links := sbx.Stats().Endpoints[sandbox.EndpointOngoingAccess].Calls
		again := t.connection("mia", retain)
		got := waitForPhase(again, v1.PhaseConnected, 20*time.Second)
		Expect(got.Status.Link).To(BeNil())
		Expect(sbx.Stats().Endpoints[sandbox.EndpointOngoingAccess].Calls).To(Equal(links), "no new widget link")
		Expect(privateSecret(t.ns, "mia").Annotations).To(HaveKeyWithValue(tokenstore.AnnotationRetainedFor, string(got.UID)))
		Eventually(func() []eventsv1.Event {
			return eventsFor(again, corev1.EventTypeNormal, v1.ReasonRetainedChainAdopted)
		}).ShouldNot(BeEmpty())
		readHealth(again, v1.PhaseConnected, status.CurrentStatus, "Healthy", status.CurrentStatus)

		// The adopted chain works: it was proved by a refresh on adoption, and refreshes on demand.
		Eventually(func() bool { return readTokens(again).refresh == chain }).WithTimeout(10 * time.Second).Should(BeFalse())
		Expect(sbx.RefreshTokenState(chain)).To(Equal(sandbox.TokenSpent))
		adopted := readTokens(again).refresh
		annotate(again, v1.AnnotationRefresh, "after-adoption")
		Eventually(func() bool { return readTokens(again).refresh == adopted }).WithTimeout(10 * time.Second).Should(BeFalse())
		Expect(get(again).Status.Phase).To(Equal(v1.PhaseConnected))

		// Back to Delete: the Secret is owned again, and goes with its connection.
		Eventually(func() error {
			c := get(again)
			c.Spec.SecretsDeletionPolicy = v1.DeletionPolicyDelete
			return k8sClient.Update(ctx, c)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			s := privateSecret(t.ns, "mia")
			g.Expect(s.OwnerReferences).To(ConsistOf(And(HaveField("UID", got.UID), HaveField("Controller", ptr.To(true)))))
			g.Expect(s.Annotations).NotTo(HaveKey(tokenstore.AnnotationRetainedFor))
			g.Expect(s.Annotations).NotTo(HaveKey(tokenstore.AnnotationRetainedUser))
		}).Should(Succeed())
	})

	It("retains the Secret of a live connection switched from Delete to Retain, chain and all", func() {
		c := t.connection("nina", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		got := authorize(c)
		Expect(privateSecret(t.ns, "nina").OwnerReferences).To(ConsistOf(HaveField("UID", got.UID)))
		chain := readTokens(c).refresh
		Eventually(func() error {
			b := get(c)
			b.Spec.SecretsDeletionPolicy = v1.DeletionPolicyRetain
			return k8sClient.Update(ctx, b)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			s := privateSecret(t.ns, "nina")
			g.Expect(s.OwnerReferences).To(BeEmpty())
			g.Expect(s.Annotations).To(HaveKeyWithValue(tokenstore.AnnotationRetainedFor, string(got.UID)))
		}).Should(Succeed())
		Expect(readTokens(c).refresh == chain).To(BeTrue(), "the policy change does not touch the chain")
		annotate(c, v1.AnnotationRefresh, "while-retained")
		Eventually(func() bool { return readTokens(c).refresh == chain }).WithTimeout(10 * time.Second).Should(BeFalse())
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
	})

	It("continues an adopted chain under the finX user it was recorded with, and only a user_id the connection could have", func() {
		c := t.connection("leo", retain)
		first := authorize(c)
		current := first.Status.FinXUserID
		Expect(current).To(HaveSuffix("/" + c.Spec.UserID))
		Eventually(func() map[string]string { return privateSecret(t.ns, "leo").Annotations }).
			Should(HaveKeyWithValue(tokenstore.AnnotationRetainedFinXUser, sha256Hex(current)))

		// recordAs rewrites the recorded finX user, deletes the connection and applies it again.
		recordAs := func(finxUserID string) *v1.BankConnection {
			Eventually(func() error {
				s := privateSecret(t.ns, "leo")
				s.Annotations[tokenstore.AnnotationRetainedFinXUser] = sha256Hex(finxUserID)
				return k8sClient.Update(ctx, s)
			}).Should(Succeed())
			deleteAndWait(c)
			c = t.connection("leo", retain)
			return waitForPhase(c, v1.PhaseConnected, 20*time.Second)
		}
		// A chain that started before status.finxUserID existed (FinXClient: the bare userID) keeps
		// that finX user.
		Expect(recordAs(c.Spec.UserID).Status.FinXUserID).To(Equal(c.Spec.UserID))
		// A value the connection could not have itself (another namespace's user, say) is ignored.
		Expect(recordAs("another-namespace-uid/" + c.Spec.UserID).Status.FinXUserID).To(Equal(current))
	})

	It("sees callbacks and a vanished token on a retained Secret, which has no owner reference to watch by", func() {
		c := t.connection("noah", retain)
		authorize(c) // the callback hand-off reached the reconciler through the Secret watch
		Eventually(func() []metav1.OwnerReference { return privateSecret(t.ns, "noah").OwnerReferences }).Should(BeEmpty())
		Expect(k8sClient.Delete(ctx, privateSecret(t.ns, "noah"))).To(Succeed())
		Eventually(func() string { return condition(c, v1.ConditionStalled).Reason }).WithTimeout(10 * time.Second).
			Should(Equal(v1.ReasonRefreshTokenMissing))
	})
})

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
