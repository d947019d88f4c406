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

// Package devstack runs the whole product on one machine: a local control plane (etcd,
// kube-apiserver, kube-controller-manager), the operator's CRDs and RBAC from config/, the finX
// sandbox and one or more manager replicas as separate processes. `make demo` and the end-to-end
// tests both use it, so the demo is exactly what the tests check.
package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
)

// The operator's identity as config/default installs it: the manager runs as this ServiceAccount,
// with exactly the RBAC in config/rbac.
const (
	OperatorNamespace      = "finx-operator-system"
	OperatorServiceAccount = "finx-operator-controller-manager"
)

// Options configure a Stack.
type Options struct {
	RepoRoot string // where config/ lives
	// ControlPlaneDir holds etcd, kube-apiserver and kube-controller-manager.
	ControlPlaneDir string
	WorkDir         string // logs, kubeconfigs, data
	ManagerBin      string
	SandboxBin      string
	// SandboxAddr and CallbackAddr are where the sandbox and the manager's callback endpoint
	// listen ("127.0.0.1:0" style addresses are not allowed: the samples name fixed ports).
	SandboxAddr  string
	CallbackAddr string
	// SandboxArgs are extra flags for finx-sandbox (token lifetimes, test controls).
	SandboxArgs []string
	// ManagerArgs are extra flags for every manager replica.
	ManagerArgs []string
	// ExtraAllowedBaseURLs are finX base URLs the managers may use besides the sandbox's (another
	// sandbox on loopback, say).
	ExtraAllowedBaseURLs []string
	// Out receives progress lines; process logs go to files under WorkDir/logs.
	Out io.Writer
}

// Stack is a running local installation.
type Stack struct {
	o       Options
	Cluster *devcluster.Cluster
	Sandbox *devcluster.Process
	// Admin is a client with cluster-admin rights (for the person or test watching).
	Admin           client.Client
	AdminKubeconfig string
	// operatorKubeconfig authenticates as the operator's ServiceAccount.
	operatorKubeconfig string
	operatorConfig     *rest.Config
	managers           []*devcluster.Process
}

// Scheme knows the core types and the operator's API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1.AddToScheme(s)
	return s
}

// Start brings everything up except the managers (see StartManager). On error it stops whatever
// it started.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	for _, addr := range []string{o.SandboxAddr, o.CallbackAddr} {
		if err := devcluster.PortFree(addr); err != nil {
			return nil, err
		}
	}
	objs, err := operatorManifests(o.RepoRoot)
	if err != nil {
		return nil, err
	}
	crds, rest := splitCRDs(objs)
	s = &Stack{o: o}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	fmt.Fprintln(o.Out, "starting a local control plane (etcd, kube-apiserver, kube-controller-manager)")
	s.Cluster, err = devcluster.Start(ctx, devcluster.Options{
		BinDir: o.ControlPlaneDir, WorkDir: filepath.Join(o.WorkDir, "cluster"),
		WithControllerManager: true, Manifests: crds,
	})
	if err != nil {
		return s, err
	}
	s.AdminKubeconfig = filepath.Join(o.WorkDir, "kubeconfig")
	if err := s.Cluster.WriteAdminKubeconfig(s.AdminKubeconfig); err != nil {
		return s, err
	}
	if s.Admin, err = client.New(s.Cluster.AdminConfig(), client.Options{Scheme: Scheme()}); err != nil {
		return s, err
	}
	fmt.Fprintln(o.Out, "installing the CRDs and the RBAC from config/default (server-side apply)")
	if err := devcluster.ServerSideApply(ctx, s.Cluster.AdminConfig(), rest, "finx-devstack"); err != nil {
		return s, fmt.Errorf("applying config/default: %w", err)
	}
	saCfg, err := s.Cluster.ServiceAccountConfig(OperatorNamespace, OperatorServiceAccount)
	if err != nil {
		return s, err
	}
	s.operatorConfig = saCfg
	s.operatorKubeconfig = filepath.Join(o.WorkDir, "operator.kubeconfig")
	if err := s.Cluster.WriteKubeconfig(s.operatorKubeconfig, saCfg); err != nil {
		return s, err
	}
	fmt.Fprintf(o.Out, "starting the finX sandbox on http://%s\n", o.SandboxAddr)
	args := append([]string{"--listen", o.SandboxAddr}, o.SandboxArgs...)
	s.Sandbox, err = devcluster.StartProcess(ctx, "finx-sandbox", s.logPath("finx-sandbox"), nil, o.SandboxBin, args...)
	if err != nil {
		return s, err
	}
	if err := waitLine(ctx, s.Sandbox, "finx-sandbox listening on", 30*time.Second); err != nil {
		return s, err
	}
	return s, nil
}

