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

// Package e2e_test runs the whole product as a person would: a local control plane with
// kube-controller-manager, the operator's CRDs and RBAC from config/default, the finX sandbox as a
// process and the manager binary as the operator's ServiceAccount (internal/devstack). It needs the
// control-plane binaries (KUBEBUILDER_ASSETS, as `make test` sets it); it builds
// kube-controller-manager itself when that one is missing. Run it with
//
//	KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager) \
//		go test ./test/e2e/ -count=1 -v -timeout 20m
package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/devstack"
)

// The sandbox issues short-lived access tokens, so the operator refreshes (and rotates the refresh
// token) about every four seconds: two thirds of the lifetime, less a small jitter.
const accessTokenTTL = 6 * time.Second

// graceAccessTokenTTL is the access-token lifetime of the sandbox with a reuse grace (refreshes
// about every 10 s).
const graceAccessTokenTTL = 15 * time.Second

var (
	repoRoot string
	// workDir holds the binaries, the cluster's data, every process log and the screenshots. It is
	// kept after the run (only the large parts are removed after a successful one).
	workDir    string
	stack      *devstack.Stack
	sandboxURL string // http://127.0.0.1:<port>
	// graceSandboxURL is a second sandbox that honours a replay of a spent refresh token for 30s,
	// like a finX with a reuse grace; sandboxURL's is strict.
	graceSandboxURL string
	// callbackA is the stack's callback address (the primary replica's); callbackB the second
	// replica's in the leader-election scenario.
	callbackA, callbackB string
	replicas             *replicaSet
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "finx-operator end-to-end suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	repoRoot, err = filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	Expect(filepath.Join(repoRoot, "go.mod")).To(BeAnExistingFile(), "the suite must run from test/e2e")

	workDir, err = os.MkdirTemp("", "finx-e2e-")
	Expect(err).NotTo(HaveOccurred())
	announce("e2e: work dir (process logs in %s, screenshots, kubeconfig): %s", filepath.Join(workDir, "logs"), workDir)
	AddReportEntry("work dir", workDir)

	controlPlane := controlPlaneDir(ctx)

	By("building the manager and the finX sandbox")
	buildLog, err := os.Create(filepath.Join(workDir, "build.log"))
	Expect(err).NotTo(HaveOccurred())
	defer buildLog.Close()
	managerBin, sandboxBin, err := devstack.BuildBinaries(ctx, repoRoot, filepath.Join(workDir, "bin"), buildLog)
	Expect(err).NotTo(HaveOccurred(), "see %s", buildLog.Name())

	sandboxPort, err := devcluster.FreePort()
	Expect(err).NotTo(HaveOccurred())
	ports := map[int]bool{sandboxPort: true}
	callbackA = fmt.Sprintf("127.0.0.1:%d", freePortExcept(ports))
	callbackB = fmt.Sprintf("127.0.0.1:%d", freePortExcept(ports))
	sandboxAddr := fmt.Sprintf("127.0.0.1:%d", sandboxPort)
	sandboxURL = "http://" + sandboxAddr
	gracePort := freePortExcept(ports)
	graceSandboxURL = fmt.Sprintf("http://127.0.0.1:%d", gracePort)

	By("starting the control plane, config/default and the sandbox")
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	stack, err = devstack.Start(startCtx, devstack.Options{
		RepoRoot: repoRoot, ControlPlaneDir: controlPlane, WorkDir: workDir,
		ManagerBin: managerBin, SandboxBin: sandboxBin,
		SandboxAddr: sandboxAddr, CallbackAddr: callbackA,
		SandboxArgs: []string{"--access-token-ttl", accessTokenTTL.String(), "--enable-test-controls"},
		// The manager runs with its default token-protocol flags: what the crash scenarios promise
		// holds for those. Every replica logs at the highest verbosity there is (zap and klog):
		// trust_test.go then searches all their logs for every token, code and state the scenarios saw.
		ManagerArgs:          []string{"--zap-log-level", "10", "--v", "10"},
		ExtraAllowedBaseURLs: []string{graceSandboxURL},
		Out:                  GinkgoWriter,
	})
	if stack != nil {
		DeferCleanup(stopStack)
	}
	Expect(err).NotTo(HaveOccurred(), "%s", logTails())

	By("starting a second sandbox with a 30s reuse grace")
	graceSbx, err := devcluster.StartProcess(startCtx, "finx-sandbox-grace", stack.LogPath("finx-sandbox-grace"), nil, sandboxBin,
		// A replay is honoured only while the successor's access token lives (docs/sandbox.md), so
		// this sandbox's access tokens live long enough for a restart and a replay under faults.
		"--listen", fmt.Sprintf("127.0.0.1:%d", gracePort), "--access-token-ttl", graceAccessTokenTTL.String(),
		"--refresh-reuse-grace", "30s", "--enable-test-controls")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = graceSbx.Stop(5 * time.Second) })
	Expect(graceSbx.WaitForLogLine(startCtx, "finx-sandbox listening on")).To(Succeed(), "%s", logTails())

	By("starting the manager as the operator's ServiceAccount")
	replicas = &replicaSet{procs: map[string]*devcluster.Process{}}
	replicas.addrs = map[string]string{primaryReplica: callbackA, secondaryReplica: callbackB}
	replicas.ensureOnlyPrimary(startCtx)
	setupDone = true
}, NodeTimeout(8*time.Minute))

