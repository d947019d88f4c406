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

package chart_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/devstack"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// monitoringCRDs stand in for the Prometheus operator's CRDs: enough for the API server to store
// the chart's ServiceMonitor and PrometheusRule (their content is checked elsewhere).
const monitoringCRDs = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, plural: servicemonitors, listKind: ServiceMonitorList, singular: servicemonitor}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: prometheusrules.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: PrometheusRule, plural: prometheusrules, listKind: PrometheusRuleList, singular: prometheusrule}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

// testCluster is one control plane shared by the install tests.
type testCluster struct {
	*devcluster.Cluster
	admin client.Client
	kube  *kubernetes.Clientset
	work  string
}

func startCluster(t *testing.T) *testCluster {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`")
	}
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crds, err := devcluster.DecodeYAML([]byte(monitoringCRDs))
	if err != nil {
		t.Fatal(err)
	}
	c, err := devcluster.Start(ctx, devcluster.Options{BinDir: assets, WorkDir: filepath.Join(work, "cluster"), Manifests: crds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	admin, err := client.New(c.AdminConfig(), client.Options{Scheme: devstack.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &testCluster{Cluster: c, admin: admin, kube: kube, work: work}
}

// install applies the rendered chart (but the Deployment, which this cluster has no nodes to run)
// the way `helm install` would, server-side, and returns the Deployment.
func (c *testCluster) install(t *testing.T, ns string, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	ctx := context.Background()
	if err := c.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	var dep *unstructured.Unstructured
	var rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			dep = o
			continue
		}
		rest = append(rest, o)
	}
	if dep == nil {
		t.Fatal("the chart rendered no Deployment")
	}
	if err := devcluster.ServerSideApply(ctx, c.AdminConfig(), rest, "helm"); err != nil {
		t.Fatal(err)
	}
	return dep
}

func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := devcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

// containerPort returns the port number of the manager container's port with this name.
func containerPort(t *testing.T, dep *unstructured.Unstructured, name string) string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	ports, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "ports")
	for _, p := range ports {
		m := p.(map[string]any)
		if m["name"] == name {
			return fmt.Sprint(m["containerPort"])
		}
	}
	t.Fatalf("the manager container has no port %q", name)
	return ""
}

// The rendered chart, cluster-wide mode: applied to a real API server, the manager started with
// the Deployment's own arguments and ServiceAccount, a connection taken to Connected, the probes
// and the metrics endpoint used as the kubelet and the ServiceMonitor would, and the alerts
// evaluated against the series the manager exported.
func TestInstallClusterWide(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	sbx := sandbox.New(sandbox.Config{AccessTokenTTL: 30 * time.Second, RefreshTokenTTL: 100 * time.Hour})
	sbxSrv := httptest.NewServer(sbx.Handler())
	defer sbxSrv.Close()

	metricsAddr, probeAddr, callbackAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	metricsDNS := release + "-metrics." + namespace + ".svc"
	certDir, caPool := writeServingCert(t, metricsDNS)
	objs := render(t, namespace,
		"manager.metricsBindAddress="+metricsAddr, "manager.healthProbeBindAddress="+probeAddr,
		"manager.callbackBindAddress="+callbackAddr,
		// Out of a cluster the manager cannot find its own namespace.
		"manager.leaderElectionNamespace="+namespace,
		"metrics.tls.secretName=finx-metrics-tls", "metrics.tls.mountPath="+certDir,
		"serviceMonitor.enabled=true", "prometheusRule.enabled=true", "grafanaDashboard.enabled=true",
		"networkPolicy.enabled=true", "callback.ingress.enabled=true",
		"allowedFinXBaseURLs={"+sbxSrv.URL+"}")
	dep := c.install(t, namespace, objs)

	runManager(t, ctx, c, dep)

	key := connect(t, ctx, c, "tenant-a", sbxSrv.URL, "http://"+callbackAddr+"/callback")

	// The ServiceMonitor's view: verified TLS with the CA and server name it names, and the bearer
	// token of the scraper ServiceAccount the chart binds to metrics-reader.
	var sm *unstructured.Unstructured
	for _, o := range objectsOfKind(objs, "ServiceMonitor") {
		sm = o
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	serverName, _, _ := unstructured.NestedString(eps[0].(map[string]any), "tlsConfig", "serverName")
	scraper := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: caPool, ServerName: serverName, MinVersion: tls.VersionTLS12}}}
	metricsURL := "https://127.0.0.1:" + containerPort(t, dep, "metrics") + "/metrics"
	scraperToken := token(t, c, namespace, release+"-metrics-scraper")

	if code, _ := scrape(t, scraper, metricsURL, ""); code != http.StatusUnauthorized {
		t.Errorf("a scrape without a token got HTTP %d, want 401", code)
	}
	if _, err := c.kube.CoreV1().ServiceAccounts(namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nosy"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, _ := scrape(t, scraper, metricsURL, token(t, c, namespace, "nosy")); code != http.StatusForbidden {
		t.Errorf("a scrape by a ServiceAccount not bound to metrics-reader got HTTP %d, want 403", code)
	}
	code, first := scrape(t, scraper, metricsURL, scraperToken)
	if code != http.StatusOK {
		t.Fatalf("the scraper got HTTP %d: %s", code, first)
	}
	scrapes := []timedScrape{{at: time.Now(), text: first}}

	// A request to the callback without parameters (counted as a 400) and a chain finX ends.
	if resp, err := http.Get("http://" + callbackAddr + "/callback"); err == nil {
		resp.Body.Close()
	}
	var connected v1.BankConnection
	if err := c.admin.Get(ctx, key, &connected); err != nil {
		t.Fatal(err)
	}
	if n := sbx.RevokeUser(connected.Status.FinXUserID); n == 0 {
		t.Fatalf("the sandbox revoked no token of finX user %q", connected.Status.FinXUserID)
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"revoked"}}}`, v1.AnnotationRefresh)
	b := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := c.admin.Patch(ctx, b, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, key, v1.PhaseReauthorizationRequired)
	code, second := scrape(t, scraper, metricsURL, scraperToken)
	if code != http.StatusOK {
		t.Fatalf("the scraper got HTTP %d", code)
	}
	scrapes = append(scrapes, timedScrape{at: time.Now(), text: second})

	checkAlerts(t, scrapes)
}

