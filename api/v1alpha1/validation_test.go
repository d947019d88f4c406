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

package v1alpha1_test

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/testenv"
)

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func validConnection(ns string) *v1.BankConnection {
	return &v1.BankConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "conn-"},
		Spec: v1.BankConnectionSpec{
			ClientRef:   v1.ClientReference{Name: "finx"},
			UserID:      "alice@example.com",
			RedirectURI: "https://bank.example.com/callback",
		},
	}
}

// expectRejected asserts that the API server refused the request as invalid and that its message
// contains every fragment, so a person reading the error learns what to fix.
func expectRejected(err error, fragments ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got: %v", err)
	for _, f := range fragments {
		Expect(err.Error()).To(ContainSubstring(f))
	}
}

var _ = Describe("BankConnection", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("accepts a minimal connection and applies the defaults", func() {
		c := validConnection(ns)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Expect(c.Spec.ClientRef.Kind).To(Equal(v1.ClientKindFinXClient))
		Expect(c.Spec.AccessToken.Mode).To(Equal(v1.AccessTokenModeMaintain))
		Expect(c.Spec.LinkLifetime.Duration).To(Equal(time.Hour))
		Expect(c.Spec.ConsentRenewalBefore.Duration).To(Equal(14 * 24 * time.Hour))
		Expect(c.Spec.AccountsReadInterval.Duration).To(Equal(6 * time.Hour))
		Expect(c.Spec.SyncStaleAfter.Duration).To(Equal(26 * time.Hour))
	})

	It("accepts a longer accounts interval with a staleness window beyond it", func() {
		c := validConnection(ns)
		c.Spec.AccountsReadInterval = &metav1.Duration{Duration: 24 * time.Hour}
		c.Spec.SyncStaleAfter = &metav1.Duration{Duration: 50 * time.Hour}
		c.Spec.ConsentRenewalBefore = &metav1.Duration{Duration: 30 * 24 * time.Hour}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
	})

	It("accepts every optional field with valid values, and http on loopback hosts", func() {
		for _, host := range []string{"localhost:8082", "127.0.0.1", "[::1]:9000"} {
			c := validConnection(ns)
			c.Spec.RedirectURI = "http://" + host + "/callback"
			c.Spec.ReturnURL = "http://" + host + "/done?x=1"
			c.Spec.State = strings.Repeat("s", 1024)
			c.Spec.TrackingID = "t-1"
			c.Spec.Language = "ar"
			c.Spec.ProviderID = "74bab9d2-9f60-4ab1-be63-706e67b99f58"
			c.Spec.Accounts = []v1.AccountSelector{{ID: "DE89370400440532013000"}}
			c.Spec.AccountTypes = []string{"Giro account", "Credit card"}
			c.Spec.AllowMultiSelection = ptr.To(false)
			c.Spec.SyncPeriod = ptr.To[int32](3650)
			c.Spec.SaveSecrets = ptr.To(true)
			c.Spec.RefreshTokenSecretName = "custom-refresh"
			c.Spec.AccessToken = v1.AccessTokenSpec{SecretName: "custom-access", Mode: v1.AccessTokenModeDisabled}
			c.Spec.RefreshBefore = &metav1.Duration{Duration: 240 * time.Hour}
			c.Spec.Suspend = true
			Expect(k8sClient.Create(ctx, c)).To(Succeed(), "host %s", host)
		}
	})

	DescribeTable("rejects an invalid spec with a clear message",
		func(mutate func(*v1.BankConnection), fragments ...string) {
			c := validConnection(ns)
			mutate(c)
			expectRejected(k8sClient.Create(ctx, c), fragments...)
		},
		Entry("missing userID", func(c *v1.BankConnection) { c.Spec.UserID = "" },
			"spec.userID", "should be at least 1 chars long"),
		Entry("userID longer than 255", func(c *v1.BankConnection) { c.Spec.UserID = strings.Repeat("u", 256) },
			"spec.userID", "may not be more than 255"),
		Entry("missing redirectURI", func(c *v1.BankConnection) { c.Spec.RedirectURI = "" },
			"spec.redirectURI"),
		Entry("redirectURI that is not a URL", func(c *v1.BankConnection) { c.Spec.RedirectURI = "not a url" },
			"redirectURI must be an absolute http(s) URL"),
		Entry("relative redirectURI", func(c *v1.BankConnection) { c.Spec.RedirectURI = "/callback" },
			"redirectURI must be an absolute http(s) URL"),
		Entry("non-http redirectURI", func(c *v1.BankConnection) { c.Spec.RedirectURI = "ftp://example.com/cb" },
			"redirectURI must be an absolute http(s) URL"),
		Entry("plain http redirectURI on a public host", func(c *v1.BankConnection) {
			c.Spec.RedirectURI = "http://bank.example.com/callback"
		}, "redirectURI must use https; plain http is only allowed for localhost"),
		Entry("plain http returnURL on a public host", func(c *v1.BankConnection) {
			c.Spec.ReturnURL = "http://app.example.com/done"
		}, "returnURL must use https"),
		Entry("returnURL equal to redirectURI", func(c *v1.BankConnection) {
			c.Spec.ReturnURL = c.Spec.RedirectURI
		}, "returnURL must differ from redirectURI"),
		Entry("unknown language", func(c *v1.BankConnection) { c.Spec.Language = "it" },
			"spec.language", "Unsupported value", `"de"`),
		Entry("syncPeriod of 0", func(c *v1.BankConnection) { c.Spec.SyncPeriod = ptr.To[int32](0) },
			"spec.syncPeriod", "should be greater than or equal to 1"),
		Entry("syncPeriod above 3650", func(c *v1.BankConnection) { c.Spec.SyncPeriod = ptr.To[int32](3651) },
			"spec.syncPeriod", "should be less than or equal to 3650"),
		Entry("empty account id", func(c *v1.BankConnection) { c.Spec.Accounts = []v1.AccountSelector{{ID: ""}} },
			"spec.accounts[0].id", "should be at least 1 chars long"),
		Entry("state longer than 1024", func(c *v1.BankConnection) { c.Spec.State = strings.Repeat("s", 1025) },
			"spec.state"),
		Entry("unknown client kind", func(c *v1.BankConnection) { c.Spec.ClientRef.Kind = "Secret" },
			"spec.clientRef.kind", "Unsupported value"),
		Entry("unknown access token mode", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = "Sometimes" },
			"spec.accessToken.mode", "Unsupported value"),
		Entry("invalid Secret name", func(c *v1.BankConnection) { c.Spec.RefreshTokenSecretName = "Not_A_Name" },
			"spec.refreshTokenSecretName"),
		Entry("refresh and access token in the same Secret", func(c *v1.BankConnection) {
			c.Spec.RefreshTokenSecretName = "tokens"
			c.Spec.AccessToken.SecretName = "tokens"
		}, "must name different Secrets"),
		Entry("access Secret named like the default refresh Secret", func(c *v1.BankConnection) {
			c.GenerateName = ""
			c.Name = "bob"
			c.Spec.AccessToken.SecretName = "bob-finx-refresh"
		}, "must name different Secrets"),
		Entry("non-positive refreshBefore", func(c *v1.BankConnection) {
			c.Spec.RefreshBefore = &metav1.Duration{Duration: 0}
		}, "refreshBefore must be positive"),
		Entry("linkLifetime under a minute", func(c *v1.BankConnection) {
			c.Spec.LinkLifetime = &metav1.Duration{Duration: time.Second}
		}, "linkLifetime must be at least 1m"),
		Entry("accounts read more often than every 6h", func(c *v1.BankConnection) {
			c.Spec.AccountsReadInterval = &metav1.Duration{Duration: 5 * time.Hour}
		}, "accountsReadInterval must be at least 6h"),
		Entry("syncStaleAfter under an hour", func(c *v1.BankConnection) {
			c.Spec.SyncStaleAfter = &metav1.Duration{Duration: time.Minute}
		}, "syncStaleAfter must be at least 1h"),
		Entry("syncStaleAfter not beyond the read interval", func(c *v1.BankConnection) {
			c.Spec.AccountsReadInterval = &metav1.Duration{Duration: 12 * time.Hour}
			c.Spec.SyncStaleAfter = &metav1.Duration{Duration: 12 * time.Hour}
		}, "syncStaleAfter must be longer than accountsReadInterval"),
		Entry("syncStaleAfter below the default read interval", func(c *v1.BankConnection) {
			c.Spec.SyncStaleAfter = &metav1.Duration{Duration: 2 * time.Hour}
		}, "syncStaleAfter must be longer than accountsReadInterval"),
		Entry("non-positive consentRenewalBefore", func(c *v1.BankConnection) {
			c.Spec.ConsentRenewalBefore = &metav1.Duration{Duration: 0}
		}, "consentRenewalBefore must be positive"),
	)

	DescribeTable("rejects changes to immutable fields",
		func(mutate func(*v1.BankConnection), fragment string) {
			c := validConnection(ns)
			c.Spec.RefreshTokenSecretName = "kept-refresh"
			Expect(k8sClient.Create(ctx, c)).To(Succeed())
			mutate(c)
			expectRejected(k8sClient.Update(ctx, c), fragment)
		},
		Entry("userID", func(c *v1.BankConnection) { c.Spec.UserID = "mallory@example.com" },
			"userID is immutable"),
		Entry("clientRef name", func(c *v1.BankConnection) { c.Spec.ClientRef.Name = "other" },
			"clientRef is immutable"),
		Entry("clientRef kind", func(c *v1.BankConnection) { c.Spec.ClientRef.Kind = v1.ClientKindClusterFinXClient },
			"clientRef is immutable"),
		Entry("refreshTokenSecretName", func(c *v1.BankConnection) { c.Spec.RefreshTokenSecretName = "moved" },
			"refreshTokenSecretName cannot be changed"),
		Entry("refreshTokenSecretName removed", func(c *v1.BankConnection) { c.Spec.RefreshTokenSecretName = "" },
			"refreshTokenSecretName cannot be changed"),
	)

	It("rejects setting refreshTokenSecretName after creation unless it names the default", func() {
		c := validConnection(ns)
		c.GenerateName, c.Name = "", "late-name"
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		c.Spec.RefreshTokenSecretName = "elsewhere"
		expectRejected(k8sClient.Update(ctx, c), "refreshTokenSecretName cannot be changed")
		c.Spec.RefreshTokenSecretName = "late-name-finx-refresh"
		Expect(k8sClient.Update(ctx, c)).To(Succeed(), "spelling out the default changes nothing")
	})

	It("allows changing the mutable flow settings", func() {
		c := validConnection(ns)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		c.Spec.Language = "fr"
		c.Spec.Suspend = true
		c.Spec.RedirectURI = "https://other.example.com/callback"
		Expect(k8sClient.Update(ctx, c)).To(Succeed())
	})
})

