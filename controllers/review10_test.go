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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// Attacks on the issue-10 link path (adversarial review): each spec failed before its fix.
var _ = Describe("Issue-10 link path under attack", func() {
	var t tenant
	BeforeEach(func() { t = newTenant(nil) })

	It("refills an access-token Secret deleted while its refresh is at finX, without spending again", func() {
		c := t.connection("acc-gone")
		got := authorize(c)
		rotations, calls := got.Status.RefreshToken.Rotations, tokenCalls()
		privateRV := readTokens(c).private.ResourceVersion
		// Every status write of this connection that reports a failed Secret write is counted.
		failedWrites := func() int { return apiFaults.Counts()["observed"] }
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPatch, PathContains: "/namespaces/" + t.ns + "/bankconnections/acc-gone/status",
			BodyHas: []string{v1.ReasonSecretWriteFailed}, Action: apifault.Observe,
		}))
		failedBefore := failedWrites()
		// finX holds the refresh until the Secret is gone, however slow this machine is: with a 2 s
		// latency instead, a stalled CI runner once let the refresh finish before the deletion.
		release := make(chan struct{})
		DeferCleanup(func() {
			select {
			case <-release:
			default:
				close(release)
			}
		})
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Hold: release, Count: 1})
		annotate(c, v1.AnnotationRefresh, "while-deleting")
		// The journal is the refresh's first write: from then on it is at finX, holding its read of
		// the access-token Secret.
		Eventually(func() string { return readTokens(c).private.ResourceVersion }).ShouldNot(Equal(privateRV))
		access := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: accessName(got)}, access)).To(Succeed())
		Expect(k8sClient.Delete(ctx, access)).To(Succeed())
		Expect(tokenCalls()).To(Equal(calls), "the refresh is still at finX")
		close(release)

		// The status that counts the rotation is written after the access-token Secret: no status
		// may report that write as failed, and the Secret is back with a token. (The suite's access
		// tokens live 4 s, so a slow run may see the next scheduled refresh follow at once: the
		// count of finX calls is not pinned, only that none was refused.)
		Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).
			WithTimeout(10 * time.Second).Should(BeNumerically(">", rotations))
		Eventually(func() string { return readTokens(c).access }).ShouldNot(BeEmpty())
		Expect(get(c).Status.LastError).To(BeNil(), "the refresh's access token was written")
		Expect(failedWrites()).To(Equal(failedBefore), "no status reported the access-token write as failed")
		// This connection's own chain, not the suite-wide counters other tenants also move: a token
		// spent twice would have ended it (RotationLost) and left no live token.
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
		Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
	})

	It("does not refresh again for one annotation when its status write was applied but answered with an error and the cache lags", func() {
		// No access token: the chain's own schedule is far off, so only the annotation refreshes.
		c := t.connection("lost-answer", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		got := authorize(c)
		const lag = 3 * time.Second
		DeferCleanup(apiFaults.Add(apifault.Rule{PathContains: "/bankconnections", Action: apifault.DelayEvents, Latency: lag}))
		// The status write that records the handled request lands, but the manager sees a 500.
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPatch, PathContains: "/namespaces/" + t.ns + "/bankconnections/lost-answer/status",
			BodyHas: []string{"once-only"}, Action: apifault.ApplyThenFail, Status: http.StatusInternalServerError, Count: 1,
		}))
		rotations, calls := got.Status.RefreshToken.Rotations, tokenCalls()
		annotate(c, v1.AnnotationRefresh, "once-only")
		Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).WithTimeout(3 * lag).Should(Equal(rotations + 1))
		Expect(apiFaults.Counts()).To(HaveKeyWithValue("write applied, answer lost", BeNumerically(">=", 1)), "the fault did hit the status write")
		Consistently(tokenCalls).WithTimeout(lag+2*time.Second).Should(Equal(calls+1), "one annotation, one finX call")
		Expect(get(c).Status.RefreshToken.Rotations).To(Equal(rotations + 1))
		Expect(get(c).Status.LastHandledRefreshRequest).To(Equal("once-only"))
	})

	It("keeps a callback for the current link that the leader's lagging cache does not show yet", func() {
		c := t.connection("failover")
		first := waitForLink(c, "")
		// The manager's cache shows its own first link within milliseconds; only what follows lags.
		time.Sleep(2 * time.Second)
		const lag = 4 * time.Second
		DeferCleanup(apiFaults.Add(apifault.Rule{PathContains: "/bankconnections", Action: apifault.DelayEvents, Latency: lag}))
		// A previous leader replaced the link just before it stopped; this manager's cache still
		// shows the first one. (The suite's client stands in for that process.)
		state := "state-of-the-previous-leader"
		got := get(c)
		patched := got.DeepCopy()
		patched.Status.Link = &v1.LinkStatus{URL: first.URL + "&second", IssuedAt: metav1.NewTime(clk.Now()),
			ExpiresAt: &metav1.Time{Time: clk.Now().Add(time.Hour)}, StateHash: stateHash(state)}
		Expect(k8sClient.Status().Patch(ctx, patched, client.MergeFrom(got))).To(Succeed())
		// Another replica, whose cache is on time, accepts the user's callback for it.
		calls := tokenCalls()
		cb := tokenstore.Callback{Result: tokenstore.CallbackSuccess, Code: "code-from-the-widget", StateHash: stateHash(state), ReceivedAt: clk.Now()}
		_, err := tokenstore.CreateWithCallback(ctx, k8sClient, patched,
			types.NamespacedName{Namespace: t.ns, Name: refreshName(c)}, false, tokenstore.Retention{}, cb)
		Expect(err).NotTo(HaveOccurred())

		Eventually(tokenCalls).WithTimeout(3*lag).Should(Equal(calls+1), "the code the user brought back goes to finX")
	})
})
