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
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/controllers"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// tenant is a namespace with a FinXClient pointing at the sandbox.
type tenant struct {
	ns     string
	client string
}

func newTenant(nsLabels map[string]string) tenant { return newTenantVia(sandboxURL, nsLabels) }

// newTenantVia is newTenant with a FinXClient on baseURL (frontURL for specs that need a broken finX).
func newTenantVia(baseURL string, nsLabels map[string]string) tenant {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-", Labels: nsLabels}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	t := tenant{ns: ns.Name, client: "finx"}
	Expect(k8sClient.Create(ctx, credentialsSecret(t.ns, "finx-credentials"))).To(Succeed())
	Expect(k8sClient.Create(ctx, &v1.FinXClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: t.client},
		Spec: v1.FinXClientSpec{
			BaseURL:              baseURL,
			CredentialsSecretRef: v1.CredentialsSecretReference{Name: "finx-credentials"},
			RefreshTokenLifetime: &metav1.Duration{Duration: refreshLifetime},
		},
	})).To(Succeed())
	return t
}

func (t tenant) connection(name string, mutate ...func(*v1.BankConnection)) *v1.BankConnection {
	c := &v1.BankConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
		Spec: v1.BankConnectionSpec{
			ClientRef:   v1.ClientReference{Name: t.client},
			UserID:      name + "@example.com",
			RedirectURI: callbackURL,
		},
	}
	for _, m := range mutate {
		m(c)
	}
	Expect(k8sClient.Create(ctx, c)).To(Succeed())
	// Deleting it after the spec stops its refreshes, so the sandbox's counters and injected faults
	// in later specs concern only their own connections.
	DeferCleanup(func() { _ = client.IgnoreNotFound(k8sClient.Delete(ctx, c)) })
	return c
}

func get(c *v1.BankConnection) *v1.BankConnection {
	out := &v1.BankConnection{}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), out)).To(Succeed())
	return out
}

func condition(c *v1.BankConnection, typ string) metav1.Condition {
	cond := meta.FindStatusCondition(get(c).Status.Conditions, typ)
	if cond == nil {
		return metav1.Condition{}
	}
	return *cond
}

// waitForLink waits for a link and returns it.
func waitForLink(c *v1.BankConnection, notURL string) *v1.LinkStatus {
	var link *v1.LinkStatus
	Eventually(func(g Gomega) {
		got := get(c)
		g.Expect(got.Status.Link).NotTo(BeNil())
		g.Expect(got.Status.Link.URL).NotTo(Equal(notURL))
		link = got.Status.Link
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	return link
}

func waitForPhase(c *v1.BankConnection, phase v1.Phase, timeout time.Duration) *v1.BankConnection {
	var got *v1.BankConnection
	Eventually(func(g Gomega) {
		got = get(c)
		g.Expect(got.Status.Phase).To(Equal(phase))
	}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(Succeed())
	return got
}

// completeWidget clicks through the sandbox widget with plain form posts and returns finX's redirect
// to the callback, without following it.
func completeWidget(link string, opts sandbox.DriveOptions) *url.URL {
	redirect, err := sandbox.DriveWidget(ctx, http.DefaultClient, link, opts)
	Expect(err).NotTo(HaveOccurred())
	u, err := url.Parse(redirect)
	Expect(err).NotTo(HaveOccurred())
	secrets.add("authorisation code", u.Query().Get("code"))
	secrets.add("state", u.Query().Get("state"))
	return u
}

type page struct {
	status   int
	location string
	body     string
}

func visit(method string, u *url.URL) page {
	var req *http.Request
	var err error
	if method == http.MethodPost {
		form := u.Query()
		bare := *u
		bare.RawQuery = ""
		req, err = http.NewRequestWithContext(ctx, method, bare.String(), stringsReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, err = http.NewRequestWithContext(ctx, method, u.String(), nil)
	}
	Expect(err).NotTo(HaveOccurred())
	resp, err := browser.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b)}
}

// authorize takes a connection from its link to Connected through the widget and the callback.
func authorize(c *v1.BankConnection) *v1.BankConnection {
	link := waitForLink(c, "")
	p := visit(http.MethodGet, completeWidget(link.URL, sandbox.DriveOptions{}))
	Expect(p.status).To(Or(Equal(http.StatusOK), Equal(http.StatusSeeOther)), p.body)
	return waitForPhase(c, v1.PhaseConnected, 20*time.Second)
}

// tokens reads both Secrets of a connection and remembers their contents for the leak check.
type tokenPair struct {
	refresh, access, tokenType, expiresAt string
	private, accessSecret                 *corev1.Secret
}

func readTokens(c *v1.BankConnection) tokenPair {
	got := get(c)
	var tp tokenPair
	tp.private = &corev1.Secret{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: refreshName(got)}, tp.private)).To(Succeed())
	tp.refresh = string(tp.private.Data[tokenstore.KeyRefreshToken])
	secrets.add("refresh token", tp.refresh)
	access := &corev1.Secret{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: accessName(got)}, access); err == nil {
		tp.accessSecret = access
		tp.access = string(tp.accessSecret.Data[tokenstore.KeyAccessToken])
		tp.tokenType = string(tp.accessSecret.Data[tokenstore.KeyTokenType])
		tp.expiresAt = string(tp.accessSecret.Data[tokenstore.KeyExpiresAt])
		secrets.add("access token", tp.access)
	}
	return tp
}

