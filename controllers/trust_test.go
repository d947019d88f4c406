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
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/testenv"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// captureServer stands for a server an attacker runs on loopback, next to the legitimate sandbox:
// it records every byte that reaches it, and answers with a marker that must never show up in any
// status (the operator must not reflect a foreign server's answer).
type captureServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	conns int
	got   strings.Builder
}

const captureAnswer = "CAPTURED-SERVER-ANSWER-5d1f"

func newCaptureServer() *captureServer {
	c := &captureServer{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.got.WriteString(r.Method + " " + r.URL.String() + "\n")
		for k, v := range r.Header {
			c.got.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
		c.got.Write(b)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":1000,"description":"`+captureAnswer+`"}}`)
	}))
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.mu.Lock()
			c.conns++
			c.mu.Unlock()
		}
	}
	c.srv.Start()
	DeferCleanup(c.srv.Close)
	return c
}

func (c *captureServer) received() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns, c.got.String()
}

func finxClientReady(key types.NamespacedName) metav1.Condition {
	fc := &v1.FinXClient{}
	Expect(k8sClient.Get(ctx, key, fc)).To(Succeed())
	for _, c := range fc.Status.Conditions {
		if c.Type == v1.ConditionReady {
			return c
		}
	}
	return metav1.Condition{}
}

func expectClientRefused(key types.NamespacedName, reason string) {
	GinkgoHelper()
	Eventually(func() string { return finxClientReady(key).Reason }).Should(Equal(reason))
	Expect(finxClientReady(key).Status).To(Equal(metav1.ConditionFalse))
}

