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

package devcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// assets returns the directory with the control-plane binaries. A run without
// it fails rather than passing silently with nothing tested.
func assets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export " +
			"KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh) (the directory holding etcd and kube-apiserver)")
	}
	return dir
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// testWriter turns Options.Stdout's progress lines into test log lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func crdYAML(plural, kind string) string {
	return `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ` + plural + `.devcluster.test
spec:
  group: devcluster.test
  names: {kind: ` + kind + `, listKind: ` + kind + `List, plural: ` + plural + `, singular: ` + strings.ToLower(kind) + `}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`
}

func mustDecode(t *testing.T, y string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := DecodeYAML([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// eventually polls cond until it returns nil or timeout passes, then fails with
// cond's last error.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func whoAmI(t *testing.T, cfg *rest.Config) authenticationv1.UserInfo {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.UserInfo
}

const (
	saNamespace = "finx-operator-system"
	saName      = "finx-operator-controller-manager"
	saUser      = "system:serviceaccount:" + saNamespace + ":" + saName
)

// TestCluster starts one cluster (with the controller manager when it was
// built) and runs every cluster subtest against it, to keep the run short.
func TestCluster(t *testing.T) {
	bin := assets(t)
	withKCM := checkExecutable(filepath.Join(bin, KubeControllerManager)) == nil
	if !withKCM {
		t.Logf("kube-controller-manager is not in %s: the garbage-collection subtest will be skipped "+
			"(build it with hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager)", bin)
	}
	ctx := t.Context()
	workDir := t.TempDir()
	began := time.Now()
	c, err := Start(ctx, Options{
		BinDir:                bin,
		WorkDir:               workDir,
		WithControllerManager: withKCM,
		Stdout:                testWriter{t},
		// Widgets own ConfigMaps in the garbage-collection subtest.
		Manifests: mustDecode(t, crdYAML("widgets", "Widget")),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	t.Logf("Start took %s (controller manager: %v)", time.Since(began).Round(time.Millisecond), withKCM)
	admin := kubernetes.NewForConfigOrDie(c.AdminConfig())

	t.Run("ProcessNamesRunningComponents", func(t *testing.T) {
		for _, name := range []string{Etcd, KubeAPIServer} {
			p := c.Process(name)
			if p == nil || p.Name() != name || p.Pid() <= 0 || p.Exited() {
				t.Fatalf("Process(%q) = %v: want the running component", name, p)
			}
		}
		if got := c.Process(KubeControllerManager) != nil; got != withKCM {
			t.Errorf("Process(%q) found: %v, want %v", KubeControllerManager, got, withKCM)
		}
		if c.Process("no-such-component") != nil {
			t.Error("Process of an unknown component is not nil")
		}
	})

	t.Run("AdminCreatesNamespace", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "admin-made"}}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(whoAmI(t, c.AdminConfig()).Groups, "system:masters") {
			t.Fatal("the admin is not in system:masters")
		}
	})

	t.Run("ServiceAccountGetsOnlyItsRBAC", func(t *testing.T) {
		saCfg, err := c.ServiceAccountConfig(saNamespace, saName)
		if err != nil {
			t.Fatal(err)
		}
		who := whoAmI(t, saCfg)
		if who.Username != saUser || !slices.Contains(who.Groups, "system:serviceaccounts:"+saNamespace) {
			t.Fatalf("authenticated as %q %v, want %q with its ServiceAccount groups", who.Username, who.Groups, saUser)
		}
		sa := kubernetes.NewForConfigOrDie(saCfg)
		_, err = sa.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), saUser) {
			t.Fatalf("listing Secrets before any binding: got %v, want Forbidden for %s", err, saUser)
		}
		err = ServerSideApply(ctx, c.AdminConfig(), mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: secret-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: `+saName+`, namespace: `+saNamespace+`}
`), "devcluster-test")
		if err != nil {
			t.Fatal(err)
		}
		// The authorizer sees new bindings through a watch, a moment later.
		eventually(t, 10*time.Second, func() error {
			_, err := sa.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			return err
		})
		// Bound to list Secrets, nothing more: not an admin in disguise.
		if _, err := sa.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing ConfigMaps: got %v, want Forbidden", err)
		}
	})

	t.Run("UserGroupsComeFromTheCertificate", func(t *testing.T) {
		err := ServerSideApply(ctx, c.AdminConfig(), mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: configmap-reader}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-read-configmaps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: configmap-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: finx-devs}
`), "devcluster-test")
		if err != nil {
			t.Fatal(err)
		}
		janeCfg, err := c.UserConfig("jane", "finx-devs")
		if err != nil {
			t.Fatal(err)
		}
		bobCfg, err := c.UserConfig("bob")
		if err != nil {
			t.Fatal(err)
		}
		jane, bob := kubernetes.NewForConfigOrDie(janeCfg), kubernetes.NewForConfigOrDie(bobCfg)
		eventually(t, 10*time.Second, func() error {
			_, err := jane.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
			return err
		})
		if _, err := bob.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("bob (no groups) listing ConfigMaps: got %v, want Forbidden", err)
		}
	})

	t.Run("Kubeconfigs", func(t *testing.T) {
		dir := t.TempDir()
		adminPath := filepath.Join(dir, "admin.kubeconfig")
		if err := c.WriteAdminKubeconfig(adminPath); err != nil {
			t.Fatal(err)
		}
		saCfg, err := c.ServiceAccountConfig(saNamespace, saName)
		if err != nil {
			t.Fatal(err)
		}
		saPath := filepath.Join(dir, "sub", "manager.kubeconfig")
		if err := c.WriteKubeconfig(saPath, saCfg); err != nil {
			t.Fatal(err)
		}
		for path, user := range map[string]string{adminPath: "devcluster-admin", saPath: saUser} {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600: it holds a private key", path, st.Mode().Perm())
			}
			// Loaded the way another process (or kubectl) would load it.
			cfg, err := clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				t.Fatal(err)
			}
			if got := whoAmI(t, cfg).Username; got != user {
				t.Errorf("%s authenticates as %q, want %q", path, got, user)
			}
		}
	})

	t.Run("ApplyCRDAndItsObjectsInOneCall", func(t *testing.T) {
		gadget := func(color string) string {
			return crdYAML("gadgets", "Gadget") + `
---
apiVersion: devcluster.test/v1
kind: Gadget
metadata: {name: g1}
spec: {color: ` + color + `}
`
		}
		// The Gadget comes first on purpose: the CRD must still be applied and
		// established before it.
		objs := mustDecode(t, gadget("red"))
		slices.Reverse(objs)
		if err := ServerSideApply(ctx, c.AdminConfig(), objs, "devcluster-test"); err != nil {
			t.Fatal(err)
		}
		// Applying an edited manifest again updates the object.
		if err := ServerSideApply(ctx, c.AdminConfig(), mustDecode(t, gadget("blue")), "devcluster-test"); err != nil {
			t.Fatal(err)
		}
		dyn := dynamic.NewForConfigOrDie(c.AdminConfig())
		g, err := dyn.Resource(schema.GroupVersionResource{Group: "devcluster.test", Version: "v1", Resource: "gadgets"}).
			Namespace("default").Get(ctx, "g1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if color, _, _ := unstructured.NestedString(g.Object, "spec", "color"); color != "blue" {
			t.Fatalf("spec.color = %q after re-applying, want blue", color)
		}

		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err = ServerSideApply(short, c.AdminConfig(), mustDecode(t, "apiVersion: nowhere.test/v1\nkind: Ghost\nmetadata: {name: x}\n"), "devcluster-test")
		if err == nil || !strings.Contains(err.Error(), "no kind Ghost") {
			t.Fatalf("applying an unknown kind: got %v, want an error naming the kind", err)
		}
	})

	t.Run("ControllerManager", func(t *testing.T) {
		if !withKCM {
			t.Skipf("kube-controller-manager is not in %s; build it with hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager", bin)
		}
		dyn := dynamic.NewForConfigOrDie(c.AdminConfig())
		widgets := dyn.Resource(schema.GroupVersionResource{Group: "devcluster.test", Version: "v1", Resource: "widgets"}).Namespace("default")
		configMaps := admin.CoreV1().ConfigMaps("default")

		owner, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := ServerSideApply(ctx, c.AdminConfig(), mustDecode(t, "apiVersion: devcluster.test/v1\nkind: Widget\nmetadata: {name: w1}\n"), "devcluster-test"); err != nil {
			t.Fatal(err)
		}
		widget, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dependent := func(name, apiVersion, kind, ownerName, uid string) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{
				{APIVersion: apiVersion, Kind: kind, Name: ownerName, UID: types.UID(uid)},
			}}}
			if _, err := configMaps.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		dependent("dep-of-configmap", "v1", "ConfigMap", owner.Name, string(owner.UID))
		dependent("dep-of-widget", "devcluster.test/v1", "Widget", "w1", string(widget.GetUID()))

		if err := configMaps.Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := widgets.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		// Widget's CRD came with Options.Manifests, so the collector watches
		// Widgets from the start and needs no 30-second rediscovery.
		for _, name := range []string{"dep-of-configmap", "dep-of-widget"} {
			eventually(t, 20*time.Second, func() error {
				_, err := configMaps.Get(ctx, name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					return nil
				}
				return errors.Join(err, errors.New(name+" still exists"))
			})
		}
		t.Logf("dependents collected %s after their owners were deleted", time.Since(deleted).Round(time.Millisecond))

		// The namespace controller empties and removes a deleted namespace.
		ns, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := admin.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func() error {
			_, err := admin.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return errors.Join(err, errors.New("namespace doomed still exists"))
		})
	})

	t.Run("AggregatedClusterRoles", func(t *testing.T) {
		if !withKCM {
			t.Skipf("kube-controller-manager is not in %s; build it with hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager", bin)
		}
		// view is aggregated from roles labelled aggregate-to-view, like the
		// project's bankconnection-viewer-role; its controller fills it in.
		eventually(t, 10*time.Second, func() error {
			view, err := admin.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(view.Rules) == 0 {
				return errors.New("ClusterRole view has no rules")
			}
			return nil
		})
	})

	t.Run("WorkDirIsLocked", func(t *testing.T) {
		_, err := Start(ctx, Options{BinDir: bin, WorkDir: workDir})
		if err == nil || !strings.Contains(err.Error(), "in use by another running cluster") {
			t.Fatalf("second Start in the same WorkDir: got %v, want an in-use error", err)
		}
	})

	t.Run("StopEndsEverything", func(t *testing.T) {
		procs := slices.Clone(c.procs)
		// A component dying mid-run must show in Stop's error.
		if err := procs[1].Kill(); err != nil {
			t.Fatal(err)
		}
		err := c.Stop()
		if err == nil || !strings.Contains(err.Error(), "kube-apiserver had exited on its own (signal: killed)") {
			t.Fatalf("Stop after the API server died: %v, want it reported", err)
		}
		if strings.Contains(err.Error(), "etcd") || strings.Contains(err.Error(), "was killed") {
			t.Errorf("the other components did not stop cleanly: %v", err)
		}
		if again := c.Stop(); again != err {
			t.Fatalf("second Stop: %v, want the first one's result", again)
		}
		for _, p := range procs {
			if !p.Exited() {
				t.Errorf("%s still running after Stop", p.Name())
			}
			waitGone(t, p.Pid())
		}
		if err := PortFree(strings.TrimPrefix(c.AdminConfig().Host, "https://")); err != nil {
			t.Errorf("API server port after Stop: %v", err)
		}
		lock, err := lockWorkDir(workDir)
		if err != nil {
			t.Fatalf("WorkDir still locked after Stop: %v", err)
		}
		lock.Close()
	})
}