func refreshName(c *v1.BankConnection) string {
	if c.Spec.RefreshTokenSecretName != "" {
		return c.Spec.RefreshTokenSecretName
	}
	return c.Name + "-finx-refresh"
}

func accessName(c *v1.BankConnection) string {
	if c.Spec.AccessToken.SecretName != "" {
		return c.Spec.AccessToken.SecretName
	}
	return c.Name + "-finx-access"
}

func annotate(c *v1.BankConnection, key, value string) {
	Eventually(func() error {
		got := get(c)
		if got.Annotations == nil {
			got.Annotations = map[string]string{}
		}
		got.Annotations[key] = value
		return k8sClient.Update(ctx, got)
	}).Should(Succeed())
}

// tokenCalls counts the sandbox's token-endpoint requests so far.
func tokenCalls() int {
	return sbx.Stats().Endpoints["token"].Calls
}

func stringsReader(s string) io.Reader { return &stringReader{s: s} }

type stringReader struct {
	s string
	i int
}

func (r *stringReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}

func stateHash(s string) string { return controllers.StateHash(s) }

var errNotYet = errors.New("not yet")

func clientKey(o client.Object) types.NamespacedName { return client.ObjectKeyFromObject(o) }

// warningEvents returns the Warning events with reason recorded for c.
func warningEvents(c *v1.BankConnection, reason string) []eventsv1.Event {
	return eventsFor(c, corev1.EventTypeWarning, reason)
}

// eventsFor returns the events of a type with reason recorded for any connection of c's name.
func eventsFor(c *v1.BankConnection, eventType, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(c.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == c.Name && e.Reason == reason && e.Type == eventType {
			out = append(out, e)
		}
	}
	return out
}

// secretUpdatePolicy creates a ValidatingAdmissionPolicy with one validation of Secret updates, and
// a binding with action for namespace ns only. The API server enforces it a moment later.
func secretUpdatePolicy(ns, name string, action admissionv1.ValidationAction, v admissionv1.Validation, when ...admissionv1.MatchCondition) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	GinkgoHelper()
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
				},
			}}},
			MatchConditions: when,
			Validations:     []admissionv1.Validation{v},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{action},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, policy)).To(Succeed())
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	return policy, binding
}

// credentialsSecret is a credentials Secret (typed as such) with the sandbox's client.
func credentialsSecret(ns, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       v1.SecretTypeClientCredentials,
		StringData: map[string]string{"client_id": sandbox.DefaultClientID, "client_secret": sandbox.DefaultClientSecret},
	}
}