var _ = Describe("Trust boundaries", func() {
	// Defect 1: a principal who may edit FinXClients and BankConnections, but not read Secrets, must
	// obtain no token and no client secret by any combination of fields. The attacker's server is on
	// loopback like the sandbox; the allowlist names the sandbox's exact address and nothing else.
	It("sends no token and no client secret to a server a FinXClient names", func() {
		trap := newCaptureServer()
		t := newTenant(nil)
		victim := t.connection("victim", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		authorize(victim)
		tokens := readTokens(victim)
		secrets.add("client secret", sandbox.DefaultClientSecret)
		refreshSecret := refreshName(get(victim))

		newClient := func(name, baseURL, secret, idKey, secretKey string) types.NamespacedName {
			fc := &v1.FinXClient{
				ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
				Spec: v1.FinXClientSpec{BaseURL: baseURL, CredentialsSecretRef: v1.CredentialsSecretReference{
					Name: secret, ClientIDKey: idKey, ClientSecretKey: secretKey}},
			}
			Expect(k8sClient.Create(ctx, fc)).To(Succeed())
			return clientKey(fc)
		}
		useClient := func(name string) func(*v1.BankConnection) {
			return func(c *v1.BankConnection) { c.Spec.ClientRef.Name = name }
		}
		links := sbx.Stats().Endpoints["ongoing_access"].Calls

		By("a client on the token Secret, pointed at the trap")
		stealRefresh := newClient("steal-refresh", trap.srv.URL, refreshSecret, tokenstore.KeyRefreshToken, "refresh_token_expires_at")
		c1 := t.connection("mallory-1", useClient("steal-refresh"))
		By("a client on the real credentials, pointed at the trap")
		stealSecret := newClient("steal-secret", trap.srv.URL, "finx-credentials", "", "")
		c2 := t.connection("mallory-2", useClient("steal-secret"))
		By("a client on the token Secret, pointed at the allowed sandbox")
		confused := newClient("confused", sandboxURL, refreshSecret, tokenstore.KeyRefreshToken, "refresh_token_expires_at")
		c3 := t.connection("mallory-3", useClient("confused"))
		By("a client on an ordinary Secret that holds the same keys")
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "opaque-credentials"},
			StringData: map[string]string{"client_id": sandbox.DefaultClientID, "client_secret": sandbox.DefaultClientSecret},
		})).To(Succeed())
		opaque := newClient("opaque", sandboxURL, "opaque-credentials", "", "")
		c4 := t.connection("mallory-4", useClient("opaque"))

		expectClientRefused(stealRefresh, v1.ReasonBaseURLNotAllowed)
		expectClientRefused(stealSecret, v1.ReasonBaseURLNotAllowed)
		expectClientRefused(confused, v1.ReasonCredentialsWrongType)
		expectClientRefused(opaque, v1.ReasonCredentialsWrongType)
		for c, reason := range map[*v1.BankConnection]string{
			c1: v1.ReasonBaseURLNotAllowed, c2: v1.ReasonBaseURLNotAllowed,
			c3: v1.ReasonClientNotReady, c4: v1.ReasonClientNotReady,
		} {
			Eventually(func() string { return condition(c, v1.ConditionReady).Reason }).Should(Equal(reason), c.Name)
			Expect(get(c).Status.Link).To(BeNil())
		}

		By("moving the namespace's own client to the trap: refused by the API, then by the allowlist")
		own := &v1.FinXClient{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: t.client}, own)).To(Succeed())
		own.Spec.BaseURL = trap.srv.URL
		err := k8sClient.Update(ctx, own)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "baseURL must be immutable, got %v", err)
		Expect(err.Error()).To(ContainSubstring("baseURL is immutable"))
		Expect(k8sClient.Get(ctx, clientKey(own), own)).To(Succeed())
		Expect(k8sClient.Delete(ctx, own)).To(Succeed())
		moved := newClient(t.client, trap.srv.URL, "finx-credentials", "", "")
		annotate(victim, v1.AnnotationRefresh, "to-the-trap")
		Eventually(func() string { return condition(victim, v1.ConditionReady).Reason }).Should(Equal(v1.ReasonBaseURLNotAllowed))
		expectClientRefused(moved, v1.ReasonBaseURLNotAllowed)
		Consistently(func() int { n, _ := trap.received(); return n }).WithTimeout(2 * time.Second).Should(BeZero())

		By("nothing reached the trap, no link was requested, nothing of its answer is in any status")
		conns, got := trap.received()
		Expect(conns).To(BeZero(), "the trap was contacted")
		Expect(secrets.leakIn(got)).To(BeEmpty())
		Expect(got).NotTo(ContainSubstring(tokens.refresh))
		Expect(sbx.Stats().Endpoints["ongoing_access"].Calls).To(Equal(links), "a refused client made a finX call")
		for _, list := range []client.ObjectList{&v1.BankConnectionList{}, &v1.FinXClientList{}} {
			Expect(k8sClient.List(ctx, list, client.InNamespace(t.ns))).To(Succeed())
			b, _ := json.Marshal(list)
			Expect(string(b)).NotTo(ContainSubstring(captureAnswer))
		}

		By("the client admin restores the client: the victim's chain is intact and refreshes")
		Expect(k8sClient.Delete(ctx, &v1.FinXClient{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: t.client}})).To(Succeed())
		newClient(t.client, sandboxURL, "finx-credentials", "", "")
		before := get(victim).Status.RefreshToken.Rotations
		annotate(victim, v1.AnnotationRefresh, "back-home")
		Eventually(func() int64 { return get(victim).Status.RefreshToken.Rotations }).WithTimeout(20 * time.Second).Should(BeNumerically(">", before))
		Expect(condition(victim, v1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		readTokens(victim)
	})

	// The role split, checked by the API server's own RBAC with the roles config/ ships.
	It("lets a tenant edit BankConnections only, and a client admin write but never read Secrets", func() {
		t := newTenant(nil)
		roles, err := devcluster.RenderKustomization(testenv.RepoRoot() + "/config/rbac")
		Expect(err).NotTo(HaveOccurred())
		as := func(user, role string) client.Client {
			GinkgoHelper()
			for _, o := range roles {
				if o.GetKind() == "ClusterRole" && o.GetName() == role {
					o = o.DeepCopy()
					o.SetResourceVersion("")
					err := k8sClient.Create(ctx, o)
					Expect(err == nil || apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
				}
			}
			Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: user},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
			})).To(Succeed())
			u, err := testEnv.AddUser(envtest.User{Name: user}, nil)
			Expect(err).NotTo(HaveOccurred())
			c, err := client.New(u.Config(), client.Options{Scheme: scheme})
			Expect(err).NotTo(HaveOccurred())
			return c
		}
		tenant := as("tenant-editor", "bankconnection-editor-role")
		admin := as("client-admin", "finxclient-admin-role")
		forbidden := func(err error) { GinkgoHelper(); Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err) }

		By("the tenant: BankConnections yes; FinXClients read only; Secrets not at all")
		Eventually(func() error {
			return tenant.Create(ctx, &v1.BankConnection{
				ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "own"},
				Spec:       v1.BankConnectionSpec{ClientRef: v1.ClientReference{Name: t.client}, UserID: "own@example.com", RedirectURI: callbackURL},
			})
		}).Should(Succeed())
		Expect(tenant.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: t.client}, &v1.FinXClient{})).To(Succeed())
		forbidden(tenant.Create(ctx, &v1.FinXClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "mine"},
			Spec:       v1.FinXClientSpec{BaseURL: sandboxURL, CredentialsSecretRef: v1.CredentialsSecretReference{Name: "finx-credentials"}},
		}))
		forbidden(tenant.Delete(ctx, &v1.FinXClient{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: t.client}}))
		forbidden(tenant.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "finx-credentials"}, &corev1.Secret{}))
		forbidden(tenant.List(ctx, &corev1.SecretList{}, client.InNamespace(t.ns)))

		By("the client admin: FinXClients and credentials Secrets written, no Secret read")
		Expect(admin.Create(ctx, credentialsSecret(t.ns, "rotated-credentials"))).To(Succeed())
		Expect(admin.Create(ctx, &v1.FinXClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "rotated"},
			Spec:       v1.FinXClientSpec{BaseURL: sandboxURL, CredentialsSecretRef: v1.CredentialsSecretReference{Name: "rotated-credentials"}},
		})).To(Succeed())
		Eventually(func() string { return finxClientReady(types.NamespacedName{Namespace: t.ns, Name: "rotated"}).Reason }).Should(Equal(v1.ReasonCredentialsFound))
		forbidden(admin.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "rotated-credentials"}, &corev1.Secret{}))
		forbidden(admin.List(ctx, &corev1.SecretList{}, client.InNamespace(t.ns)))
		forbidden(admin.Create(ctx, &v1.BankConnection{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "not-mine"},
			Spec:       v1.BankConnectionSpec{ClientRef: v1.ClientReference{Name: t.client}, UserID: "x@example.com", RedirectURI: callbackURL},
		}))
	})

	// Defect 2: a later tenant under a reused namespace name must not reach the earlier tenant's
	// finX user, with the default userIDScope of a shared client.
	It("gives a re-created namespace of the same name another finX user", func() {
		shared := sharedClient(map[string]string{"finx-test/reuse": "yes"})
		name := "reused-" + strings.ToLower(string(uuidish()))
		use := func(c *v1.BankConnection) {
			c.Spec.ClientRef = v1.ClientReference{Kind: v1.ClientKindClusterFinXClient, Name: shared}
			c.Spec.UserID = "pat@example.com"
			c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled
		}
		tenantIn := func() (tenant, types.UID) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"finx-test/reuse": "yes"}}}
			Expect(k8sClient.Create(ctx, ns)).To(Succeed())
			return tenant{ns: name}, ns.UID
		}

		By("tenant 1 connects, then leaves: connection, Secrets and namespace deleted")
		t1, uid1 := tenantIn()
		c1 := t1.connection("pat", use)
		authorize(c1)
		first := get(c1).Status.FinXUserID
		Expect(first).To(Equal(string(uid1) + "/pat@example.com"))
		token1 := readTokens(c1).refresh
		Expect(k8sClient.Delete(ctx, c1)).To(Succeed())
		removeNamespace(name)

		By("tenant 2 gets the same namespace name and the same userID")
		t2, uid2 := tenantIn()
		Expect(uid2).NotTo(Equal(uid1))
		c2 := t2.connection("pat", use)
		authorize(c2)
		second := get(c2).Status.FinXUserID
		Expect(second).To(Equal(string(uid2) + "/pat@example.com"))
		Expect(second).NotTo(Equal(first))
		token2 := readTokens(c2).refresh

		By("they are different finX users: ending tenant 1's user leaves tenant 2's token alone")
		Expect(sbx.RevokeUser(name+"/pat@example.com")).To(BeZero(), "the namespace name is never the user")
		Expect(sbx.RevokeUser(first)).To(BeNumerically(">", 0))
		Expect(sbx.RefreshTokenState(token1)).To(Equal(sandbox.TokenRevoked))
		Expect(sbx.RefreshTokenState(token2)).To(Equal(sandbox.TokenActive))
	})

	// Upgrade: a connection that started before status.finxUserID existed keeps the user_id it was
	// authorised under, and its chain keeps refreshing.
	It("keeps the earlier user_id of a connection that started before the upgrade", func() {
		t := newTenant(nil)
		c := t.connection("legacy", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		authorize(c)
		// What an object written by the previous release looks like: a chain, no finxUserID.
		Expect(k8sClient.Status().Patch(ctx, get(c), client.RawPatch(types.MergePatchType, []byte(`{"status":{"finxUserID":null}}`)))).To(Succeed())
		Expect(get(c).Status.FinXUserID).To(BeEmpty())
		before := get(c).Status.RefreshToken.Rotations
		annotate(c, v1.AnnotationRefresh, "after-upgrade")
		Eventually(func() string { return get(c).Status.FinXUserID }).WithTimeout(20*time.Second).Should(Equal("legacy@example.com"),
			"a FinXClient's connection used to send userID unchanged")
		Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).WithTimeout(20 * time.Second).Should(BeNumerically(">", before))
		Expect(get(c).Status.FinXUserID).To(Equal("legacy@example.com"))
		readTokens(c)
	})
})

