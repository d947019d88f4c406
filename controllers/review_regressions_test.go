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
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// Each spec here reproduces a way the operator once spent tokens needlessly, lost work, or touched
// another connection's Secret.
var _ = Describe("Token safety regressions", func() {
	var t tenant
	BeforeEach(func() {
		t = newTenant(nil)
		DeferCleanup(sbx.ClearFaults)
	})
	disabled := func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled }

	It("leaves a foreign Secret at the access-token name alone and does not refresh in a loop", func() {
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "rosa-finx-access"}, StringData: map[string]string{"foo": "bar"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		c := t.connection("rosa")
		authorize(c)
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSecretConflict))
		before := tokenCalls()
		time.Sleep(5 * time.Second)
		// The schedule (two thirds of a 4s access token) allows about two refreshes here.
		Expect(tokenCalls() - before).To(BeNumerically("<=", 3))
		got := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, clientKey(foreign), got)).To(Succeed())
		Expect(got.Data).To(Equal(map[string][]byte{"foo": []byte("bar")}))
	})

	It("backs off while finX cannot be reached, keeps the journal, and finds the chain intact afterwards", func() {
		t := newTenantVia(frontURL, nil)
		c := t.connection("sam", disabled)
		authorize(c)
		before := readTokens(c).refresh
		front.use(unreachable())
		annotate(c, v1.AnnotationRefresh, "unreachable")
		Eventually(func() int32 { return get(c).Status.FailedAttempts }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 2))
		time.Sleep(3 * time.Second)
		// 300ms base doubling to a 2s cap: a handful of attempts, not dozens.
		Expect(get(c).Status.FailedAttempts).To(BeNumerically("<=", 6))
		Expect(get(c).Status.LastError.Operation).To(Equal(v1.OperationRefresh))
		Expect(readTokens(c).private.Annotations).To(HaveKey("banking.finx-operator.io/in-flight"))

		front.pass()
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(15 * time.Second).ShouldNot(Equal(before))
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected), "finX never saw the calls, so nothing was lost")
	})

	It("recovers a rejected chain when asked with the refresh annotation", func() {
		c := t.connection("tina", disabled)
		authorize(c)
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Status: http.StatusBadRequest, Count: 1})
		annotate(c, v1.AnnotationRefresh, "rejected")
		waitForPhase(c, v1.PhaseReauthorizationRequired, 20*time.Second)
		annotate(c, v1.AnnotationRefresh, "try-again")
		waitForPhase(c, v1.PhaseConnected, 20*time.Second)
		Expect(condition(c, v1.ConditionReauthorizationRequired).Status).To(Equal(metav1.ConditionFalse))
		Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
	})

	It("keeps refreshing while a requested relink keeps failing", func() {
		c := t.connection("ulla")
		authorize(c)
		sbx.InjectFault(sandbox.Fault{Endpoint: "ongoing_access", Status: http.StatusBadRequest})
		annotate(c, v1.AnnotationRelink, "r1")
		before := tokenCalls()
		time.Sleep(2 * accessTTL)
		Expect(tokenCalls()-before).To(BeNumerically(">=", 2), "refreshes go on")
		got := get(c)
		Expect(got.Status.AccessToken.ExpiresAt.Time).To(BeTemporally(">", time.Now()))
		Expect(got.Status.LastError.Operation).To(Equal(v1.OperationIssueLink))
		Expect(got.Status.LastHandledRelinkRequest).To(BeEmpty(), "the relink is still owed")
	})

	It("exchanges a code that arrives while a refresh is in flight", func() {
		c := t.connection("vera", disabled)
		authorize(c)
		authorizedAt := get(c).Status.AuthorizedAt
		annotate(c, v1.AnnotationRelink, "r1")
		link := waitForLink(c, "")
		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		sbx.InjectFault(sandbox.Fault{Endpoint: "token", GrantType: "refresh_token", Latency: 2 * time.Second, Count: 1})
		annotate(c, v1.AnnotationRefresh, "during")
		time.Sleep(700 * time.Millisecond)
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.Link).To(BeNil())
			g.Expect(got.Status.AuthorizedAt.Time).To(BeTemporally(">", authorizedAt.Time))
		}).WithTimeout(15 * time.Second).Should(Succeed())
		Expect(sbx.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
	})

	It("does not adopt the private Secret of a deleted connection of the same name", func() {
		c := t.connection("wanda", disabled)
		authorize(c)
		old := readTokens(c).refresh
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &v1.BankConnection{}) }).ShouldNot(Succeed())
		// No garbage collector runs here, so the old Secret stays, still owned by the old object.
		c2 := t.connection("wanda", func(b *v1.BankConnection) { b.Spec.UserID = "someone-else"; disabled(b) })
		Eventually(func() string { return condition(c2, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSecretConflict))
		Consistently(func() v1.Phase { return get(c2).Status.Phase }).WithTimeout(2 * time.Second).ShouldNot(Equal(v1.PhaseConnected))
		Expect(readTokens(c2).refresh).To(Equal(old), "the old token was neither used nor changed")
		Expect(sbx.RefreshTokenState(old)).To(Equal(sandbox.TokenActive))
	})

	It("waits out a spend another process may still be running instead of spending the token again", func() {
		c := t.connection("zoe", disabled)
		authorize(c)
		before := readTokens(c).refresh
		// Another replica (a paused former leader, say) started a refresh just now.
		Eventually(func() error {
			s := readTokens(c).private
			s.Annotations = map[string]string{"banking.finx-operator.io/in-flight": "refresh@" + time.Now().UTC().Format(time.RFC3339Nano) + "@other-replica~1234"}
			return k8sClient.Update(ctx, s)
		}).Should(Succeed())
		calls := tokenCalls()
		annotate(c, v1.AnnotationRefresh, "while-other-spends")
		// The suite's spend bound is 4s (plus a 2s margin) from when the manager first saw that
		// journal: nothing is spent before that.
		Consistently(tokenCalls).WithTimeout(time.Second).Should(Equal(calls))
		Expect(sbx.RefreshTokenState(before)).To(Equal(sandbox.TokenActive))
		// Past the bound, the other spend must have ended; finX still accepts the token (it never
		// got that call), so the chain simply goes on.
		clk.Step(7 * time.Second)
		annotate(c, "test/nudge", "after-fence")
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(10 * time.Second).ShouldNot(Equal(before))
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
	})

	It("refuses to use another connection's private Secret", func() {
		c := t.connection("xena", disabled)
		authorize(c)
		theirs := readTokens(c).refresh
		c2 := t.connection("xena2", func(b *v1.BankConnection) {
			b.Spec.UserID = "mallory"
			b.Spec.RefreshTokenSecretName = "xena-finx-refresh"
		})
		Eventually(func() string { return condition(c2, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSecretConflict))
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "xena2-finx-access"}, &corev1.Secret{})
		}).WithTimeout(2 * time.Second).ShouldNot(Succeed())
		Expect(readTokens(c).refresh).To(Equal(theirs))
	})
})