var _ = Describe("FinXClient and ClusterFinXClient", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	newClient := func() *v1.FinXClient {
		return &v1.FinXClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "finx-"},
			Spec: v1.FinXClientSpec{
				BaseURL:              "https://api.finx-s.qwist.cloud",
				CredentialsSecretRef: v1.CredentialsSecretReference{Name: "creds"},
			},
		}
	}
	newClusterClient := func() *v1.ClusterFinXClient {
		return &v1.ClusterFinXClient{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "finx-"},
			Spec: v1.ClusterFinXClientSpec{FinXClientSpec: v1.FinXClientSpec{
				BaseURL:              "https://api.finx-s.qwist.cloud",
				CredentialsSecretRef: v1.CredentialsSecretReference{Name: "creds", Namespace: "finx-system"},
			}},
		}
	}

	It("accepts a FinXClient and applies the defaults", func() {
		c := newClient()
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Expect(c.Spec.RefreshTokenLifetime.Duration).To(Equal(2160 * time.Hour))
		Expect(c.Spec.CredentialsSecretRef.ClientIDKey).To(Equal("client_id"))
		Expect(c.Spec.CredentialsSecretRef.ClientSecretKey).To(Equal("client_secret"))
		Expect(*c.Spec.RequestsPerSecond).To(BeNumerically(">", 0))
		Expect(c.Spec.Timeout.Duration).To(Equal(30 * time.Second))
		Expect(c.Spec.ConsentLifetime.Duration).To(Equal(180 * 24 * time.Hour))
	})

	It("accepts a ClusterFinXClient and defaults userIDScope to Namespace", func() {
		c := newClusterClient()
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Expect(c.Spec.UserIDScope).To(Equal(v1.UserIDScopeNamespace))
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
	})

	It("rejects a plain http baseURL on a public host", func() {
		c := newClient()
		c.Spec.BaseURL = "http://api.finx-s.qwist.cloud"
		expectRejected(k8sClient.Create(ctx, c), "baseURL must use https")
	})

	It("rejects a baseURL that is not a URL", func() {
		c := newClient()
		c.Spec.BaseURL = "api.finx"
		expectRejected(k8sClient.Create(ctx, c), "baseURL must be an absolute http(s) URL")
	})

	It("rejects a FinXClient pointing at a Secret in another namespace", func() {
		c := newClient()
		c.Spec.CredentialsSecretRef.Namespace = "kube-system"
		expectRejected(k8sClient.Create(ctx, c), "credentialsSecretRef.namespace must not be set on a FinXClient")
	})

	It("rejects a ClusterFinXClient without a Secret namespace", func() {
		c := newClusterClient()
		c.Spec.CredentialsSecretRef.Namespace = ""
		expectRejected(k8sClient.Create(ctx, c), "credentialsSecretRef.namespace is required on a ClusterFinXClient")
	})

	It("rejects an unknown userIDScope", func() {
		c := newClusterClient()
		c.Spec.UserIDScope = "Global"
		expectRejected(k8sClient.Create(ctx, c), "spec.userIDScope", "Unsupported value")
	})

	It("rejects a refreshTokenLifetime under a minute", func() {
		c := newClient()
		c.Spec.RefreshTokenLifetime = &metav1.Duration{Duration: time.Second}
		expectRejected(k8sClient.Create(ctx, c), "refreshTokenLifetime must be at least 1m")
	})

	It("rejects a consentLifetime under an hour, on both kinds of client", func() {
		c := newClient()
		c.Spec.ConsentLifetime = &metav1.Duration{Duration: time.Minute}
		expectRejected(k8sClient.Create(ctx, c), "consentLifetime must be at least 1h")
		cc := newClusterClient()
		cc.Spec.ConsentLifetime = &metav1.Duration{Duration: time.Minute}
		expectRejected(k8sClient.Create(ctx, cc), "consentLifetime must be at least 1h")
	})

	It("defaults a ClusterFinXClient's consentLifetime to 180 days", func() {
		c := newClusterClient()
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Expect(c.Spec.ConsentLifetime.Duration).To(Equal(180 * 24 * time.Hour))
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
	})
})

