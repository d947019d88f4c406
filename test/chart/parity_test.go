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
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/finx-operator/finx-operator/internal/devcluster"
)

// rbacKey names a role the same way in both renderings: its kind, and its name without the
// release's or kustomize's prefix.
func rbacKey(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + strings.TrimPrefix(o.GetName(), "finx-operator-")
}

// ruleSet flattens a role's rules into sorted "group resource verb" (or "url verb") triples, so
// that two ways of grouping the same permissions compare equal.
func ruleSet(t *testing.T, o *unstructured.Unstructured) []string {
	t.Helper()
	rules, _, err := unstructured.NestedSlice(o.Object, "rules")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rules {
		m := r.(map[string]any)
		strs := func(k string) []string {
			s, _, _ := unstructured.NestedStringSlice(m, k)
			return s
		}
		for _, verb := range strs("verbs") {
			for _, url := range strs("nonResourceURLs") {
				out = append(out, "url "+url+" "+verb)
			}
			for _, g := range strs("apiGroups") {
				for _, res := range strs("resources") {
					out = append(out, fmt.Sprintf("%q %s %s", g, res, verb))
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func roles(t *testing.T, objs []*unstructured.Unstructured) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" || o.GetKind() == "Role" {
			out[rbacKey(o)] = ruleSet(t, o)
		}
	}
	return out
}

// The chart grants the same permissions under the same role names, and runs the manager with the
// same arguments, as config/default (cluster-wide) and config/namespaced (its sample namespace).
func TestChartMatchesKustomize(t *testing.T) {
	for dir, set := range map[string][]string{
		"default":    nil,
		"namespaced": {"watchNamespaces={banking}"},
	} {
		t.Run(dir, func(t *testing.T) {
			kustomized, err := devcluster.RenderKustomization(filepath.Join(repoRoot, "config", dir))
			if err != nil {
				t.Fatal(err)
			}
			compareInstalls(t, kustomized, render(t, namespace, set...))
		})
	}
}

func compareInstalls(t *testing.T, kustomized, charted []*unstructured.Unstructured) {
	t.Helper()

	want, got := roles(t, kustomized), roles(t, charted)
	for name, rules := range want {
		if !slices.Equal(got[name], rules) {
			t.Errorf("%s: the chart grants\n  %s\nconfig/default grants\n  %s", name,
				strings.Join(got[name], "\n  "), strings.Join(rules, "\n  "))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("the chart has %s, config/default does not", name)
		}
	}

	bindings := func(objs []*unstructured.Unstructured) []string {
		var out []string
		for _, o := range objs {
			if o.GetKind() == "ClusterRoleBinding" || o.GetKind() == "RoleBinding" {
				ref, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
				subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
				for _, s := range subjects {
					m := s.(map[string]any)
					out = append(out, fmt.Sprintf("%s %s -> %s/%s %s", o.GetKind(), ref, m["namespace"], m["name"], o.GetNamespace()))
				}
			}
		}
		sort.Strings(out)
		return out
	}
	if k, c := bindings(kustomized), bindings(charted); !slices.Equal(k, c) {
		t.Errorf("bindings differ:\nconfig/default:\n  %s\nchart:\n  %s", strings.Join(k, "\n  "), strings.Join(c, "\n  "))
	}

	kDep, cDep := objectsOfKind(kustomized, "Deployment")[0], objectsOfKind(charted, "Deployment")[0]
	kArgs, cArgs := managerArgs(t, kDep), managerArgs(t, cDep)
	if !slices.Equal(kArgs, cArgs) {
		t.Errorf("manager arguments differ:\nconfig/default: %v\nchart:          %v", kArgs, cArgs)
	}
	// The environment too: POD_UID is the manager's instance identity.
	if k, c := managerEnv(t, kDep), managerEnv(t, cDep); k != c || !strings.Contains(k, "POD_UID") {
		t.Errorf("manager environment differs:\nconfig/default: %s\nchart:          %s", k, c)
	}
	for _, field := range []string{"terminationGracePeriodSeconds", "replicas"} {
		path := []string{"spec", "template", "spec", field}
		if field == "replicas" {
			path = []string{"spec", field}
		}
		k, _, _ := unstructured.NestedFieldNoCopy(kDep.Object, path...)
		c, _, _ := unstructured.NestedFieldNoCopy(cDep.Object, path...)
		if fmt.Sprint(k) != fmt.Sprint(c) {
			t.Errorf("%s: config/default %v, chart %v", field, k, c)
		}
	}
}

var flagLine = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)

// managerFlags lists the flags the manager binary defines, from its -help output.
func managerFlags(t *testing.T) []string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(managerBin, "-help")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // -help exits 0 or 2 depending on the flag package; the text is what matters
	var flags []string
	for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 5 {
		t.Fatalf("could not read the manager's flags from:\n%s", out.String())
	}
	return flags
}