// runManager starts the manager binary as the rendered Deployment would run it: its arguments, its
// ServiceAccount's identity, its environment (POD_UID from the Pod's UID). It waits until the
// manager leads and its readiness probe passes, as the kubelet would ask it.
func runManager(t *testing.T, ctx context.Context, c *testCluster, dep *unstructured.Unstructured) *devcluster.Process {
	t.Helper()
	args := managerArgs(t, dep)
	sa, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
	saCfg, err := c.ServiceAccountConfig(dep.GetNamespace(), sa)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(c.work, "manager.kubeconfig")
	if err := c.WriteKubeconfig(kubeconfig, saCfg); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(c.work, "manager.log")
	// The environment the Deployment gives the container: POD_UID from the Pod's metadata.uid.
	env := []string{"KUBECONFIG=" + kubeconfig}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	vars, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
	for _, v := range vars {
		m := v.(map[string]any)
		field, _, _ := unstructured.NestedString(m, "valueFrom", "fieldRef", "fieldPath")
		switch {
		case field == "metadata.uid":
			env = append(env, fmt.Sprintf("%s=%s", m["name"], "6f1c1a2e-0000-4000-8000-000000000001"))
		case m["value"] != nil:
			env = append(env, fmt.Sprintf("%s=%s", m["name"], m["value"]))
		default:
			t.Fatalf("the test does not know how to provide env %v", m)
		}
	}
	mgr, err := devcluster.StartProcess(ctx, "manager", logPath, env, managerBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mgr.Stop(10 * time.Second)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("manager log:\n%s", tailLines(string(b), 60))
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := mgr.WaitForLogLine(wctx, "Successfully acquired lease"); err != nil {
		t.Fatalf("the manager (args %v) did not become leader: %v", args, err)
	}

	// The readiness probe, as the kubelet sends it.
	readyz := "http://127.0.0.1:" + containerPort(t, dep, "health") + "/readyz"
	eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(readyz + "?verbose")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "[+]callback ok") {
			return fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	})

	return mgr
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// connect creates a FinXClient for the sandbox and a BankConnection in namespace ns, completes the
// widget as a user would and waits for Connected.
func connect(t *testing.T, ctx context.Context, c *testCluster, ns, finxURL, redirectURI string) client.ObjectKey {
	t.Helper()
	var objs []client.Object
	if err := c.admin.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); err != nil {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	objs = append(objs,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "finx-credentials"}, Type: v1.SecretTypeClientCredentials,
			StringData: map[string]string{"client_id": sandbox.DefaultClientID, "client_secret": sandbox.DefaultClientSecret}},
		&v1.FinXClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "finx"},
			Spec: v1.FinXClientSpec{BaseURL: finxURL, CredentialsSecretRef: v1.CredentialsSecretReference{Name: "finx-credentials"},
				// Under the 7-day expiry warning: the alert test needs it to fire.
				RefreshTokenLifetime: &metav1.Duration{Duration: 100 * time.Hour}}},
		&v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"},
			Spec: v1.BankConnectionSpec{ClientRef: v1.ClientReference{Name: "finx"}, UserID: "alice@example.com", RedirectURI: redirectURI}},
	)
	for _, o := range objs {
		if err := c.admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	key := client.ObjectKey{Namespace: ns, Name: "alice"}
	var link string
	eventually(t, 30*time.Second, func() error {
		var b v1.BankConnection
		if err := c.admin.Get(ctx, key, &b); err != nil {
			return err
		}
		if b.Status.Link == nil {
			return fmt.Errorf("no widget link yet (phase %q, last error %+v)", b.Status.Phase, b.Status.LastError)
		}
		link = b.Status.Link.URL
		return nil
	})
	redirect, err := sandbox.DriveWidget(ctx, http.DefaultClient, link, sandbox.DriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(redirect)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the callback answered HTTP %d", resp.StatusCode)
	}
	waitPhase(t, c, key, v1.PhaseConnected)
	return key
}

