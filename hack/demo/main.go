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

// Command demo runs finx-operator end to end on this machine: a local control plane, the finX
// sandbox, the operator, and the samples from config/samples. It shows the widget link, the
// connection turning Connected, its Secrets filling and a refresh-token rotation, then stops
// everything (or, with --keep, leaves it running until Ctrl-C). `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/devstack"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

const (
	demoNamespace = "demo"
	connection    = "alice"
	// The samples name these addresses: the FinXClient's baseURL and the connection's redirectURI.
	sandboxAddr  = "127.0.0.1:8081"
	callbackAddr = "127.0.0.1:8082"
)

type config struct {
	controlPlane string
	workDir      string
	keep         bool
	userWait     time.Duration
	timeout      time.Duration
	accessTTL    time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.controlPlane, "control-plane", "", "directory with etcd, kube-apiserver and kube-controller-manager (hack/build-control-plane.sh prints it)")
	flag.StringVar(&c.workDir, "dir", ".demo", "directory for the demo's logs, kubeconfig and data (emptied first)")
	flag.BoolVar(&c.keep, "keep", os.Getenv("DEMO_KEEP") == "1", "keep everything running until Ctrl-C (also DEMO_KEEP=1)")
	flag.DurationVar(&c.userWait, "user-wait", envDuration("DEMO_USER_WAIT", 20*time.Second), "how long to wait for a person to complete the widget before completing it automatically (also DEMO_USER_WAIT)")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up if the demo has not finished by then")
	flag.DurationVar(&c.accessTTL, "access-token-ttl", 15*time.Second, "the sandbox's access-token lifetime; the operator refreshes (and rotates the refresh token) at two thirds of it")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(c config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	work, err := filepath.Abs(c.workDir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	step("Preparing (logs and data go to %s)", work)
	// controller-runtime's clients log through a global logger and, if none was ever set, print a
	// stack trace on their first use. Their few lines belong with the other process logs.
	clientLog, err := os.Create(filepath.Join(work, "demo-clients.log"))
	if err != nil {
		return err
	}
	defer clientLog.Close()
	ctrllog.SetLogger(zap.New(zap.WriteTo(clientLog)))
	for _, addr := range []string{sandboxAddr, callbackAddr} {
		if err := devcluster.PortFree(addr); err != nil {
			return fmt.Errorf("%w: the samples use it; stop whatever listens there and run the demo again", err)
		}
	}
	buildLog, err := os.Create(filepath.Join(work, "build.log"))
	if err != nil {
		return err
	}
	defer buildLog.Close()
	info("building the manager and the finX sandbox")
	managerBin, sandboxBin, err := devstack.BuildBinaries(ctx, root, filepath.Join(work, "bin"), buildLog)
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, buildLog.Name())
	}

	startCtx, cancelStart := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelStart()
	st, err := devstack.Start(startCtx, devstack.Options{
		RepoRoot: root, ControlPlaneDir: c.controlPlane, WorkDir: work,
		ManagerBin: managerBin, SandboxBin: sandboxBin,
		SandboxAddr: sandboxAddr, CallbackAddr: callbackAddr,
		SandboxArgs: []string{"--access-token-ttl", c.accessTTL.String()},
		Out:         infoWriter{},
	})
	if err != nil {
		return err
	}
	defer func() {
		step("Stopping every process the demo started")
		st.Stop()
	}()
	info("starting the operator (as its ServiceAccount, with the RBAC from config/rbac)")
	if _, err := st.StartManager(startCtx, "manager", ""); err != nil {
		return err
	}

	step("Applying config/samples: a FinXClient for the sandbox and the BankConnection %q", connection)
	if err := applySamples(startCtx, st, root); err != nil {
		return err
	}
	fmt.Printf(`
    Watch it yourself in another terminal (kubectl is optional; the demo does not need it):
      export KUBECONFIG=%s
      kubectl get bankconnections -n %s -w
      kubectl describe bankconnection %s -n %s
`, st.AdminKubeconfig, demoNamespace, connection, demoNamespace)

	runCtx, cancelRun := context.WithTimeout(ctx, c.timeout)
	defer cancelRun()
	if err := showLifecycle(runCtx, st, c); err != nil {
		return err
	}
	if c.keep {
		step("Everything keeps running; press Ctrl-C to stop")
		<-ctx.Done()
	}
	return nil
}

func applySamples(ctx context.Context, st *devstack.Stack, root string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}
	if err := st.Admin.Create(ctx, ns); err != nil {
		return err
	}
	objs, err := devstack.SamplesFor(root, demoNamespace)
	if err != nil {
		return err
	}
	return devcluster.ServerSideApply(ctx, st.AdminConfig(), objs, "finx-demo")
}

