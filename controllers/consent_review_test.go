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
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// Review of the consent change: the two link slots, re-consent results that meet failed writes,
// and what finX's free-text account data can do to status.

// reconsentLink makes finX report a sync only the user can fix and waits for the re-consent link
// that follows (the clock moves 2 s so the failure is newer than the consent).
func reconsentLink(c *v1.BankConnection, s *sandbox.Server, req string) *v1.LinkStatus {
	clk.Step(2 * time.Second)
	Expect(s.FailSyncs(get(c).Status.FinXUserID, sandbox.SyncFailureInvalidCredentials)).To(BeNumerically(">", 0))
	annotate(c, v1.AnnotationRefresh, req)
	var l *v1.LinkStatus
	Eventually(func() *v1.LinkStatus { l = get(c).Status.ConsentLink; return l }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
	return l
}

var _ = Describe("Consent review", func() {
	It("keeps a codeless renewal whose status write failed", func() {
		t := tenantWithConsent(noCodeURL, 30*24*time.Hour)
		c := t.connection("lost-renewal")
		authorize(c)
		link := reconsentLink(c, sbxNoCode, "lost-renewal")
		chain := readTokens(c).refresh

		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPatch, PathContains: "/bankconnections/" + c.Name + "/status",
			BodyHas: []string{`"Renewed"`}, Action: apifault.Refuse, Status: http.StatusInternalServerError, Count: 1,
		}))
		before := apiFaults.Counts()["refused"]
		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		Expect(redirect.Query().Has("code")).To(BeFalse())
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))

		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewed))
			g.Expect(got.Status.ConsentLink).To(BeNil(), "the used re-consent link is gone")
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">", before), "the fault did hit the status write")
		Expect(readTokens(c).refresh).To(Equal(chain))
	})

	It("does not let one link slot's callback overwrite the other's pending result", func() {
		t := tenantWithConsent(noCodeURL, 30*24*time.Hour)
		c := t.connection("two-slots")
		authorize(c)
		reconsentLink(c, sbxNoCode, "two-slots")
		annotate(c, v1.AnnotationRelink, "both-slots")
		Eventually(func() *v1.LinkStatus { return get(c).Status.Link }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
		got := get(c)
		Expect(got.Status.ConsentLink).NotTo(BeNil(), "both links are out")
		chain := readTokens(c).refresh

		// Suspended, the operator leaves hand-offs in the Secret: both results arrive before it acts.
		setSuspend(c, true)
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSuspended))
		Expect(visit(http.MethodGet, completeWidget(got.Status.Link.URL, sandbox.DriveOptions{})).status).To(Equal(http.StatusOK))
		second := visit(http.MethodGet, completeWidget(got.Status.ConsentLink.URL, sandbox.DriveOptions{}))
		Expect(second.status).To(Equal(http.StatusServiceUnavailable), "the re-consent result waits: the authorisation's code is pending")
		setSuspend(c, false)

		Eventually(func(g Gomega) {
			g.Expect(readTokens(c).refresh).NotTo(Equal(chain), "the authorisation's code was exchanged")
			g.Expect(get(c).Status.Link).To(BeNil())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(sbxNoCode.RefreshTokenState(readTokens(c).refresh)).To(Equal(sandbox.TokenActive))
	})

	It("records a re-consent whose exchanged tokens were committed late as a renewal", func() {
		t := tenantWithConsent(sandboxConsentURL, 2*time.Hour)
		c := t.connection("late-commit")
		authorize(c)
		link := reconsentLink(c, sbxConsent, "late-commit")
		annotate(c, v1.AnnotationRelink, "late-commit")
		Eventually(func() *v1.LinkStatus { return get(c).Status.Link }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
		chain := readTokens(c)

		// The re-consent's code is handed over while the connection is suspended; then every
		// attempt of the exchange's commit (the first write of the Secret without a journal) is
		// refused: the tokens stay held and land in a later reconcile.
		setSuspend(c, true)
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSuspended))
		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		Expect(redirect.Query().Get("code")).NotTo(BeEmpty())
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPut, PathContains: "/secrets/" + refreshName(c),
			BodyLacks: []string{"exchange@", "refresh@"},
			Action:    apifault.Refuse, Status: http.StatusInternalServerError, Count: 4,
		}))
		before := apiFaults.Counts()["refused"]
		setSuspend(c, false)

		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(20 * time.Second).ShouldNot(Equal(chain.refresh))
		Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">=", before+4), "the fault did hit every commit attempt")
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewed))
			g.Expect(got.Status.ConsentLink).To(BeNil())
			g.Expect(got.Status.Link).NotTo(BeNil(), "the pending authorisation link is the user's, not the re-consent's")
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

	It("records a re-consent whose status write after the exchange failed", func() {
		t := tenantWithConsent(sandboxConsentURL, 2*time.Hour)
		c := t.connection("lost-reconsent")
		authorize(c)
		link := reconsentLink(c, sbxConsent, "lost-reconsent")
		given := get(c).Status.Consent.GivenAt
		chain := readTokens(c).refresh

		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodPatch, PathContains: "/bankconnections/" + c.Name + "/status",
			BodyHas: []string{`"Renewed"`}, Action: apifault.Refuse, Status: http.StatusInternalServerError, Count: 1,
		}))
		before := apiFaults.Counts()["refused"]
		clk.Step(5 * time.Second) // the user takes a moment in the widget
		redirect := completeWidget(link.URL, sandbox.DriveOptions{})
		Expect(redirect.Query().Get("code")).NotTo(BeEmpty())
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))

		Eventually(func() string { return readTokens(c).refresh }).WithTimeout(20 * time.Second).ShouldNot(Equal(chain))
		Eventually(func(g Gomega) {
			got := get(c)
			g.Expect(got.Status.Consent.LastRenewal).NotTo(BeNil())
			g.Expect(got.Status.Consent.LastRenewal.Result).To(Equal(v1.ConsentRenewed))
			g.Expect(got.Status.Consent.GivenAt.Time).To(BeTemporally(">", given.Time))
			g.Expect(got.Status.ConsentLink).To(BeNil(), "the used re-consent link is gone")
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(apiFaults.Counts()["refused"]).To(BeNumerically(">", before), "the fault did hit the status write")
	})

	Context("with account data finX may send", func() {
		// rewrite puts a handler in front of the sandbox that passes everything through and lets
		// edit change the decoded /rest/accounts answer.
		rewrite := func(edit func(accts []any) []any) {
			target, err := url.Parse(sandboxURL)
			Expect(err).NotTo(HaveOccurred())
			proxy := httputil.NewSingleHostReverseProxy(target)
			proxy.ModifyResponse = func(resp *http.Response) error {
				if resp.Request.URL.Path != "/rest/accounts" || resp.StatusCode != http.StatusOK {
					return nil
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				var m map[string]any
				if json.Unmarshal(body, &m) == nil {
					if accts, ok := m["accounts"].([]any); ok {
						m["accounts"] = edit(accts)
						body, _ = json.Marshal(m)
					}
				}
				resp.Body = io.NopCloser(bytes.NewReader(body))
				resp.ContentLength = int64(len(body))
				resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
				return nil
			}
			front.use(proxy)
		}
		failing := func(a map[string]any, msg string) {
			now := clk.Now().UTC()
			a["status"] = map[string]any{
				"synced_at":    now.Add(time.Minute).Format(time.RFC3339),
				"succeeded_at": now.Add(-time.Hour).Format(time.RFC3339),
				"message":      msg,
			}
		}

		It("keeps full IBANs in finX's sync messages out of status and events", func() {
			var iban string
			rewrite(func(accts []any) []any {
				a := accts[0].(map[string]any)
				iban, _ = a["iban"].(string)
				// A bank's message quoting the account, grouped as people write IBANs.
				var grouped []string
				for i := 0; i < len(iban); i += 4 {
					grouped = append(grouped, iban[i:min(i+4, len(iban))])
				}
				failing(a, "Login credentials invalid for account "+strings.Join(grouped, " ")+" ("+iban+")")
				return accts
			})
			t := newTenantVia(frontURL, nil)
			c := t.connection("iban-in-message")
			authorize(c)
			Eventually(func() string { return condOf(get(c), v1.ConditionSynced) }).WithTimeout(20 * time.Second).
				Should(Equal("False/" + v1.ReasonSyncNeedsUser))
			Expect(iban).To(HaveLen(22))
			raw, err := json.Marshal(get(c).Status)
			Expect(err).NotTo(HaveOccurred())
			digits := func(s string) string { return strings.ReplaceAll(s, " ", "") }
			Expect(digits(string(raw))).NotTo(ContainSubstring(iban[:18]), "no full IBAN in status")
			Expect(condition(c, v1.ConditionSynced).Message).To(ContainSubstring("****"+iban[18:]), "the message shows the IBAN masked")
			for _, e := range append(warningEvents(c, v1.ReasonConsentRenewalDue), eventsFor(c, "Normal", v1.ReasonConsentLinkIssued)...) {
				Expect(digits(e.Note)).NotTo(ContainSubstring(iban[:18]), "no full IBAN in events")
			}
		})

		It("keeps status within the API server's object size limit when finX lists very many accounts", func() {
			// As many as fit finX's answer within the client's 1 MiB limit.
			const n = 40000
			rewrite(func([]any) []any {
				many := make([]any, 0, n)
				for i := range n {
					many = append(many, map[string]any{"account_id": fmt.Sprintf("A%06d", i)})
				}
				return many
			})
			t := newTenantVia(frontURL, nil)
			c := t.connection("many-accounts")
			authorize(c)
			Eventually(func(g Gomega) {
				a := get(c).Status.Accounts
				g.Expect(a).NotTo(BeNil(), "status was written")
				g.Expect(a.Count).To(BeEquivalentTo(n), "the count is finX's")
				g.Expect(len(a.Items)).To(BeNumerically("<=", 100), "status lists a bounded number")
			}).WithTimeout(20 * time.Second).Should(Succeed())
			Expect(condOf(get(c), v1.ConditionSynced)).To(Equal("False/"+v1.ReasonSyncStale), "finX reports no sync of them")
		})

		It("turns an account id too long for status into a read error, not a status that cannot be written", func() {
			long := strings.Repeat("A", 40000)
			rewrite(func(accts []any) []any {
				a := accts[0].(map[string]any)
				a["account_id"] = long
				failing(a, "invalid credentials")
				return accts
			})
			t := newTenantVia(frontURL, nil)
			c := t.connection("long-id")
			authorize(c)
			Eventually(func(g Gomega) {
				a := get(c).Status.Accounts
				g.Expect(a).NotTo(BeNil(), "status was written")
				g.Expect(a.LastReadError).NotTo(BeNil())
				g.Expect(a.LastReadError.Reason).To(Equal(v1.ReasonFinXBadResponse))
			}).WithTimeout(20 * time.Second).Should(Succeed())
			Expect(condition(c, v1.ConditionSynced).Status).To(Equal(metav1.ConditionUnknown))
			Expect(get(c).Status.Phase).To(Equal(v1.PhaseConnected))
		})
	})
})