func waitPhase(t *testing.T, c *testCluster, key client.ObjectKey, phase v1.Phase) {
	t.Helper()
	eventually(t, 45*time.Second, func() error {
		var b v1.BankConnection
		if err := c.admin.Get(context.Background(), key, &b); err != nil {
			return err
		}
		if b.Status.Phase != phase {
			return fmt.Errorf("phase %q, want %q (Ready: %+v)", b.Status.Phase, phase,
				apimeta.FindStatusCondition(b.Status.Conditions, v1.ConditionReady))
		}
		return nil
	})
}

// token issues a short-lived token for a ServiceAccount through the TokenRequest API.
func token(t *testing.T, c *testCluster, ns, sa string) string {
	t.Helper()
	tr, err := c.kube.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo[int64](600)}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

func ptrTo[T any](v T) *T { return &v }

func scrape(t *testing.T, hc *http.Client, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// writeServingCert writes tls.crt, tls.key and ca.crt for dnsName (and 127.0.0.1) into a new
// directory, as cert-manager would into the metrics Secret.
func writeServingCert(t *testing.T, dnsName string) (string, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{dnsName}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	for name, block := range map[string]*pem.Block{
		"tls.crt": {Type: "CERTIFICATE", Bytes: der},
		"tls.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
		"ca.crt":  {Type: "CERTIFICATE", Bytes: caDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return dir, pool
}

// Namespaced mode: the manager's ServiceAccount may act in the listed namespaces only, and the
// manager started as the Deployment says connects a user there.
func TestInstallNamespaced(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	const ns = "finx-ns-system"
	for _, n := range []string{"tenant-x", "tenant-y"} {
		if err := c.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	// What `helm install` says afterwards (NOTES.txt), with the server validating every object.
	kubeconfig := filepath.Join(c.work, "admin.kubeconfig")
	if err := c.WriteAdminKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	notes, err := runHelm(t, "install", "finx-ns", chartDir, "--namespace", ns, "--create-namespace", "--kubeconfig", kubeconfig,
		"--dry-run=server", "--set", "watchNamespaces={tenant-x}")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kubectl finx check -A --operator-namespace " + ns, "Namespaced mode: the manager has rights only in tenant-x"} {
		if !strings.Contains(notes, want) {
			t.Errorf("helm install's notes lack %q:\n%s", want, notes)
		}
	}

	sbx := sandbox.New(sandbox.Config{})
	sbxSrv := httptest.NewServer(sbx.Handler())
	defer sbxSrv.Close()
	callbackAddr := freeAddr(t)
	dep := c.install(t, ns, render(t, ns, "watchNamespaces={tenant-x}",
		"manager.metricsBindAddress="+freeAddr(t), "manager.healthProbeBindAddress="+freeAddr(t),
		"manager.callbackBindAddress="+callbackAddr, "manager.leaderElectionNamespace="+ns,
		"allowedFinXBaseURLs={"+sbxSrv.URL+"}"))
	if args := managerArgs(t, dep); !slices.Contains(args, "--watch-namespaces=tenant-x") {
		t.Fatalf("namespaced mode without --watch-namespaces: %v", args)
	}
	sa, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
	user := "system:serviceaccount:" + ns + ":" + sa

	for _, tc := range []struct {
		ns, group, resource, sub, verb string
		allowed                        bool
	}{
		{"tenant-x", "", "secrets", "", "list", true},
		{"tenant-x", "", "secrets", "", "create", true},
		{"tenant-x", v1.GroupVersion.Group, "bankconnections", "status", "patch", true},
		{"tenant-x", v1.GroupVersion.Group, "finxclients", "", "watch", true},
		{"tenant-y", "", "secrets", "", "list", false},
		{"tenant-y", v1.GroupVersion.Group, "bankconnections", "", "list", false},
		{"", "", "secrets", "", "list", false},
		{"", v1.GroupVersion.Group, "bankconnections", "", "list", false},
		{"", v1.GroupVersion.Group, "clusterfinxclients", "", "list", true},
		{"", "", "namespaces", "", "watch", true},
		{ns, "coordination.k8s.io", "leases", "", "update", true},
		{"kube-system", "coordination.k8s.io", "leases", "", "update", false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: tc.ns, Group: tc.group,
				Resource: tc.resource, Subresource: tc.sub, Verb: tc.verb},
		}}
		if err := c.admin.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.allowed {
			t.Errorf("%s %s %s/%s in %q: allowed=%v, want %v", user, tc.verb, tc.resource, tc.sub, tc.ns, sar.Status.Allowed, tc.allowed)
		}
	}

	// With exactly these rights and the Deployment's arguments, the manager takes a connection in
	// its namespace to Connected: a permission the chart misses fails here.
	mctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	runManager(t, mctx, c, dep)
	connect(t, mctx, c, "tenant-x", sbxSrv.URL, "http://"+callbackAddr+"/callback")
}