// sharedClient creates a ClusterFinXClient on the sandbox for namespaces with the given labels.
func sharedClient(nsLabels map[string]string) string {
	GinkgoHelper()
	home := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "finx-system-"}}
	Expect(k8sClient.Create(ctx, home)).To(Succeed())
	Expect(k8sClient.Create(ctx, credentialsSecret(home.Name, "shared-credentials"))).To(Succeed())
	cc := &v1.ClusterFinXClient{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "shared-"},
		Spec: v1.ClusterFinXClientSpec{
			FinXClientSpec: v1.FinXClientSpec{
				BaseURL:              sandboxURL,
				CredentialsSecretRef: v1.CredentialsSecretReference{Name: "shared-credentials", Namespace: home.Name},
				RefreshTokenLifetime: &metav1.Duration{Duration: refreshLifetime},
			},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: nsLabels},
		},
	}
	Expect(k8sClient.Create(ctx, cc)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, cc) })
	return cc.Name
}

// removeNamespace deletes a namespace for good. envtest runs no namespace controller (nor garbage
// collector), so what they would do is done here: the namespace emptied, then its finalizer removed.
func removeNamespace(name string) {
	GinkgoHelper()
	Expect(k8sClient.DeleteAllOf(ctx, &v1.BankConnection{}, client.InNamespace(name))).To(Succeed())
	Expect(k8sClient.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(name))).To(Succeed())
	ns := &corev1.Namespace{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, ns)).To(Succeed())
	Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, ns)).To(Succeed())
	ns.Spec.Finalizers = nil
	Expect(k8sClient.SubResource("finalize").Update(ctx, ns)).To(Succeed())
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: name}, &corev1.Namespace{}))
	}).Should(BeTrue())
}

func uuidish() types.UID {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return types.UID(hex.EncodeToString(b[:]))
}
