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
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// Scenario: the bank rejects the user's credentials at a sync. The operator sees it in the
// accounts it reads (here on a refresh asked for by annotation, as the 6h schedule is too slow for
// a test), offers a re-consent link in its own slot, and the user renews the consent through the
// real widget HTML; the redirect carries a code, which becomes a new chain.
func consentScenario(ctx SpecContext) {
	const ns = "e2e-consent"
	newTenant(ctx, ns)
	key := newConnection(ctx, ns, "rene", callbackA)
	b := connect(ctx, key, callbackA)
	b = waitFor(ctx, key, 30*time.Second, "accounts read and Synced", func(b *v1.BankConnection) bool {
		return b.Status.Accounts != nil && b.Status.Accounts.Count > 0 && conditionReason(b, v1.ConditionSynced) == v1.ReasonSyncSucceeded
	})
	Expect(b.Status.Consent).NotTo(BeNil())
	given := b.Status.Consent.GivenAt
	for _, it := range b.Status.Accounts.Items {
		Expect(it.IBAN).To(MatchRegexp(`^\*{4}[0-9]{4}$`))
	}
	chain := string(privateSecret(ctx, key).Data[tokenstore.KeyRefreshToken])

	By("failing the user's bank syncs with invalid credentials")
	body := `{"reason":"` + string(sandbox.SyncFailureInvalidCredentials) + `"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		sandboxURL+"/_sandbox/users/"+url.PathEscape(b.Status.FinXUserID)+"/sync-failure", strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	forceRefresh(ctx, key)
	b = waitFor(ctx, key, 30*time.Second, "a re-consent link", func(b *v1.BankConnection) bool {
		return b.Status.ConsentLink != nil && conditionReason(b, v1.ConditionConsentRenewalDue) == v1.ReasonSyncNeedsUser
	})
	Expect(conditionReason(b, v1.ConditionSynced)).To(Equal(v1.ReasonSyncNeedsUser))
	Expect(conditionReason(b, v1.ConditionStalled)).To(Equal(v1.ReasonSyncNeedsUser))
	Expect(b.Status.Link).To(BeNil(), "the authorisation link's slot stays empty")

	By("renewing the consent through the widget")
	redirect, err := sandbox.DriveWidget(ctx, httpClient, b.Status.ConsentLink.URL, sandbox.DriveOptions{})
	Expect(err).NotTo(HaveOccurred())
	u, err := url.Parse(redirect)
	Expect(err).NotTo(HaveOccurred())
	Expect(u.Host).To(Equal(callbackA))
	seen.Add("authorisation code", u.Query().Get("code"))
	seen.Add("state", u.Query().Get("state"))
	status, page := get(ctx, redirect)
	Expect(status).To(Equal(http.StatusOK), page)
	b = waitFor(ctx, key, 30*time.Second, "the consent renewed and the data flowing", func(b *v1.BankConnection) bool {
		return b.Status.Consent != nil && b.Status.Consent.LastRenewal != nil && b.Status.Consent.LastRenewal.Result == v1.ConsentRenewed &&
			conditionReason(b, v1.ConditionSynced) == v1.ReasonSyncSucceeded && isConnected(b)
	})
	Expect(b.Status.ConsentLink).To(BeNil())
	Expect(b.Status.Consent.GivenAt.Time).To(BeTemporally(">=", given.Time), "seconds apart at most here")
	Expect(string(privateSecret(ctx, key).Data[tokenstore.KeyRefreshToken])).NotTo(Equal(chain), "the re-consent's code became a new chain")
	Expect(conditionReason(b, v1.ConditionStalled)).To(BeEmpty())
}
