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

// Package chart_test tests the Helm chart in charts/finx-operator and keeps it level with the
// kustomize manifests in config/: helm lint and template, the CRDs, alerts and dashboard it ships,
// the same RBAC and manager arguments as config/default, and the rendered chart applied to a real
// API server with the manager started exactly as the rendered Deployment says. It needs helm
// (HELM, or bin/helm-* as `make helm` builds it) and the control plane (KUBEBUILDER_ASSETS).
package chart_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/testenv"
)

const (
	release   = "finx-operator"
	namespace = "finx-operator-system"
	// kubeVersion is what helm assumes the cluster runs (a helm built from source assumes 1.20).
	kubeVersion = "1.37.2"
)

var (
	repoRoot = testenv.RepoRoot()
	chartDir = filepath.Join(repoRoot, "charts", "finx-operator")
	// managerBin is built once by TestMain.
	managerBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "finx-chart-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	managerBin = filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", managerBin, "./cmd")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the manager: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// helm returns the helm binary: $HELM, else the newest bin/helm-* (built by `make helm`).
func helm(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	found, _ := filepath.Glob(filepath.Join(repoRoot, "bin", "helm-*"))
	if len(found) == 0 {
		t.Fatal("helm not found: run `make helm` (or `make test`), or set HELM")
	}
	slices.Sort(found)
	return found[len(found)-1]
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// render runs helm template for the release in namespace with --set values, CRDs included.
func render(t *testing.T, ns string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", ns, "--include-crds", "--kube-version", kubeVersion}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := devcluster.DecodeYAML([]byte(out))
	if err != nil {
		t.Fatalf("decoding helm template output: %v", err)
	}
	return objs
}

// every value that turns an optional part of the chart on.
var allOn = []string{
	"serviceMonitor.enabled=true", "metrics.tls.secretName=finx-metrics-tls",
	"prometheusRule.enabled=true", "grafanaDashboard.enabled=true", "networkPolicy.enabled=true",
	"networkPolicy.apiServer.cidrs={10.0.0.1/32}", "callback.ingress.enabled=true",
	"manager.leaderElectionNamespace=finx-operator-system", "manager.logEncoder=json",
	"manager.logStacktraceLevel=panic", "manager.logTimeEncoding=rfc3339", "manager.clientGoVerbosity=2",
	"allowedFinXBaseURLs={https://api.finx-s.qwist.cloud}", "watchNamespaces={tenant-a}",
}

func TestHelmLint(t *testing.T) {
	for name, set := range map[string][]string{
		"defaults":   nil,
		"all on":     allOn,
		"namespaced": {"watchNamespaces={tenant-a,tenant-b}"},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", "--kube-version", kubeVersion, chartDir}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			if _, err := runHelm(t, args...); err != nil {
				t.Error(err)
			}
		})
	}
}

// The schema and the templates refuse values that would render a broken installation.
func TestChartRejectsBadValues(t *testing.T) {
	for _, set := range []string{
		"replicaCount=-1",
		"manager.spendTimeout=soon",
		"manager.logLevel=loud",
		"image.pullPolicy=Sometimes",
		"serviceMonitor.enabled=true", // without a certificate the scraper could verify
		"watchNamespaces={Not_A_Namespace}",
		"replicacount=3",                  // a misspelt value is an error, not silently ignored
		"manager.spendTimout=90s",         // also among the manager's flags
		"manager.metricsBindAddress=8443", // an address, not a port
	} {
		if _, err := runHelm(t, "template", release, chartDir, "--kube-version", kubeVersion, "--set", set); err == nil {
			t.Errorf("helm template accepted --set %s", set)
		}
	}
}

func objectsOfKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func TestChartRendersEveryPart(t *testing.T) {
	objs := render(t, namespace, allOn...)
	for _, kind := range []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
		"Role", "RoleBinding", "Deployment", "Service", "Ingress", "PodDisruptionBudget", "NetworkPolicy",
		"ServiceMonitor", "PrometheusRule", "ConfigMap", "Secret"} {
		if len(objectsOfKind(objs, kind)) == 0 {
			t.Errorf("no %s rendered with every part on", kind)
		}
	}
	// The ServiceMonitor selects the metrics Service and not the callback Service.
	sm := objectsOfKind(objs, "ServiceMonitor")[0]
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	var matched []string
	for _, svc := range objectsOfKind(objs, "Service") {
		labels := svc.GetLabels()
		all := true
		for k, v := range sel {
			all = all && labels[k] == v
		}
		if all {
			matched = append(matched, svc.GetName())
		}
	}
	if !slices.Equal(matched, []string{release + "-metrics"}) {
		t.Errorf("the ServiceMonitor selects Services %v, want only %s-metrics", matched, release)
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	ep := eps[0].(map[string]any)
	if _, bad := ep["bearerTokenFile"]; bad {
		t.Error("the ServiceMonitor uses bearerTokenFile")
	}
	if skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify"); skip {
		t.Error("the ServiceMonitor skips TLS verification")
	}
	if name, _, _ := unstructured.NestedString(ep, "authorization", "credentials", "name"); name == "" {
		t.Error("the ServiceMonitor has no authorization credentials")
	}
	if ca, _, _ := unstructured.NestedString(ep, "tlsConfig", "ca", "secret", "name"); ca != "finx-metrics-tls" {
		t.Errorf("the ServiceMonitor verifies with CA secret %q", ca)
	}
	// The Deployment mounts the metrics certificate where --metrics-cert-dir points.
	args := managerArgs(t, objectsOfKind(objs, "Deployment")[0])
	if !slices.Contains(args, "--metrics-cert-dir=/etc/finx-operator/metrics-tls") { // the default mount path
		t.Errorf("metrics TLS: args %v", args)
	}
	// Both replicas never go at once, and they spread.
	pdb := objectsOfKind(objs, "PodDisruptionBudget")[0]
	if mu, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "maxUnavailable"); fmt.Sprint(mu) != "1" {
		t.Errorf("PDB maxUnavailable %v", mu)
	}
	tsc, _, _ := unstructured.NestedSlice(objectsOfKind(objs, "Deployment")[0].Object, "spec", "template", "spec", "topologySpreadConstraints")
	if len(tsc) != 2 {
		t.Errorf("topology spread constraints: %v", tsc)
	}
	// The NetworkPolicy lets in the callback, the scrape and the probes, and lets out DNS, the API
	// server (by the address given) and HTTPS to finX.
	np := objectsOfKind(objs, "NetworkPolicy")[0]
	in, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	out, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
	var inPorts []string
	for _, r := range in {
		ports, _, _ := unstructured.NestedSlice(r.(map[string]any), "ports")
		inPorts = append(inPorts, fmt.Sprint(ports[0].(map[string]any)["port"]))
	}
	if !slices.Equal(inPorts, []string{"callback", "metrics", "health"}) || len(out) != 3 {
		t.Errorf("NetworkPolicy ingress ports %v, %d egress rules", inPorts, len(out))
	}
	if apiTo, _, _ := unstructured.NestedSlice(out[1].(map[string]any), "to"); len(apiTo) != 1 {
		t.Errorf("egress to the API server is not limited to its address: %v", out[1])
	}
}

func managerArgs(t *testing.T, dep *unstructured.Unstructured) []string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		m := c.(map[string]any)
		if m["name"] == "manager" {
			args, _, _ := unstructured.NestedStringSlice(m, "args")
			return args
		}
	}
	t.Fatalf("Deployment %s has no manager container", dep.GetName())
	return nil
}

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{repoRoot}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The chart's CRDs are copies of the generated ones (`make manifests` copies them).
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	generated, _ := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	inChart, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if len(generated) == 0 || len(generated) != len(inChart) {
		t.Fatalf("config/crd/bases has %d CRDs, the chart %d: run make manifests", len(generated), len(inChart))
	}
	for _, g := range generated {
		name := filepath.Base(g)
		if !bytes.Equal(readFile(t, "config", "crd", "bases", name), readFile(t, "charts", "finx-operator", "crds", name)) {
			t.Errorf("charts/finx-operator/crds/%s differs from config/crd/bases: run make manifests", name)
		}
	}
}