func TestStartReportsMissingBinaries(t *testing.T) {
	_, err := Start(t.Context(), Options{BinDir: t.TempDir(), WorkDir: t.TempDir(), WithControllerManager: true})
	if err == nil || !strings.Contains(err.Error(), "etcd: not found") || !strings.Contains(err.Error(), "hack/build-control-plane.sh") {
		t.Fatalf("got %v, want an error naming etcd and the build script", err)
	}
}

func TestStartReportsFailingComponent(t *testing.T) {
	bin := assets(t)
	// An API server that rejects its flags stands for any component failing
	// at start-up: the error must name it, point at its log and quote it.
	fake := t.TempDir()
	for _, name := range []string{Etcd, KubeAPIServer} {
		target := filepath.Join(bin, name)
		if name == KubeAPIServer {
			script := "#!/bin/sh\necho 'E0101 run.go:72] \"command failed\" err=\"bad flag\"' >&2\nexit 1\n"
			if err := os.WriteFile(filepath.Join(fake, name), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Symlink(target, filepath.Join(fake, name)); err != nil {
			t.Fatal(err)
		}
	}
	workDir := t.TempDir()
	_, err := Start(t.Context(), Options{BinDir: fake, WorkDir: workDir})
	if err == nil {
		t.Fatal("Start succeeded with a failing kube-apiserver")
	}
	for _, want := range []string{"kube-apiserver exited during start-up", filepath.Join(workDir, "logs", "kube-apiserver.log"), "bad flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// etcd had started: the failed Start must have stopped it and unlocked.
	lock, lerr := lockWorkDir(workDir)
	if lerr != nil {
		t.Fatalf("WorkDir still locked after a failed Start: %v", lerr)
	}
	lock.Close()
}

func TestStartRetriesOnPortConflict(t *testing.T) {
	bin := assets(t)
	// An etcd whose first run finds its port taken, as when another program
	// grabs a port between FreePort and its use.
	fake := t.TempDir()
	marker := filepath.Join(fake, "failed-once")
	script := "#!/bin/sh\n" +
		"if [ ! -e " + marker + " ]; then\n" +
		"  touch " + marker + "\n" +
		"  echo '{\"level\":\"fatal\",\"msg\":\"listen tcp: bind: address already in use\"}' >&2\n" +
		"  exit 1\n" +
		"fi\n" +
		"exec " + filepath.Join(bin, Etcd) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(fake, Etcd), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(bin, KubeAPIServer), filepath.Join(fake, KubeAPIServer)); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	c, err := Start(t.Context(), Options{BinDir: fake, WorkDir: t.TempDir(), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if !strings.Contains(out.String(), "etcd found its port taken by another program; retrying") {
		t.Errorf("no retry reported; progress was:\n%s", out.String())
	}
	if _, err := kubernetes.NewForConfigOrDie(c.AdminConfig()).Discovery().ServerVersion(); err != nil {
		t.Fatal(err)
	}
}

func TestStartInterrupted(t *testing.T) {
	bin := assets(t)
	workDir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := Start(ctx, Options{BinDir: bin, WorkDir: workDir})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Start with a context ending during start-up: %v, want an interrupted error", err)
	}
	lock, lerr := lockWorkDir(workDir)
	if lerr != nil {
		t.Fatalf("WorkDir still locked after an interrupted Start: %v", lerr)
	}
	lock.Close()
}

func TestRenderKustomization(t *testing.T) {
	objs, err := RenderKustomization(filepath.Join(repoRoot(), "config", "rbac"))
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind, name string) *unstructured.Unstructured {
		for _, o := range objs {
			if o.GetKind() == kind && o.GetName() == name {
				return o
			}
		}
		return nil
	}
	role := find("ClusterRole", "manager-role")
	if role == nil {
		t.Fatalf("config/rbac renders no ClusterRole manager-role; got %d objects", len(objs))
	}
	if rules, _, _ := unstructured.NestedSlice(role.Object, "rules"); len(rules) == 0 {
		t.Error("ClusterRole manager-role has no rules")
	}
	for _, want := range [][2]string{{"ClusterRoleBinding", "manager-rolebinding"}, {"ServiceAccount", "controller-manager"}} {
		if find(want[0], want[1]) == nil {
			t.Errorf("config/rbac renders no %s %s", want[0], want[1])
		}
	}

	// Kustomize's transformers run, not just a file concatenation.
	dir := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "namespace: shop\nnamePrefix: my-\nresources: [cm.yaml]\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, err = RenderKustomization(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].GetName() != "my-settings" || objs[0].GetNamespace() != "shop" {
		t.Fatalf("got %v, want one ConfigMap shop/my-settings", objs)
	}

	if _, err := RenderKustomization(t.TempDir()); err == nil {
		t.Error("rendering a directory without a kustomization succeeded")
	}
}

func TestDecodeYAML(t *testing.T) {
	objs, err := DecodeYAML([]byte(`
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Secret, metadata: {name: b}}
- {apiVersion: v1, kind: Namespace, metadata: {name: c}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	if want := []string{"ConfigMap/a", "Secret/b", "Namespace/c"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := DecodeYAML([]byte("metadata: {name: a}\n")); err == nil || !strings.Contains(err.Error(), "no apiVersion or kind") {
		t.Fatalf("a document without kind: got %v", err)
	}
	if _, err := DecodeYAML([]byte("kind: [unclosed\n")); err == nil {
		t.Fatal("malformed YAML decoded without error")
	}
}