// StartManager starts a manager replica as the operator's ServiceAccount, with leader election.
// callbackAddr "" uses Options.CallbackAddr. extraArgs come after Options.ManagerArgs. The replica's
// log is WorkDir/logs/<name>.log.
func (s *Stack) StartManager(ctx context.Context, name, callbackAddr string, extraArgs ...string) (*devcluster.Process, error) {
	return s.StartManagerWith(ctx, name, callbackAddr, s.operatorKubeconfig, extraArgs...)
}

// StartManagerWith starts a manager replica that reaches the API server through kubeconfig (a
// fault proxy's, say). Each replica name is an instance: a replica restarted under its name is
// the same instance, as a container restarted in its Pod is.
func (s *Stack) StartManagerWith(ctx context.Context, name, callbackAddr, kubeconfig string, extraArgs ...string) (*devcluster.Process, error) {
	if callbackAddr == "" {
		callbackAddr = s.o.CallbackAddr
	}
	probe, err := devcluster.FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--leader-elect",
		"--leader-election-namespace", OperatorNamespace,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(probe),
		"--callback-bind-address", callbackAddr,
		// The sandbox runs on loopback, which the operator never calls unless told to: the demo and
		// the tests opt in to exactly the sandbox's address.
		"--allowed-finx-base-urls", strings.Join(append([]string{"http://" + s.o.SandboxAddr}, s.o.ExtraAllowedBaseURLs...), ","),
	}, s.o.ManagerArgs...)
	args = append(args, extraArgs...)
	env := []string{"KUBECONFIG=" + kubeconfig, "POD_NAME=" + name, "POD_UID=" + InstanceOf(name)}
	p, err := devcluster.StartProcess(ctx, name, s.logPath(name), env, s.o.ManagerBin, args...)
	if err != nil {
		return nil, err
	}
	s.managers = append(s.managers, p)
	if err := waitLine(ctx, p, "callback endpoint listening", 60*time.Second); err != nil {
		return p, err
	}
	return p, nil
}

// InstanceOf is the instance identity (what a Pod's UID is in a cluster) of the replica name.
func InstanceOf(replica string) string { return "devstack-" + replica }

// OperatorConfig authenticates as the operator's ServiceAccount.
func (s *Stack) OperatorConfig() *rest.Config { return rest.CopyConfig(s.operatorConfig) }

// WriteKubeconfig writes cfg as a kubeconfig file in the work dir and returns its path.
func (s *Stack) WriteKubeconfig(name string, cfg *rest.Config) (string, error) {
	path := filepath.Join(s.o.WorkDir, name+".kubeconfig")
	return path, s.Cluster.WriteKubeconfig(path, cfg)
}

// LogPath is where a component's output goes.
func (s *Stack) logPath(name string) string { return filepath.Join(s.o.WorkDir, "logs", name+".log") }

// LogPath returns the log file of a process started by the stack.
func (s *Stack) LogPath(name string) string { return s.logPath(name) }

// Stop ends every process the stack started, managers first.
func (s *Stack) Stop() {
	for i := len(s.managers) - 1; i >= 0; i-- {
		_ = s.managers[i].Stop(10 * time.Second)
	}
	if s.Sandbox != nil {
		_ = s.Sandbox.Stop(5 * time.Second)
	}
	if s.Cluster != nil {
		_ = s.Cluster.Stop()
	}
}

// AdminConfig is the cluster-admin REST config.
func (s *Stack) AdminConfig() *rest.Config { return s.Cluster.AdminConfig() }