// unreachable drops every connection before answering, as a host that cannot be reached would.
func unreachable() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
}

var _ = Describe("A token response finX sent but the operator cannot fully read", func() {
	It("stores the rotated refresh token it can read instead of losing the chain", func() {
		// A proxy in front of the sandbox spoils the next refresh response (an unknown token_type)
		// after the sandbox has rotated: the chain is only alive if the operator kept the new token.
		var spoil atomic.Int32
		target, err := url.Parse(sandboxURL)
		Expect(err).NotTo(HaveOccurred())
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ErrorLog = log.New(GinkgoWriter, "spoiling proxy: ", log.Lmicroseconds)
		proxy.ModifyResponse = func(resp *http.Response) error {
			if resp.Request.URL.Path != "/auth/token" || resp.StatusCode != http.StatusOK || spoil.Load() == 0 {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			// Whatever happens below, the answer goes on whole: a body read here and not put back
			// reaches the operator cut short (its Content-Length promises more).
			resp.Body = io.NopCloser(bytes.NewReader(body))
			var m map[string]any
			if json.Unmarshal(body, &m) != nil {
				return nil
			}
			if _, refresh := m["refresh_token"]; !refresh || !spoil.CompareAndSwap(1, 0) {
				return nil
			}
			m["token_type"] = "mac"
			body, _ = json.Marshal(m)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		}
		front.use(proxy)

		t := newTenantVia(frontURL, nil)
		c := t.connection("yara", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		authorize(c)
		spent := readTokens(c).refresh
		spoil.Store(1)
		annotate(c, v1.AnnotationRefresh, "spoiled")
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(10 * time.Second).ShouldNot(Equal(spent))
		Expect(sbx.RefreshTokenState(spent)).To(Equal(sandbox.TokenSpent))
		// The salvage schedules its own refresh about a second later (for a usable access token), and
		// that one clears status.lastError: a stalled runner can reach these checks after it, or
		// while it is at finX. So the checks are of what lasts: the Secret holds a live token, and
		// the bad answer was reported in a Warning event.
		Eventually(func() sandbox.TokenState { return sbx.RefreshTokenState(readTokens(c).refresh) }).
			WithTimeout(10*time.Second).Should(Equal(sandbox.TokenActive), "the salvaged chain is the live one")
		Eventually(func() []eventsv1.Event { return warningEvents(c, v1.ReasonFinXBadResponse) }).
			WithTimeout(10 * time.Second).ShouldNot(BeEmpty())
		Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
		// The next refresh goes through normally.
		salvaged := readTokens(c).refresh
		annotate(c, v1.AnnotationRefresh, "after")
		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(10 * time.Second).ShouldNot(Equal(salvaged))
		Eventually(func() *v1.LastError { return get(c).Status.LastError }).WithTimeout(10 * time.Second).Should(BeNil())
	})
})