// Every manager flag is a chart value, and the chart passes no flag the manager does not know.
func TestEveryManagerFlagIsAValue(t *testing.T) {
	known := managerFlags(t)
	// Not for a Deployment: printing the version, a kubeconfig (a Pod uses its ServiceAccount), and
	// the instance id, which is each Pod's own UID (the POD_UID variable the Deployment sets).
	notValues := []string{"version", "kubeconfig", "instance-id"}
	args := managerArgs(t, objectsOfKind(render(t, namespace, allOn...), "Deployment")[0])
	passed := map[string]bool{}
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		passed[name] = true
		if !slices.Contains(known, name) {
			t.Errorf("the chart passes %s, which the manager does not define", a)
		}
	}
	for _, f := range known {
		if !passed[f] && !slices.Contains(notValues, f) {
			t.Errorf("manager flag --%s is not a chart value", f)
		}
	}
}

// config/production renders config/default's pieces and the overlays: the monitoring component with
// its Secret names prefixed inside the ServiceMonitor, the NetworkPolicy, the dashboard and the PDB.
func TestKustomizeOverlays(t *testing.T) {
	dir := filepath.Join(repoRoot, "config", "production")
	objs, err := devcluster.RenderKustomization(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "PodDisruptionBudget", "ConfigMap"} {
		if len(objectsOfKind(objs, kind)) != 1 {
			t.Errorf("%d %s objects, want 1", len(objectsOfKind(objs, kind)), kind)
		}
	}
	sm := objectsOfKind(objs, "ServiceMonitor")[0]
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	token, _, _ := unstructured.NestedString(eps[0].(map[string]any), "authorization", "credentials", "name")
	ca, _, _ := unstructured.NestedString(eps[0].(map[string]any), "tlsConfig", "ca", "secret", "name")
	if token != "finx-operator-metrics-scraper-token" || ca != "finx-operator-metrics-tls" {
		t.Errorf("ServiceMonitor Secrets %q and %q: not the prefixed names", token, ca)
	}
	// It selects the metrics Service only.
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for _, svc := range objectsOfKind(objs, "Service") {
		match := true
		for k, v := range sel {
			match = match && svc.GetLabels()[k] == v
		}
		if match != (svc.GetName() == "finx-operator-metrics") {
			t.Errorf("the ServiceMonitor selector %v matches Service %s: %v", sel, svc.GetName(), match)
		}
	}
	args := managerArgs(t, objectsOfKind(objs, "Deployment")[0])
	if !slices.Contains(args, "--metrics-cert-dir=/etc/finx-operator/metrics-tls") {
		t.Errorf("the monitoring component does not give the manager its certificate: %v", args)
	}
	cm := objectsOfKind(objs, "ConfigMap")[0]
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetName() != "finx-operator-dashboard" {
		t.Errorf("dashboard ConfigMap %s labels %v", cm.GetName(), cm.GetLabels())
	}
}

// A flag the manager does not know stops it at once: the install test would fail, not run on.
func TestManagerRefusesRenderedUnknownFlag(t *testing.T) {
	args := managerArgs(t, objectsOfKind(render(t, namespace, "manager.extraArgs={--no-such-flag=1}"), "Deployment")[0])
	if !slices.Contains(args, "--no-such-flag=1") {
		t.Fatalf("extraArgs not rendered: %v", args)
	}
	out, err := exec.Command(managerBin, args...).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "flag provided but not defined: -no-such-flag") {
		t.Errorf("the manager with an unknown flag: %v\n%s", err, out)
	}
}

func managerEnv(t *testing.T, dep *unstructured.Unstructured) string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
	return fmt.Sprint(env)
}