// stopStack ends every process the suite started, and trims the work dir after a successful run.
func stopStack() {
	stack.Stop()
	if setupDone && !suiteFailed {
		_ = os.RemoveAll(filepath.Join(workDir, "bin"))
		_ = os.RemoveAll(filepath.Join(workDir, "cluster", "etcd"))
	}
	announce("e2e: logs kept in %s", filepath.Join(workDir, "logs"))
}

// setupDone is set at the end of BeforeSuite and suiteFailed by the AfterEach below when a spec
// fails: the suite-level cleanup keeps everything for a failed run.
var setupDone, suiteFailed bool

var _ = AfterEach(func() {
	if !CurrentSpecReport().Failed() {
		return
	}
	suiteFailed = true
	AddReportEntry("process logs (tail)", logTails(), ReportEntryVisibilityFailureOrVerbose)
})

// controlPlaneDir returns the directory holding etcd, kube-apiserver and kube-controller-manager:
// KUBEBUILDER_ASSETS when it has all three, otherwise what hack/build-control-plane.sh builds
// (idempotent: fast when they are already built). It never skips.
func controlPlaneDir(ctx context.Context) string {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	complete := dir != ""
	for _, b := range []string{devcluster.Etcd, devcluster.KubeAPIServer, devcluster.KubeControllerManager} {
		if complete {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				complete = false
			}
		}
	}
	if complete {
		return dir
	}
	By(fmt.Sprintf("KUBEBUILDER_ASSETS=%q lacks a control-plane binary: running hack/build-control-plane.sh", dir))
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "hack", "build-control-plane.sh"),
		devcluster.KubeAPIServer, devcluster.Etcd, devcluster.KubeControllerManager)
	cmd.Dir = repoRoot
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = GinkgoWriter
	Expect(cmd.Run()).To(Succeed(), "hack/build-control-plane.sh failed")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	built := strings.TrimSpace(lines[len(lines)-1])
	Expect(filepath.Join(built, devcluster.KubeControllerManager)).To(BeAnExistingFile())
	return built
}

func freePortExcept(taken map[int]bool) int {
	for {
		p, err := devcluster.FreePort()
		Expect(err).NotTo(HaveOccurred())
		if !taken[p] {
			taken[p] = true
			return p
		}
	}
}

// announce prints a line to the Ginkgo output and to stdout.
func announce(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintln(GinkgoWriter, line)
	fmt.Println(line)
}

// logTails returns the end of every manager replica's log and of the sandbox's.
func logTails() string {
	if workDir == "" {
		return ""
	}
	var b strings.Builder
	names := []string{primaryReplica, secondaryReplica, "finx-sandbox", devcluster.KubeControllerManager}
	for _, n := range names {
		path := filepath.Join(workDir, "logs", n+".log")
		if n == devcluster.KubeControllerManager {
			path = filepath.Join(workDir, "cluster", "logs", n+".log")
		}
		t, err := tail(path, 60)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "\n----- last lines of %s -----\n%s\n", path, t)
	}
	return b.String()
}

func tail(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 128<<10 {
		if _, err := f.Seek(st.Size()-128<<10, 0); err != nil {
			return "", err
		}
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + "…"
		}
	}
	return strings.Join(lines, "\n"), nil
}
