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
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// readHealth waits until the connection is in phase and the tools read it as want says, and
// returns that reading. All of them read the same object, one GET from the API server.
func readHealth(c *v1.BankConnection, phase v1.Phase, kstatus status.Status, argo string, flux status.Status) health {
	GinkgoHelper()
	var h health
	Eventually(func(g Gomega) {
		u, err := readObject(client.ObjectKeyFromObject(c))
		g.Expect(err).NotTo(HaveOccurred())
		h = healthOf(u)
		g.Expect(h.phase).To(Equal(phase), h.String())
		g.Expect(h.kstatus).To(Equal(kstatus), h.String())
		g.Expect(h.argo).To(Equal(argo), h.String())
		g.Expect(h.flux).To(Equal(flux), h.String())
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	// Whatever the phase, the status and each condition describe the current generation.
	Expect(h.observedGen).To(Equal(h.generation), h.String())
	for typ, g := range h.conditionGen {
		Expect(g).To(Equal(h.generation), "condition %s", typ)
	}
	Expect(h.stalled == "" || h.reconciling == "").To(BeTrue(), "Stalled and Reconciling are never both True: %s", h)
	return h
}

var _ = Describe("Health as kstatus, Argo CD and Flux read it", func() {
	var t tenant
	BeforeEach(func() { t = newTenant(nil) })

	It("reads a new connection as in progress until the operator has observed it", func() {
		// Created through the unstructured client: the API server's answer is the object as a
		// GitOps tool reads it right after applying it, before the operator could act.
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1.GroupVersion.String(), "kind": "BankConnection",
			"metadata": map[string]any{"namespace": t.ns, "name": "fresh"},
			"spec": map[string]any{
				"clientRef": map[string]any{"name": t.client}, "userID": "fresh@example.com", "redirectURI": callbackURL,
			},
		}}
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		DeferCleanup(func() { _ = client.IgnoreNotFound(k8sClient.Delete(ctx, u)) })
		h := healthOf(u)
		Expect(h.observedGen).To(BeEquivalentTo(-1), "the CRD defaults status.observedGeneration")
		Expect(h.kstatus).To(Equal(status.InProgressStatus), h.String())
		Expect(h.argo).To(Equal("Progressing"))
		Expect(h.flux).To(Equal(status.InProgressStatus))
	})

	It("follows a connection from its link to Connected, through a spec change, suspension and a dead chain", func() {
		c := t.connection("henry")
		h := readHealth(c, v1.PhaseAwaitingAuthorization, status.InProgressStatus, "Suspended", status.CurrentStatus)
		Expect(h.reconciling).To(Equal(v1.ReasonAwaitingUser))
		Expect(h.kstatusMsg).To(ContainSubstring("end user"))
		Expect(h.argoMessage).To(ContainSubstring("status.link.url"))

		authorize(c)
		h = readHealth(c, v1.PhaseConnected, status.CurrentStatus, "Healthy", status.CurrentStatus)
		Expect(h.stalled + h.reconciling).To(BeEmpty())

		// A spec change is observed: every condition moves to the new generation.
		gen := get(c).Generation
		Eventually(func() error {
			got := get(c)
			got.Spec.RefreshBefore = &metav1.Duration{Duration: 40 * time.Second}
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		h = readHealth(c, v1.PhaseConnected, status.CurrentStatus, "Healthy", status.CurrentStatus)
		Expect(h.generation).To(Equal(gen + 1))

		setSuspend(c, true)
		Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonSuspended))
		h = readHealth(c, v1.PhaseConnected, status.InProgressStatus, "Suspended", status.InProgressStatus)
		Expect(h.stalled+h.reconciling).To(BeEmpty(), "a suspension is neither progress nor a fault")
		setSuspend(c, false)
		readHealth(c, v1.PhaseConnected, status.CurrentStatus, "Healthy", status.CurrentStatus)

		// finX revokes the user: the chain is dead and only the user can bring it back.
		Expect(sbx.RevokeUser(get(c).Status.FinXUserID)).To(BeNumerically(">", 0))
		h = readHealth(c, v1.PhaseReauthorizationRequired, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonRefreshRejected))
		Expect(h.argoMessage).To(HavePrefix(v1.ReasonRefreshRejected + ": "))

		// The new link brings it back to Current, and Stalled goes away.
		authorize(c)
		h = readHealth(c, v1.PhaseConnected, status.CurrentStatus, "Healthy", status.CurrentStatus)
		Expect(h.stalled).To(BeEmpty())
	})

	It("reads a cancelled flow as waiting for the user", func() {
		c := t.connection("ivy")
		link := waitForLink(c, "")
		Expect(visit(http.MethodGet, completeWidget(link.URL, sandbox.DriveOptions{Cancel: true})).status).To(Equal(http.StatusOK))
		h := readHealth(c, v1.PhaseCancelled, status.InProgressStatus, "Suspended", status.CurrentStatus)
		Expect(h.reconciling).To(Equal(v1.ReasonAwaitingUser))
	})

	It("reads configuration errors as Failed, and clears them once fixed", func() {
		c := t.connection("jack", func(c *v1.BankConnection) { c.Spec.ClientRef.Name = "not-yet" })
		h := readHealth(c, v1.PhasePending, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonClientNotFound))

		Expect(k8sClient.Create(ctx, &v1.FinXClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "not-yet"},
			Spec: v1.FinXClientSpec{
				BaseURL:              sandboxURL,
				CredentialsSecretRef: v1.CredentialsSecretReference{Name: "finx-credentials"},
				RefreshTokenLifetime: &metav1.Duration{Duration: refreshLifetime},
			},
		})).To(Succeed())
		h = readHealth(c, v1.PhaseAwaitingAuthorization, status.InProgressStatus, "Suspended", status.CurrentStatus)
		Expect(h.stalled).To(BeEmpty())

		// A Secret of someone else's under the private Secret's name.
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "kate-finx-refresh"},
			StringData: map[string]string{"other": "data"},
		})).To(Succeed())
		k := t.connection("kate")
		h = readHealth(k, v1.PhasePending, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonSecretConflict))
	})

	It("reads wrong client credentials as Failed and a client without credentials as Failed, until fixed", func() {
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "wrong-credentials"},
			Type:       v1.SecretTypeClientCredentials,
			StringData: map[string]string{"client_id": sandbox.DefaultClientID, "client_secret": "not-the-secret"},
		})).To(Succeed())
		for name, secret := range map[string]string{"wrong": "wrong-credentials", "missing": "no-such-secret"} {
			Expect(k8sClient.Create(ctx, &v1.FinXClient{
				ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
				Spec: v1.FinXClientSpec{
					BaseURL:              sandboxURL,
					CredentialsSecretRef: v1.CredentialsSecretReference{Name: secret},
					RefreshTokenLifetime: &metav1.Duration{Duration: refreshLifetime},
				},
			})).To(Succeed())
		}
		missing := t.connection("mona", func(c *v1.BankConnection) { c.Spec.ClientRef.Name = "missing" })
		h := readHealth(missing, v1.PhasePending, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonClientNotReady))

		wrong := t.connection("otto", func(c *v1.BankConnection) { c.Spec.ClientRef.Name = "wrong" })
		h = readHealth(wrong, v1.PhasePending, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonClientAuthFailed))
		// The operator keeps retrying with backoff; the right secret clears the stall by itself.
		Eventually(func() error {
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "wrong-credentials"}, s)).To(Succeed())
			s.Data["client_secret"] = []byte(sandbox.DefaultClientSecret)
			return k8sClient.Update(ctx, s)
		}).Should(Succeed())
		h = readHealth(wrong, v1.PhaseAwaitingAuthorization, status.InProgressStatus, "Suspended", status.CurrentStatus)
		Expect(h.stalled).To(BeEmpty())
	})

	It("reads a finX outage as in progress while the operator retries", func() {
		DeferCleanup(sbx.ClearFaults)
		sbx.InjectFault(sandbox.Fault{Endpoint: sandbox.EndpointOngoingAccess, Status: http.StatusServiceUnavailable})
		c := t.connection("pia")
		h := readHealth(c, v1.PhasePending, status.InProgressStatus, "Progressing", status.InProgressStatus)
		Expect(h.reconciling).To(Equal(v1.ReasonFinXUnavailable))
		sbx.ClearFaults()
		readHealth(c, v1.PhaseAwaitingAuthorization, status.InProgressStatus, "Suspended", status.CurrentStatus)
	})

	It("reads a link request finX refuses as Failed, and recovers when finX accepts it again", func() {
		DeferCleanup(sbx.ClearFaults)
		sbx.InjectFault(sandbox.Fault{Endpoint: sandbox.EndpointOngoingAccess, Status: http.StatusBadRequest})
		c := t.connection("liam")
		h := readHealth(c, v1.PhaseFailed, status.FailedStatus, "Degraded", status.FailedStatus)
		Expect(h.stalled).To(Equal(v1.ReasonFinXRejectedRequest))
		sbx.ClearFaults()
		// A spec change retries at once (the backoff would too, later).
		annotateSpec(c)
		h = readHealth(c, v1.PhaseAwaitingAuthorization, status.InProgressStatus, "Suspended", status.CurrentStatus)
		Expect(h.stalled).To(BeEmpty())
	})

	It("ships the health checks that the docs show", func() {
		ops, err := os.ReadFile("../docs/operations.md")
		Expect(err).NotTo(HaveOccurred())
		lua, err := os.ReadFile(argoHealthFile)
		Expect(err).NotTo(HaveOccurred())
		// The argocd-cm snippet carries the script indented by four spaces under its key.
		indented := "    " + strings.ReplaceAll(strings.TrimRight(string(lua), "\n"), "\n", "\n    ")
		indented = strings.ReplaceAll(indented, "    \n", "\n")
		Expect(string(ops)).To(ContainSubstring("resource.customizations.health.banking.finx-operator.io_BankConnection: |\n" + indented + "\n"))
		flux, err := os.ReadFile(fluxExprsFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(ops)).To(ContainSubstring(strings.TrimSpace(fluxBody(string(flux)))))
	})
})

// fluxBody is the example without its leading comment block.
func fluxBody(s string) string {
	i := strings.Index(s, "apiVersion:")
	Expect(i).To(BeNumerically(">=", 0))
	return s[i:]
}

func setSuspend(c *v1.BankConnection, on bool) {
	Eventually(func() error {
		got := get(c)
		got.Spec.Suspend = on
		return k8sClient.Update(ctx, got)
	}).Should(Succeed())
}

// annotateSpec makes a spec change that does not alter the flow settings.
func annotateSpec(c *v1.BankConnection) {
	Eventually(func() error {
		got := get(c)
		got.Spec.RefreshBefore = &metav1.Duration{Duration: 30 * time.Second}
		return k8sClient.Update(ctx, got)
	}).Should(Succeed())
}