// UseNamespacedRBAC switches the operator's ServiceAccount to the RBAC of config/namespaced: the
// cluster-wide binding of the manager's role goes, a RoleBinding per namespace in namespaces and the
// cluster-scope role come. Start the managers with --watch-namespaces listing the same namespaces.
// The returned function restores config/default's RBAC. Stop the managers before either call.
func (s *Stack) UseNamespacedRBAC(ctx context.Context, namespaces ...string) (restore func(context.Context) error, err error) {
	objs, err := NamespacedRBAC(s.o.RepoRoot, namespaces...)
	if err != nil {
		return nil, err
	}
	cfg := s.Cluster.AdminConfig()
	if err := devcluster.ServerSideApply(ctx, cfg, objs, "finx-devstack"); err != nil {
		return nil, fmt.Errorf("applying config/namespaced: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleBindingName}}
	if err := client.IgnoreNotFound(s.Admin.Delete(ctx, binding)); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		for _, o := range objs {
			if err := client.IgnoreNotFound(s.Admin.Delete(ctx, o)); err != nil {
				return err
			}
		}
		defaults, err := operatorManifests(s.o.RepoRoot)
		if err != nil {
			return err
		}
		_, others := splitCRDs(defaults)
		return devcluster.ServerSideApply(ctx, cfg, others, "finx-devstack")
	}, nil
}

// ClusterRoleBindingName is config/default's cluster-wide binding of the manager's role.
const ClusterRoleBindingName = "finx-operator-manager-rolebinding"

// NamespacedRBAC returns what config/namespaced adds to config/default's RBAC: the cluster-scope
// role and its binding, and its RoleBinding template copied into each of namespaces.
func NamespacedRBAC(repoRoot string, namespaces ...string) ([]*unstructured.Unstructured, error) {
	objs, err := devcluster.RenderKustomization(filepath.Join(repoRoot, "config", "namespaced"))
	if err != nil {
		return nil, fmt.Errorf("rendering config/namespaced: %w", err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		switch {
		case o.GetKind() == "RoleBinding" && o.GetNamespace() != OperatorNamespace:
			for _, ns := range namespaces {
				c := o.DeepCopy()
				c.SetNamespace(ns)
				out = append(out, c)
			}
		case (o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding") && o.GetName() != ClusterRoleBindingName &&
			strings.Contains(o.GetName(), "cluster-scope"):
			out = append(out, o)
		}
	}
	if len(out) < 2+len(namespaces) {
		return nil, fmt.Errorf("config/namespaced lacks its cluster-scope role or its RoleBinding template")
	}
	return out, nil
}

// operatorManifests renders config/default without the manager Deployment: here the manager runs
// as a local process, not a Pod (the cluster has no nodes).
func operatorManifests(repoRoot string) ([]*unstructured.Unstructured, error) {
	objs, err := devcluster.RenderKustomization(filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		return nil, fmt.Errorf("rendering config/default: %w", err)
	}
	out := objs[:0]
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

func splitCRDs(objs []*unstructured.Unstructured) (crds, others []*unstructured.Unstructured) {
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		} else {
			others = append(others, o)
		}
	}
	return crds, others
}

// SamplesFor returns the samples a person applies first: the FinXClient (with its credentials
// Secret) and the BankConnection, in namespace ns.
func SamplesFor(repoRoot, ns string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, f := range []string{"banking_v1alpha1_finxclient.yaml", "banking_v1alpha1_bankconnection.yaml"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", f))
		if err != nil {
			return nil, err
		}
		objs, err := devcluster.DecodeYAML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, o := range objs {
			o.SetNamespace(ns)
			out = append(out, o)
		}
	}
	return out, nil
}

// BuildBinaries builds the manager and the sandbox into dir and returns their paths.
func BuildBinaries(ctx context.Context, repoRoot, dir string, out io.Writer) (manager, sandbox string, err error) {
	manager, sandbox = filepath.Join(dir, "manager"), filepath.Join(dir, "finx-sandbox")
	for bin, pkg := range map[string]string{manager: "./cmd", sandbox: "./cmd/finx-sandbox"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = repoRoot
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("building %s: %w", pkg, err)
		}
	}
	return manager, sandbox, nil
}

// waitLine waits for a start-up line; WaitForLogLine already fails as soon as the process exits.
func waitLine(ctx context.Context, p *devcluster.Process, substr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.WaitForLogLine(ctx, substr); err != nil {
		return fmt.Errorf("%s did not start (waiting for %q): %w; see %s", p.Name(), substr, err, p.LogPath())
	}
	return nil
}
