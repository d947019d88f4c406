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

package devstack

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/testenv"
)

func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := devcluster.RenderKustomization(filepath.Join(testenv.RepoRoot(), "config", dir))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func rules(t *testing.T, o *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	var r rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
		t.Fatal(err)
	}
	return r.Rules
}

// verbsOn collects the verbs a set of rules grants on one resource.
func verbsOn(rs []rbacv1.PolicyRule, resource string) []string {
	var out []string
	for _, r := range rs {
		if slices.Contains(r.Resources, resource) {
			out = append(out, r.Verbs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// The manager's role holds exactly the verbs its code uses (controllers/rbac.go says why each).
func TestManagerRoleIsLeastPrivilege(t *testing.T) {
	role := find(render(t, "default"), "ClusterRole", "finx-operator-manager-role")
	if role == nil {
		t.Fatal("config/default has no manager role")
	}
	rs := rules(t, role)
	for resource, want := range map[string]string{
		"secrets":                    "create,delete,get,list,update,watch",
		"bankconnections":            "get,list,watch",
		"bankconnections/status":     "patch",
		"finxclients/status":         "patch",
		"clusterfinxclients/status":  "patch",
		"bankconnections/finalizers": "",
		"namespaces":                 "get,list,watch",
		"events":                     "create,patch",
	} {
		if got := strings.Join(verbsOn(rs, resource), ","); got != want {
			t.Errorf("%s: verbs %q, want %q", resource, got, want)
		}
	}
}

// Tenants edit BankConnections only; client administrators may write but never read Secrets.
func TestPeopleRolesSplitTenantsFromClientAdmins(t *testing.T) {
	objs := render(t, "default")
	editor := rules(t, find(objs, "ClusterRole", "finx-operator-bankconnection-editor-role"))
	if v := verbsOn(editor, "secrets"); len(v) > 0 {
		t.Errorf("the tenant role grants %v on Secrets", v)
	}
	if v := verbsOn(editor, "finxclients"); !slices.Equal(v, []string{"get", "list", "watch"}) {
		t.Errorf("the tenant role grants %v on FinXClients, want read only", v)
	}
	admin := find(objs, "ClusterRole", "finx-operator-finxclient-admin-role")
	if admin == nil {
		t.Fatal("config/default has no finxclient-admin-role")
	}
	if v := verbsOn(rules(t, admin), "secrets"); !slices.Equal(v, []string{"create", "delete", "update"}) {
		t.Errorf("the client-admin role grants %v on Secrets, want create, delete, update (no read)", v)
	}
}

func TestNamespacedInstallBindsNoSecretAccessClusterWide(t *testing.T) {
	objs := render(t, "namespaced")
	if find(objs, "ClusterRoleBinding", ClusterRoleBindingName) != nil {
		t.Error("config/namespaced binds the manager's role cluster-wide")
	}
	for _, o := range objs {
		if o.GetKind() != "ClusterRoleBinding" {
			continue
		}
		var b rbacv1.ClusterRoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
			t.Fatal(err)
		}
		role := find(objs, "ClusterRole", b.RoleRef.Name)
		if role == nil {
			t.Fatalf("%s refers to a missing ClusterRole %s", b.Name, b.RoleRef.Name)
		}
		if v := verbsOn(rules(t, role), "secrets"); len(v) > 0 && slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == OperatorServiceAccount
		}) {
			t.Errorf("%s grants the operator %v on Secrets cluster-wide", b.Name, v)
		}
	}
	var rb *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "RoleBinding" && o.GetNamespace() == "banking" {
			rb = o
		}
	}
	if rb == nil {
		t.Fatal("config/namespaced has no RoleBinding for the watched namespace")
	}
	var b rbacv1.RoleBinding
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(rb.Object, &b); err != nil {
		t.Fatal(err)
	}
	if b.RoleRef.Name != "finx-operator-manager-role" || len(b.Subjects) != 1 ||
		b.Subjects[0].Name != OperatorServiceAccount || b.Subjects[0].Namespace != OperatorNamespace {
		t.Errorf("RoleBinding: %+v", b)
	}
	dep := find(objs, "Deployment", "finx-operator-controller-manager")
	args, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if !strings.Contains(strings.ReplaceAll(stringOf(args), " ", ""), "--watch-namespaces=banking") {
		t.Error("the namespaced Deployment does not pass --watch-namespaces")
	}
	extra, err := NamespacedRBAC(testenv.RepoRoot(), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) != 4 {
		t.Errorf("NamespacedRBAC for two namespaces: %d objects, want the cluster-scope role, its binding and two RoleBindings", len(extra))
	}
}

func stringOf(v any) string {
	var b strings.Builder
	for _, c := range v.([]any) {
		for _, a := range c.(map[string]any)["args"].([]any) {
			b.WriteString(a.(string) + " ")
		}
	}
	return b.String()
}