var _ = Describe("config/samples", func() {
	It("are all accepted by the API server", func() {
		ns := newNamespace()
		dir := filepath.Join(testenv.RepoRoot(), "config", "samples")
		files, err := filepath.Glob(filepath.Join(dir, "banking_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		kinds := map[string]bool{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
			for {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err != nil {
					break
				}
				if len(u.Object) == 0 {
					continue
				}
				if u.GetKind() != "ClusterFinXClient" {
					u.SetNamespace(ns)
				}
				Expect(k8sClient.Create(ctx, u)).To(Succeed(), "sample %s %s", filepath.Base(f), u.GetKind())
				kinds[u.GetKind()] = true
				if u.GetKind() == "ClusterFinXClient" {
					Expect(k8sClient.Delete(ctx, u)).To(Succeed())
				}
			}
		}
		Expect(kinds).To(HaveKey("BankConnection"))
		Expect(kinds).To(HaveKey("FinXClient"))
		Expect(kinds).To(HaveKey("ClusterFinXClient"))
	})
})

// A typed client writes durations back as Go prints them ("1h0m0s"). A default written any other
// way ("1h") makes the first read-modify-write of an unchanged object a spec change: a new
// generation, and work for the operator and for GitOps diffs that nobody asked for.
var _ = Describe("Defaults", func() {
	It("survive a typed read-modify-write without a new generation", func() {
		ns := newNamespace()
		objs := []client.Object{
			validConnection(ns),
			&v1.FinXClient{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "finx-"},
				Spec: v1.FinXClientSpec{
					BaseURL:              "https://api.finx-s.qwist.cloud",
					CredentialsSecretRef: v1.CredentialsSecretReference{Name: "creds"},
				},
			},
		}
		for _, o := range objs {
			Expect(k8sClient.Create(ctx, o)).To(Succeed())
			Expect(o.GetGeneration()).To(Equal(int64(1)))
			Expect(k8sClient.Update(ctx, o)).To(Succeed())
			Expect(o.GetGeneration()).To(Equal(int64(1)), "%T: a default is not written as Go prints it", o)
		}
	})
})
