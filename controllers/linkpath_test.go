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
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// What the manager asks of the API server for a link, a refresh and a credentials check (issue 10),
// and that a cache lagging the reconciler's own writes makes it do nothing twice.
var _ = Describe("API requests", func() {
	var t tenant
	BeforeEach(func() { t = newTenant(nil) })

	// record lists the manager's requests in the tenant's namespace (its own: the suite's client does
	// not go through apiFaults) until the returned function is called.
	record := func() func() []string {
		rec, stop := apiFaults.Record(apifault.Rule{PathContains: "/namespaces/" + t.ns + "/"})
		DeferCleanup(stop)
		return func() []string {
			var out []string
			for _, r := range rec.Requests() {
				if r.Watch || strings.Contains(r.Path, "/events") || strings.Contains(r.Path, "warm") {
					// The cache's watches; Events, which are counted apart; and the connection that
					// warmed the client up, which its Ready may still reach.
					continue
				}
				req := fmt.Sprintf("%s %s %d", r.Method, r.Path[strings.Index(r.Path, "/namespaces/"+t.ns)+len("/namespaces/"+t.ns):], r.Status)
				if r.ResourceVersion == "0" {
					req += " from the watch cache"
				}
				out = append(out, req)
			}
			return out
		}
	}
	// settled waits until no new request arrives for a moment, and returns them all.
	settled := func(requests func() []string) []string {
		var last []string
		Eventually(func() int { n := len(last); last = requests(); return len(last) - n }).
			WithTimeout(10 * time.Second).WithPolling(time.Second).Should(BeZero())
		return last
	}
	// statusWriteResponses is what the API server sent back for each status write recorded since
	// the spec began.
	var statusWrites *apifault.Recording
	BeforeEach(func() {
		var stop func()
		statusWrites, stop = apiFaults.Record(apifault.Rule{Method: http.MethodPatch, PathContains: "/namespaces/" + t.ns + "/bankconnections/"})
		DeferCleanup(stop)
	})
	statusWriteResponses := func() []string {
		var out []string
		for _, r := range statusWrites.Requests() {
			if strings.HasSuffix(r.Path, "/status") {
				out = append(out, r.ResponseType)
			}
		}
		return out
	}
	ongoingAccessCalls := func() int { return sbx.Stats().Endpoints[sandbox.EndpointOngoingAccess].Calls }

	It("links with one read and one write, leaves the private Secret to the callback, and refreshes with two reads and four writes", func() {
		waitForLink(t.connection("warm"), "") // the client's credentials are read for all its connections
		requests := record()
		c := t.connection("lena")
		waitForLink(c, "")
		Expect(settled(requests)).To(ConsistOf(
			"GET /secrets/lena-finx-refresh 404 from the watch cache", // a Secret in the way, looked for without reading etcd
			"PATCH /bankconnections/lena/status 200",
		), "the connection comes from the cache and the credentials from the client's check; nothing is created")
		// The API server encodes a custom resource as JSON only; in protobuf it sends nothing but an
		// object's metadata (a PartialObjectMetadata).
		Expect(statusWriteResponses()).To(HaveEach(Equal("application/vnd.kubernetes.protobuf")),
			"a status write brings back the new resourceVersion, not the whole connection to decode")
		err := k8sClient.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "lena-finx-refresh"}, &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no private Secret before the callback: %v", err)

		By("the callback creating the private Secret, owned by the connection")
		got := authorize(c)
		s := readTokens(c).private
		Expect(s.Type).To(Equal(tokenstore.TypeRefreshToken))
		Expect(s.Labels).To(Equal(map[string]string{
			tokenstore.LabelManagedBy: tokenstore.ManagedByValue, tokenstore.LabelConnection: "lena", tokenstore.LabelRole: tokenstore.RoleRefreshToken,
		}))
		Expect(s.OwnerReferences).To(ConsistOf(And(HaveField("UID", got.UID), HaveField("Controller", ptr.To(true)),
			HaveField("BlockOwnerDeletion", Or(BeNil(), Equal(ptr.To(false)))))))
		Expect(s.Annotations).NotTo(HaveKey(tokenstore.AnnotationRetainedFor))

		By("a refresh by annotation")
		rotations, calls := got.Status.RefreshToken.Rotations, tokenCalls()
		requests = record()
		annotate(c, v1.AnnotationRefresh, "count-me")
		Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).WithTimeout(10 * time.Second).Should(Equal(rotations + 1))
		Expect(settled(requests)).To(ConsistOf(
			"GET /secrets/lena-finx-refresh 200", // the token, read from etcd right before it is spent
			"GET /secrets/lena-finx-access 200",
			"PUT /secrets/lena-finx-refresh 200", // the journal
			"PUT /secrets/lena-finx-refresh 200", // the new token
			"PUT /secrets/lena-finx-access 200",
			"PATCH /bankconnections/lena/status 200",
		))
		Expect(tokenCalls()).To(Equal(calls + 1))
		Expect(statusWriteResponses()).To(HaveEach(Equal("application/vnd.kubernetes.protobuf")), "the links, the callback's tokens and the refresh")
	})

	It("writes a first link to status alone: no Event, and only the conditions that say something before the user acts", func() {
		c := t.connection("first")
		waitForLink(c, "")
		var types []string
		for _, cd := range get(c).Status.Conditions {
			types = append(types, cd.Type+"="+string(cd.Status)+"/"+cd.Reason)
		}
		Expect(types).To(ConsistOf(
			v1.ConditionLinkIssued+"=True/"+v1.ReasonLinkIssued,
			v1.ConditionReady+"=False/"+v1.ReasonAwaitingUser,
			v1.ConditionReconciling+"=True/"+v1.ReasonAwaitingUser,
		), "Authorized, TokensValid, ReauthorizationRequired and Synced say nothing Ready's reason does not, until a first authorisation")
		// A link of another lifetime expires at another time, whenever the two were issued.
		other := t.connection("second", func(o *v1.BankConnection) { o.Spec.LinkLifetime = &metav1.Duration{Duration: 2 * time.Hour} })
		Expect(waitForLink(other, "").ExpiresAt.Time).NotTo(BeTemporally("~", waitForLink(c, "").ExpiresAt.Time, time.Minute))
		for _, typ := range []string{v1.ConditionLinkIssued, v1.ConditionReady, v1.ConditionReconciling} {
			Expect(condition(other, typ).Message).To(Equal(condition(c, typ).Message),
				"%s's message holds nothing of one connection (status.link has the times): the cache keeps one copy for all", typ)
		}

		By("a link that replaces another one, which the user may have been sent already, recorded as an Event")
		annotate(c, v1.AnnotationRelink, "again")
		Eventually(func() []eventsv1.Event { return eventsFor(c, corev1.EventTypeNormal, v1.ReasonLinkIssued) }).
			WithTimeout(10 * time.Second).Should(HaveLen(1))
		Consistently(func() []eventsv1.Event { return eventsFor(c, corev1.EventTypeNormal, v1.ReasonLinkIssued) }).
			WithTimeout(2*time.Second).Should(HaveLen(1), "the first link had an Event of its own")
		Expect(eventsFor(c, corev1.EventTypeNormal, v1.ReasonLinkIssued)[0].Note).To(ContainSubstring(v1.AnnotationRelink))

		By("the conditions of a first authorisation, once there is one")
		authorize(c)
		got := get(c)
		for _, typ := range []string{v1.ConditionAuthorized, v1.ConditionTokensValid} {
			Expect(meta.IsStatusConditionTrue(got.Status.Conditions, typ)).To(BeTrue(), typ)
		}
		Expect(meta.IsStatusConditionFalse(got.Status.Conditions, v1.ConditionReauthorizationRequired)).To(BeTrue())
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1.ConditionSynced)).NotTo(BeNil())
	})

	It("reads a client's credentials once per check, not once per connection", func() {
		Eventually(func() bool {
			fc := &v1.FinXClient{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: t.client}, fc)).To(Succeed())
			return meta.IsStatusConditionTrue(fc.Status.Conditions, v1.ConditionReady)
		}).Should(BeTrue())
		rec, stop := apiFaults.Record(apifault.Rule{Method: http.MethodGet, PathContains: "/namespaces/" + t.ns + "/secrets/finx-credentials"})
		DeferCleanup(stop)
		var conns []*v1.BankConnection
		for i := range 4 {
			conns = append(conns, t.connection(fmt.Sprintf("cred-%d", i)))
		}
		for _, c := range conns {
			waitForLink(c, "")
		}
		Expect(rec.Requests()).To(BeEmpty(), "the client's check read them for every connection")

		By("a change found by the first reconcile after the check is due, and by that one only")
		Expect(k8sClient.Delete(ctx, credentialsSecret(t.ns, "finx-credentials"))).To(Succeed())
		clk.Step(3 * time.Minute)
		for i, c := range conns {
			annotate(c, "test/nudge", fmt.Sprint(i))
		}
		for _, c := range conns {
			Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonClientNotReady))
		}
		Expect(rec.Requests()).To(HaveLen(1))
	})

	It("reads credentials finX refused again at the next call, not at the next check", func() {
		setSecret := func(secret string) {
			Eventually(func() error {
				s := &corev1.Secret{}
				Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "finx-credentials"}, s)).To(Succeed())
				s.Data["client_secret"] = []byte(secret)
				return k8sClient.Update(ctx, s)
			}).Should(Succeed())
		}
		setSecret("not-the-secret")
		clk.Step(3 * time.Minute) // the reading of the good secret is due for a check
		c := t.connection("refused")
		Eventually(func() string { return condition(c, v1.ConditionLinkIssued).Reason }).Should(Equal(v1.ReasonClientAuthFailed))
		// Put right without a check coming due: the link's retry reads the Secret again.
		setSecret(sandbox.DefaultClientSecret)
		waitForLink(c, "")
	})

	Context("with a cache that lags the API server", func() {
		// The manager's BankConnection events arrive late; every other watch is on time, so a client
		// change reconciles a connection whose own last status write the cache does not show yet.
		const lag = 3 * time.Second
		delayEvents := func() {
			DeferCleanup(apiFaults.Add(apifault.Rule{PathContains: "/bankconnections", Action: apifault.DelayEvents, Latency: lag}))
		}
		// touchClient changes the client's spec: every connection using it is reconciled at once.
		touchClient := func() {
			Eventually(func() error {
				fc := &v1.FinXClient{}
				Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: t.client}, fc)).To(Succeed())
				d := 10 * time.Second
				if fc.Spec.Timeout != nil {
					d = fc.Spec.Timeout.Duration + time.Second
				}
				fc.Spec.Timeout = ptrDuration(d)
				return k8sClient.Update(ctx, fc)
			}).Should(Succeed())
		}

		It("issues no second link before the cache shows the first", func() {
			delayEvents()
			before := ongoingAccessCalls()
			c := t.connection("lagging-link")
			link := waitForLink(c, "")
			touchClient()
			Consistently(ongoingAccessCalls).WithTimeout(lag + 2*time.Second).Should(Equal(before + 1))
			Expect(get(c).Status.Link.URL).To(Equal(link.URL))
		})

		It("spends no token again before the cache shows the last refresh", func() {
			// No access token: the chain's own schedule is far off, so only the annotation refreshes.
			c := t.connection("lagging-refresh", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
			got := authorize(c) // on time: the callback finds its connection through the cache
			delayEvents()
			rotations, calls := got.Status.RefreshToken.Rotations, tokenCalls()
			annotate(c, v1.AnnotationRefresh, "once")
			Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).WithTimeout(3 * lag).Should(Equal(rotations + 1))
			touchClient()
			Consistently(tokenCalls).WithTimeout(lag + 2*time.Second).Should(Equal(calls + 1))
			Expect(get(c).Status.RefreshToken.Rotations).To(Equal(rotations + 1))
		})
	})

	It("writes a status patch that met a conflict again when the status it started from is unchanged", func() {
		before := ongoingAccessCalls()
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPatch, PathContains: "/namespaces/" + t.ns + "/bankconnections/clash/status",
			Action: apifault.Refuse, Status: http.StatusConflict, Count: 1,
		}))
		c := t.connection("clash")
		waitForLink(c, "")
		Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">=", 1), "the conflict did hit the status write")
		Consistently(ongoingAccessCalls).WithTimeout(time.Second).Should(Equal(before+1), "the link was kept, not issued again")
		Expect(get(c).Status.ObservedGeneration).To(Equal(get(c).Generation))
	})
})