func showLifecycle(ctx context.Context, st *devstack.Stack, c config) error {
	key := types.NamespacedName{Namespace: demoNamespace, Name: connection}
	conn, err := waitFor(ctx, st, key, "a widget link in status", func(b *v1.BankConnection) bool { return b.Status.Link != nil })
	if err != nil {
		return err
	}
	step("The operator issued a widget link (phase %s)", conn.Status.Phase)
	fmt.Printf("\n    Open it in a browser and log in with user figo01, password 654321:\n      %s\n\n", conn.Status.Link.URL)
	info("waiting %s for someone to complete the widget", c.userWait)
	conn, err = waitFor(withTimeout(ctx, c.userWait), st, key, "", func(b *v1.BankConnection) bool { return b.Status.Phase == v1.PhaseConnected })
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		info("nobody did: completing it the way a browser would (the same HTML form posts to the sandbox widget)")
		if err := completeWidget(ctx, conn.Status.Link.URL); err != nil {
			return err
		}
		if conn, err = waitFor(ctx, st, key, "phase Connected", func(b *v1.BankConnection) bool { return b.Status.Phase == v1.PhaseConnected }); err != nil {
			return err
		}
	}
	step("Connected: the callback took the code and the operator exchanged it")
	printConditions(conn)
	if err := printSecrets(ctx, st, conn); err != nil {
		return err
	}
	first := conn.Status.RefreshToken
	step("Waiting for the scheduled refresh (next at %s)", first.NextRefreshAt.Format(time.TimeOnly))
	conn, err = waitFor(ctx, st, key, "a refresh-token rotation", func(b *v1.BankConnection) bool {
		return b.Status.RefreshToken != nil && b.Status.RefreshToken.Rotations >= 1
	})
	if err != nil {
		return err
	}
	rt := conn.Status.RefreshToken
	step("Refreshed: the access token was renewed and the refresh token rotated (rotations: %d)", rt.Rotations)
	info("new refresh token issued at %s, next refresh at %s; the old one is spent at finX", rt.IssuedAt.Format(time.TimeOnly), rt.NextRefreshAt.Format(time.TimeOnly))
	if conn.Status.AccessToken != nil {
		info("access token now valid until %s", conn.Status.AccessToken.ExpiresAt.Format(time.TimeOnly))
	}
	step("Demo complete: link, authorisation, tokens in Secrets, rotation")
	return nil
}

func completeWidget(ctx context.Context, link string) error {
	redirect, err := sandbox.DriveWidget(ctx, http.DefaultClient, link, sandbox.DriveOptions{})
	if err != nil {
		return fmt.Errorf("completing the widget: %w", err)
	}
	// finX would now send the browser to redirect_uri, the operator's callback endpoint.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, redirect, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling the callback endpoint: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the callback endpoint answered %s", resp.Status)
	}
	info("the callback endpoint answered %s and showed its result page", resp.Status)
	return nil
}

func printConditions(b *v1.BankConnection) {
	for _, t := range []string{v1.ConditionReady, v1.ConditionAuthorized, v1.ConditionTokensValid, v1.ConditionReauthorizationRequired, v1.ConditionSynced} {
		if c := meta.FindStatusCondition(b.Status.Conditions, t); c != nil {
			info("%-24s %-5s %s", t, c.Status, c.Reason)
		}
	}
	if cs := b.Status.Consent; cs != nil {
		info("bank consent given %s, expires %s, renewal link from %s", cs.GivenAt.UTC().Format("2006-01-02 15:04"), cs.ExpiresAt.UTC().Format("2006-01-02"), cs.RenewalDueAt.UTC().Format("2006-01-02"))
	}
	if a := b.Status.Accounts; a != nil {
		for _, it := range a.Items {
			info("account %s at %s, IBAN %s (status shows only its last 4 characters)", it.DisplayName, it.BankName, it.IBAN)
		}
	}
}

// printSecrets shows which keys the Secrets hold and how long the values are, never the values.
func printSecrets(ctx context.Context, st *devstack.Stack, b *v1.BankConnection) error {
	names := []string{b.Status.RefreshToken.SecretName}
	if b.Status.AccessToken != nil {
		names = append(names, b.Status.AccessToken.SecretName)
	}
	for _, n := range names {
		s := &corev1.Secret{}
		if err := st.Admin.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: n}, s); err != nil {
			return err
		}
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		info("Secret %s (type %s):", n, s.Type)
		for _, k := range keys {
			info("    %-26s %d bytes", k, len(s.Data[k]))
		}
	}
	return nil
}

func waitFor(ctx context.Context, st *devstack.Stack, key types.NamespacedName, what string, done func(*v1.BankConnection) bool) (*v1.BankConnection, error) {
	b := &v1.BankConnection{}
	for {
		if err := st.Admin.Get(ctx, key, b); err == nil && done(b) {
			return b, nil
		}
		select {
		case <-ctx.Done():
			if what == "" {
				return b, ctx.Err()
			}
			return b, fmt.Errorf("timed out waiting for %s (phase %q); logs are in %s", what, b.Status.Phase, filepath.Dir(st.LogPath("manager")))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func withTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	go func() { <-c.Done(); cancel() }()
	return c
}

var stepNo int

func step(format string, args ...any) {
	stepNo++
	fmt.Printf("\n[%d] %s\n", stepNo, fmt.Sprintf(format, args...))
}

func info(format string, args ...any) { fmt.Printf("    %s\n", fmt.Sprintf(format, args...)) }

type infoWriter struct{}

func (infoWriter) Write(p []byte) (int, error) {
	info("%s", string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}
