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

package bench

// TestScale is the scale benchmark of issue 10. Unlike the benchmarks in bench_test.go, everything
// runs as it would in a cluster: etcd, kube-apiserver and kube-controller-manager as processes
// (internal/devcluster), config/default's CRDs and RBAC, the finX sandbox as a process, and the
// manager binary as a process authenticated as the operator's ServiceAccount (internal/devstack).
// Against the same cluster, in the same run, it measures a minimal hand-written controller
// (scale_minimal_test.go) as the baseline.
//
// It is a Test, not a Benchmark, because it is one long run that prints a table of figures, and it
// only runs when BENCH_SCALE is set: plain `go test ./...` and `make test` skip it. `make bench`
// runs it:
//
//	BENCH_SCALE=1 KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager) \
//		go test ./test/bench/ -run '^TestScale$' -v -count=1 -timeout 90m
//
// Knobs (environment, all optional):
//
//	BENCH_SCALE                    must be set (to anything) for the test to run
//	BENCH_SCALE_N                  connections applied at once, for each controller (2000; 10000 works)
//	BENCH_SCALE_UNRELATED          unrelated, unlabelled Secrets in the cluster (1000)
//	BENCH_SCALE_UNRELATED_SIZE     bytes of data in each of them (102400)
//	BENCH_SCALE_CONNECTED          connections taken to Connected through the sandbox's widget and the
//	                               callback, as a user would (N: all of them; 0 measures the links only)
//	BENCH_SCALE_CONNECT_PARALLELISM  widget completions and callbacks in flight (8)
//	BENCH_SCALE_REFRESH_SAMPLE     connected connections refreshed one by one by annotation, to count the
//	                               requests per refresh (20)
//	BENCH_SCALE_STORM              connected connections made due at once for the refresh storm
//	                               (all connected; 0 skips the storm)
//	BENCH_SCALE_STORM_FINX_LATENCY how long the sandbox holds each refresh during the storm (0; a
//	                               finX across a network takes 100ms or more, loopback next to nothing)
//	BENCH_SCALE_FINX_RATE          the FinXClient's requestsPerSecond (1000, burst 10 times that): set
//	                               it low to see a storm limited by it
//	BENCH_SCALE_IDLE               length of each idle window (30s)
//	BENCH_SCALE_FANOUT_WINDOW      how long requests are counted after the FinXClient label change (20s)
//	BENCH_SCALE_APPLY_PARALLELISM  create requests in flight while applying the N connections (8)
//	BENCH_SCALE_LINK_TIMEOUT       how long all N may take to get their links (20m)
//	BENCH_SCALE_WORKDIR            where the cluster, logs and report go (a new finx-bench-scale-* in $TMPDIR);
//	                               the report is also written to <workdir>/report.txt
//	BENCH_SCALE_CPU_PROFILE        profile kube-apiserver's CPU for this long from the start of each link
//	                               phase, and the manager's in the operator's (0: no profiles), into
//	                               <workdir>/<phase>-apiserver-cpu.pb.gz and <phase>-manager-cpu.pb.gz
//	BENCH_MAX_CONCURRENT           --max-concurrent-reconciles of the manager, and the baseline's
//	                               concurrency (16, cmd/main.go's default)
//	BENCH_SCALE_LINK_ROUNDS        rounds of the link comparison (1): each further round applies N more
//	                               connections for the operator (in a new namespace) and then for the
//	                               baseline, and the report adds every round's ratio and their median
//	BENCH_SCALE_MANAGER_ARGS       more manager flags, space-separated (for example
//	                               --kube-api-compression=true); the baseline is not changed by them
//	BENCH_SCALE_MINIMAL_STATUS     "operator": the baseline writes the status the operator writes for a
//	                               first link (phase, the whole status.link, finxUserID, three
//	                               conditions) instead of status.link alone, to tell what the status
//	                               costs from what the operator's work costs
//	BENCH_SCALE_MINIMAL_IDENTITY   "admin": the baseline runs as cluster admin (system:masters), whose
//	                               requests skip authorisation and API Priority and Fairness, instead
//	                               of as the operator's ServiceAccount like the manager
//
// The phases run one after the other, so that the API server's request counters and the CPU time
// of kube-apiserver and etcd can be split by phase:
//
//  1. unrelated Secrets are created (not measured);
//  2. minimal: the baseline runs alone, as a process of its own, and the N connections of its
//     namespace are applied; the phase ends when the last one has a link. The baseline then stops
//     and its connections are deleted (the operator watches every namespace and would otherwise
//     take them over);
//  3. floor: an idle window with no controller running: what the cluster does by itself;
//  4. the manager starts (RSS at start); operator: N connections are applied in the operator's
//     namespace, ending when the last has a link (RSS after N links); the manager then stops, the
//     baseline runs once more as in 2 (minimal-after), and the manager starts again. apply → link
//     is compared with the mean of the two baseline runs around the operator's, so that load that
//     drifts over the run on a shared machine moves both sides alike; each run is printed;
//  5. connect: BENCH_SCALE_CONNECTED of them are completed in the sandbox and called back, up to
//     Connected (RSS with them connected);
//  6. refresh: a sample is refreshed by annotation (finX calls, writes and reads per refresh);
//  7. storm: every connected one is made due at once; rotations per second against the finX rate
//     limit, and whether any rotated after its tokens expired (RSS after the storm);
//  8. idle: a window with nothing to do;
//  9. fan-out: one label change on the FinXClient that all N connections use.
//
// At each memory point the manager's heap profile is saved in the work dir (its
// --pprof-bind-address on loopback), to see where the bytes per connection go.
//
// Request counts are the kube-apiserver's apiserver_request_total deltas for the phase, minus the
// requests the harness itself made (counted by its own client: the N creates, the annotations, the
// label patch), so what remains is the controller's (plus kube-controller-manager's, which the floor
// shows to be next to nothing). A WATCH is counted by the API server when it ends.
import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/devstack"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// The FinXClient's rate limit toward finX in this run (the CRD's maxima), and the baseline's: the
// default of 10/s would measure the limiter, not the operator. BENCH_SCALE_FINX_RATE changes the
// FinXClient's, with a burst of twice the rate (the CRD's defaults are 10 and 20), to see a storm
// that the limit bounds.
const (
	scaleFinXRate  = 1000
	scaleFinXBurst = 10000
)

// settleAfter is how long a phase keeps counting after its last awaited change, so that requests
// that trail it (a Secret written after the status, an Event) land in the phase that caused them.
const settleAfter = 2 * time.Second

type scaleRun struct {
	t         *testing.T
	stack     *devstack.Stack
	harness   *countingTransport
	admin     client.WithWatch // counted by harness
	metricsHC *http.Client     // admin, for /metrics (non-resource: never counted)
	host      string
	apiPID    int
	etcdPID   int
	manager   *devcluster.Process
	// controllerPID is the process under test: the baseline's during its phase, the manager's after.
	controllerPID int
	sandboxURL    string
	callback      string
	browser       *http.Client
	workDir       string
	// concurrency is the manager's --max-concurrent-reconciles and the baseline's.
	concurrency int
	// finxRate is the FinXClient's requestsPerSecond.
	finxRate int
	// pprofAddr is the manager's --pprof-bind-address.
	pprofAddr string
	// connected is how many connections the connect phase took to Connected.
	connected int
	// rounds are the link comparison's rounds, the first one included (BENCH_SCALE_LINK_ROUNDS).
	rounds []linkRound
	report strings.Builder
}

// phase is one measured window.
type phase struct {
	name string
	wall time.Duration
	// applied is how long the harness took to create the N connections (link phases): it is part
	// of apply → link for both controllers, and it is what CPU contention on a shared machine
	// moves most.
	applied                 time.Duration
	server, harness         requests
	apiCPU, etcdCPU, mgrCPU time.Duration
	// statusBytes is the mean size of a linked connection's status as JSON (link phases): what
	// kube-apiserver decodes, stores and sends to every watcher on each status write. With
	// BENCH_SCALE_MINIMAL_STATUS=operator the two controllers' figures should be close; if the
	// operator's status changes and the baseline's imitation does not, this shows it.
	statusBytes float64
}

// controller is what the API server counted minus the harness's own requests.
func (p phase) controller() requests { return p.server.sub(p.harness) }

type phaseStart struct {
	at                      time.Time
	server, harness         requests
	apiCPU, etcdCPU, mgrCPU time.Duration
}

func TestScale(t *testing.T) {
	if os.Getenv("BENCH_SCALE") == "" {
		t.Skip("the scale benchmark runs only with BENCH_SCALE=1 (make bench sets it); see scale_test.go")
	}
	n := envInt("BENCH_SCALE_N", 2000)
	unrelated := envCount("BENCH_SCALE_UNRELATED", 1000)
	unrelatedSize := envInt("BENCH_SCALE_UNRELATED_SIZE", 100<<10)
	connectN := min(envCount("BENCH_SCALE_CONNECTED", n), n)
	connectPar := envInt("BENCH_SCALE_CONNECT_PARALLELISM", 8)
	sample := min(envInt("BENCH_SCALE_REFRESH_SAMPLE", 20), connectN)
	stormN := min(envCount("BENCH_SCALE_STORM", connectN), connectN)
	finxRate := envInt("BENCH_SCALE_FINX_RATE", scaleFinXRate)
	stormLatency := envDuration("BENCH_SCALE_STORM_FINX_LATENCY", 0)
	idle := envDuration("BENCH_SCALE_IDLE", 30*time.Second)
	fanoutWindow := envDuration("BENCH_SCALE_FANOUT_WINDOW", 20*time.Second)
	applyPar := envInt("BENCH_SCALE_APPLY_PARALLELISM", 8)
	linkTimeout := envDuration("BENCH_SCALE_LINK_TIMEOUT", 20*time.Minute)
	concurrency := envInt("BENCH_MAX_CONCURRENT", 16)
	linkRounds := envInt("BENCH_SCALE_LINK_ROUNDS", 1)

	ctx := t.Context()
	s := &scaleRun{t: t, concurrency: concurrency, finxRate: finxRate}
	s.start(ctx, concurrency)
	s.logf("TestScale: N=%d connections per controller (%d taken to Connected, %d in the storm), %d unrelated Secrets of %d KiB,"+
		" concurrency %d, finX rate limit %d/s, GOMAXPROCS %d, %d CPUs",
		n, connectN, stormN, unrelated, unrelatedSize>>10, concurrency, finxRate, runtime.GOMAXPROCS(0), runtime.NumCPU())

	// 1. Unrelated Secrets, which a well-behaved manager neither caches nor reads.
	began := time.Now()
	s.createNamespace(ctx, "scale-unrelated")
	if err := parallel(ctx, unrelated, 8, func(ctx context.Context, i int) error {
		data := make([]byte, unrelatedSize)
		_, _ = rand.Read(data)
		return s.admin.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "scale-unrelated", Name: fmt.Sprintf("unrelated-%05d", i)},
			Data:       map[string][]byte{"payload": data},
		})
	}); err != nil {
		t.Fatalf("creating the unrelated Secrets: %v", err)
	}
	t.Logf("created %d unrelated Secrets in %s", unrelated, time.Since(began).Round(time.Second))

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("conn-%05d", i)
	}

	// 2. The baseline, alone on the cluster.
	const minimalNS, operatorNS = "scale-minimal", "scale-operator"
	s.createNamespace(ctx, minimalNS)
	minBefore := s.minimalRun(ctx, "minimal", minimalNS, names, applyPar, linkTimeout)

	// 3. What the cluster does with no controller at all.
	floor := s.idlePhase(ctx, "floor", idle)

	// 4. The operator.
	s.startManager(ctx)
	time.Sleep(5 * time.Second) // its caches are synced once the callback endpoint listens; let start-up finish
	mem := []memPoint{s.memoryPoint(ctx, "start", 0)}
	s.createTenant(ctx, operatorNS)
	s.profilePhase(ctx, "operator", true)
	operator, opLatencies := s.linkPhase(ctx, "operator", operatorNS, names, applyPar, linkTimeout)
	time.Sleep(3 * time.Second)
	mem = append(mem, s.memoryPoint(ctx, "linked", n))

	// 4b. The baseline once more, right after the operator: on a shared machine the load drifts
	// between runs, so the ratio compares the operator with the mean of the baseline just before
	// and just after it. The manager stops meanwhile (it watches every namespace and would take the
	// baseline's connections over) and starts again, as a restarted Pod would, for what follows.
	s.stopManager()
	minAfter := s.minimalRun(ctx, "minimal-after", minimalNS, names, applyPar, linkTimeout)
	s.rounds = s.moreLinkRounds(ctx, linkRound{minBefore: minBefore.phase.wall, operator: operator.wall, minAfter: minAfter.phase.wall},
		linkRounds, minimalNS, operatorNS, names, applyPar, linkTimeout)
	s.startManager(ctx)
	time.Sleep(5 * time.Second)

	// 5. and 6. Taken to Connected, a sample then refreshed one by one.
	tr, err := startTracker(ctx, s.admin, operatorNS)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.stop()
	var connect, refresh phase
	calls := finxCalls{}
	if connectN > 0 {
		connect = s.connectPhase(ctx, tr, operatorNS, names[:connectN], connectPar, linkTimeout)
		s.quiesce(ctx)
		mem = append(mem, s.memoryPoint(ctx, "connected", n))
		before := s.sandboxStats(ctx)
		refresh = s.refreshPhase(ctx, tr, operatorNS, names[:sample])
		calls = s.sandboxStats(ctx).sub(before)
	}

	// 7. Every connected one due at once.
	var storm phase
	var stormRes stormResult
	if stormN > 0 {
		s.quiesce(ctx)
		storm, stormRes = s.stormPhase(ctx, tr, operatorNS, names[:stormN], 16, stormLatency, linkTimeout)
		s.quiesce(ctx)
		mem = append(mem, s.memoryPoint(ctx, "after-storm", n))
	}

	// 8. Nothing to do.
	time.Sleep(3 * time.Second)
	idleOp := s.idlePhase(ctx, "idle", idle)

	// 9. One label change on the FinXClient all N connections use.
	fanout := s.fanoutPhase(ctx, operatorNS, fanoutWindow)
	mem = append(mem, s.memoryPoint(ctx, "end", n))

	s.print(n, sample, minBefore, minAfter, operator, opLatencies, floor, connect, refresh, calls, idleOp, fanout,
		mem, idle, fanoutWindow, storm, stormRes)
}

// minimalResult is one run of the baseline.
type minimalResult struct {
	phase               phase
	latencies           []time.Duration
	client              requests // counted by its own client over its whole life
	memStart, memLinked procMemory
}

// minimalRun runs the baseline alone on ns: it starts, the N connections are applied, and once
// all have links it stops and its connections are deleted (not measured).
func (s *scaleRun) minimalRun(ctx context.Context, name, ns string, names []string, par int, timeout time.Duration) minimalResult {
	countsPath := filepath.Join(s.workDir, name+"-counts.json")
	mp := s.startMinimalProcess(ctx, ns, countsPath)
	s.controllerPID = mp.Pid()
	r := minimalResult{memStart: s.controllerMemory()}
	s.profilePhase(ctx, name, false)
	r.phase, r.latencies = s.linkPhase(ctx, name, ns, names, par, timeout)
	r.memLinked = s.controllerMemory()
	r.client = s.stopMinimalProcess(mp, countsPath)
	s.controllerPID = 0
	if err := s.admin.DeleteAllOf(ctx, &v1.BankConnection{}, client.InNamespace(ns)); err != nil {
		s.t.Fatalf("deleting the baseline's connections: %v", err)
	}
	s.waitEmpty(ctx, ns)
	return r
}

// meanOf is the mean of two runs of the same phase: their times, CPU and requests.
func meanOf(a, b phase) phase {
	half := func(x, y time.Duration) time.Duration { return (x + y) / 2 }
	mean := func(x, y requests) requests {
		out := requests{}
		for k, v := range x {
			out[k] += v / 2
		}
		for k, v := range y {
			out[k] += v / 2
		}
		return out
	}
	return phase{
		name: a.name, wall: half(a.wall, b.wall), applied: half(a.applied, b.applied),
		server: mean(a.server, b.server), harness: mean(a.harness, b.harness),
		apiCPU: half(a.apiCPU, b.apiCPU), etcdCPU: half(a.etcdCPU, b.etcdCPU), mgrCPU: half(a.mgrCPU, b.mgrCPU),
		statusBytes: (a.statusBytes + b.statusBytes) / 2,
	}
}

func (s *scaleRun) finxBurst() int {
	if s.finxRate == scaleFinXRate {
		return scaleFinXBurst
	}
	return 2 * s.finxRate
}

func (s *scaleRun) logf(format string, args ...any) {
	fmt.Fprintf(&s.report, format+"\n", args...)
}

// start builds the binaries and brings the stack up (not the manager).
func (s *scaleRun) start(ctx context.Context, concurrency int) {
	t := s.t
	controlPlane := os.Getenv("KUBEBUILDER_ASSETS")
	for _, b := range []string{devcluster.Etcd, devcluster.KubeAPIServer, devcluster.KubeControllerManager} {
		if _, err := os.Stat(filepath.Join(controlPlane, b)); controlPlane == "" || err != nil {
			t.Fatalf("KUBEBUILDER_ASSETS=%q lacks %s: run with KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager)",
				controlPlane, b)
		}
	}
	repoRoot, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	workDir := os.Getenv("BENCH_SCALE_WORKDIR")
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "finx-bench-scale-"); err != nil {
			t.Fatal(err)
		}
	}
	s.workDir = workDir
	t.Logf("work dir (logs, kubeconfigs, report.txt): %s", workDir)
	buildLog := &bytes.Buffer{}
	managerBin, sandboxBin, err := devstack.BuildBinaries(ctx, repoRoot, filepath.Join(workDir, "bin"), buildLog)
	if err != nil {
		t.Fatalf("%v\n%s", err, buildLog)
	}
	sbxPort, err := devcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cbPort, err := devcluster.FreePort()
	for err == nil && cbPort == sbxPort {
		cbPort, err = devcluster.FreePort()
	}
	if err != nil {
		t.Fatal(err)
	}
	pprofPort, err := devcluster.FreePort()
	for err == nil && (pprofPort == sbxPort || pprofPort == cbPort) {
		pprofPort, err = devcluster.FreePort()
	}
	if err != nil {
		t.Fatal(err)
	}
	s.pprofAddr = "127.0.0.1:" + strconv.Itoa(pprofPort)
	sandboxAddr := "127.0.0.1:" + strconv.Itoa(sbxPort)
	callbackAddr := "127.0.0.1:" + strconv.Itoa(cbPort)
	s.sandboxURL = "http://" + sandboxAddr
	s.callback = "http://" + callbackAddr + "/callback"
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	stack, err := devstack.Start(startCtx, devstack.Options{
		RepoRoot: repoRoot, ControlPlaneDir: controlPlane, WorkDir: workDir,
		ManagerBin: managerBin, SandboxBin: sandboxBin,
		SandboxAddr: sandboxAddr, CallbackAddr: callbackAddr,
		// Test controls: completing a widget flow and reading per-endpoint call counts over HTTP.
		// Default token lifetimes (1h access token): nothing refreshes on its own during the run.
		SandboxArgs: []string{"--enable-test-controls"},
		// Otherwise the manager's defaults, as a Deployment of config/default runs it.
		// Its heap profiles are read at each memory point.
		ManagerArgs: append([]string{"--max-concurrent-reconciles", strconv.Itoa(concurrency), "--pprof-bind-address", s.pprofAddr},
			strings.Fields(os.Getenv("BENCH_SCALE_MANAGER_ARGS"))...),
	})
	if stack != nil {
		t.Cleanup(stack.Stop)
	}
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	s.stack = stack
	s.apiPID = stack.Cluster.Process(devcluster.KubeAPIServer).Pid()
	s.etcdPID = stack.Cluster.Process(devcluster.Etcd).Pid()
	adminCfg := stack.AdminConfig()
	// No client-side rate limit (client-go's default is 5/s): applying the N connections must not
	// be what the link phases measure.
	adminCfg.QPS, adminCfg.Burst = -1, 0
	s.host = adminCfg.Host
	if s.metricsHC, err = rest.HTTPClientFor(adminCfg); err != nil {
		t.Fatal(err)
	}
	s.harness = newCounter()
	if s.admin, err = client.NewWithWatch(s.harness.wrap(adminCfg), client.Options{Scheme: devstack.Scheme()}); err != nil {
		t.Fatal(err)
	}
	s.browser = &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.logf("work dir: %s", workDir)
}

func (s *scaleRun) startManager(ctx context.Context) {
	p, err := s.stack.StartManager(ctx, "manager", "")
	if err != nil {
		s.t.Fatalf("starting the manager: %v", err)
	}
	s.manager = p
	s.controllerPID = p.Pid()
}

// stopManager stops the manager as a Pod is stopped (SIGTERM: it releases its leader lease).
func (s *scaleRun) stopManager() {
	if err := s.manager.Stop(30 * time.Second); err != nil {
		s.t.Fatalf("stopping the manager: %v", err)
	}
	s.manager, s.controllerPID = nil, 0
}

func (s *scaleRun) controllerMemory() procMemory {
	m, err := processMemory(s.controllerPID)
	if err != nil {
		s.t.Fatalf("reading the controller's memory: %v", err)
	}
	return m
}

func (s *scaleRun) createNamespace(ctx context.Context, name string) {
	if err := s.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		s.t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// createTenant makes the operator's namespace: the sandbox's credentials and a FinXClient with the
// rate limit raised, Ready before anything is measured.
func (s *scaleRun) createTenant(ctx context.Context, ns string) {
	t := s.t
	s.createNamespace(ctx, ns)
	if err := s.admin.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "finx-credentials"},
		Type:       v1.SecretTypeClientCredentials,
		StringData: map[string]string{"client_id": sandbox.DefaultClientID, "client_secret": sandbox.DefaultClientSecret},
	}); err != nil {
		t.Fatal(err)
	}
	fc := &v1.FinXClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "finx"},
		Spec: v1.FinXClientSpec{
			BaseURL:              s.sandboxURL,
			CredentialsSecretRef: v1.CredentialsSecretReference{Name: "finx-credentials"},
			RequestsPerSecond:    ptr.To(int32(s.finxRate)),
			Burst:                ptr.To(int32(s.finxBurst())),
		},
	}
	if err := s.admin.Create(ctx, fc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !meta.IsStatusConditionTrue(fc.Status.Conditions, v1.ConditionReady) {
		if time.Now().After(deadline) {
			t.Fatalf("FinXClient %s/finx not Ready after a minute: %+v", ns, fc.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
		if err := s.admin.Get(ctx, client.ObjectKeyFromObject(fc), fc); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *scaleRun) begin(ctx context.Context) phaseStart {
	p := phaseStart{at: time.Now()}
	var err error
	if p.server, err = apiServerRequests(ctx, s.metricsHC, s.host); err != nil {
		s.t.Fatal(err)
	}
	p.harness = s.harness.snapshot()
	p.apiCPU, p.etcdCPU, p.mgrCPU = s.cpu()
	return p
}

func (s *scaleRun) end(ctx context.Context, name string, st phaseStart, wall time.Duration) phase {
	p := phase{name: name, wall: wall}
	server, err := apiServerRequests(ctx, s.metricsHC, s.host)
	if err != nil {
		s.t.Fatal(err)
	}
	p.server = server.sub(st.server)
	p.harness = s.harness.snapshot().sub(st.harness)
	api, etcd, mgr := s.cpu()
	p.apiCPU, p.etcdCPU, p.mgrCPU = api-st.apiCPU, etcd-st.etcdCPU, mgr-st.mgrCPU
	return p
}

func (s *scaleRun) cpu() (api, etcd, mgr time.Duration) {
	var err error
	if api, err = processCPU(s.apiPID); err != nil {
		s.t.Fatal(err)
	}
	if etcd, err = processCPU(s.etcdPID); err != nil {
		s.t.Fatal(err)
	}
	if s.controllerPID != 0 {
		if mgr, err = processCPU(s.controllerPID); err != nil {
			s.t.Fatal(err)
		}
	}
	return api, etcd, mgr
}

// linkPhase applies the N connections in ns and waits until every one has a link. It returns the
// phase (its wall time is apply→last link) and each connection's apply→link latency.
func (s *scaleRun) linkPhase(ctx context.Context, name, ns string, names []string, par int, timeout time.Duration) (phase, []time.Duration) {
	t := s.t
	tr, err := startTracker(ctx, s.admin, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.stop()
	linked := tr.expect(names, func(c *v1.BankConnection) bool { return hasLink(c) })
	applied := make([]time.Time, len(names))
	st := s.begin(ctx)
	if err := parallel(ctx, len(names), par, func(ctx context.Context, i int) error {
		c := &v1.BankConnection{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[i]},
			Spec: v1.BankConnectionSpec{
				ClientRef:   v1.ClientReference{Name: "finx"},
				UserID:      names[i] + "@example.com",
				RedirectURI: s.callback,
			},
		}
		applied[i] = time.Now()
		return s.admin.Create(ctx, c)
	}); err != nil {
		t.Fatalf("%s: applying the connections: %v", name, err)
	}
	appliedIn := time.Since(st.at)
	t.Logf("%s: applied %d connections in %s", name, len(names), appliedIn.Round(100*time.Millisecond))
	if err := tr.wait(ctx, linked, timeout); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var last time.Time
	latencies := make([]time.Duration, len(names))
	for i, n := range names {
		at := tr.firstLinked(n)
		last = later(last, at)
		latencies[i] = at.Sub(applied[i])
	}
	time.Sleep(settleAfter)
	p := s.end(ctx, name, st, last.Sub(st.at))
	p.applied = appliedIn
	p.statusBytes = meanStatusBytes(tr, names)
	t.Logf("%s: all %d linked %s after the first apply", name, len(names), p.wall.Round(100*time.Millisecond))
	return p, latencies
}

// meanStatusBytes is the mean size of the named connections' status as JSON, as last seen.
func meanStatusBytes(tr *tracker, names []string) float64 {
	var sum, n int
	for _, name := range names {
		c := tr.get(name)
		if c == nil {
			continue
		}
		b, err := json.Marshal(c.Status)
		if err != nil {
			continue
		}
		sum, n = sum+len(b), n+1
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// waitEmpty waits until ns holds no BankConnection (not measured).
func (s *scaleRun) waitEmpty(ctx context.Context, ns string) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list := &v1.BankConnectionList{}
		if err := s.admin.List(ctx, list, client.InNamespace(ns)); err != nil {
			s.t.Fatal(err)
		}
		if len(list.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d BankConnections still in %s after 5 minutes", len(list.Items), ns)
		}
		time.Sleep(time.Second)
	}
}

func (s *scaleRun) idlePhase(ctx context.Context, name string, d time.Duration) phase {
	st := s.begin(ctx)
	select {
	case <-time.After(d):
	case <-ctx.Done():
		s.t.Fatal(ctx.Err())
	}
	return s.end(ctx, name, st, time.Since(st.at))
}

// connectPhase completes the widget of each connection in the sandbox (its test control, the HTTP
// form of a user clicking through) and follows finX's redirect to the operator's callback, as the
// user's browser would, then waits until all of them are Connected.
func (s *scaleRun) connectPhase(ctx context.Context, tr *tracker, ns string, names []string, par int, timeout time.Duration) phase {
	t := s.t
	connected := tr.expect(names, func(c *v1.BankConnection) bool { return c.Status.Phase == v1.PhaseConnected })
	st := s.begin(ctx)
	if err := parallel(ctx, len(names), par, func(ctx context.Context, i int) error {
		c := tr.get(names[i])
		if c == nil || c.Status.Link == nil {
			return fmt.Errorf("%s has no link", names[i])
		}
		var out struct {
			Redirect string `json:"redirect"`
		}
		if err := s.sandboxCall(ctx, http.MethodPost, "/_sandbox/flows/"+c.Status.Link.FlowID+"/complete", &out); err != nil {
			return fmt.Errorf("completing the flow of %s: %w", names[i], err)
		}
		return s.visitCallback(ctx, out.Redirect)
	}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if err := tr.wait(ctx, connected, timeout); err != nil {
		t.Fatalf("connect: %v", err)
	}
	wall := time.Since(st.at)
	s.connected = len(names)
	time.Sleep(settleAfter)
	return s.end(ctx, "connect", st, wall)
}

// visitCallback is the browser following finX's redirect. The URL carries the code and the state,
// so no error quotes it.
func (s *scaleRun) visitCallback(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("unusable redirect URL")
	}
	resp, err := s.browser.Do(req)
	if err != nil {
		return fmt.Errorf("GET callback failed")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("GET callback: HTTP %d", resp.StatusCode)
	}
	return nil
}

// refreshPhase forces one refresh of each connection (the refresh annotation) and waits until each
// has recorded the request as handled, which the operator does after storing the rotated token.
func (s *scaleRun) refreshPhase(ctx context.Context, tr *tracker, ns string, names []string) phase {
	t := s.t
	value := fmt.Sprintf("scale-%d", time.Now().UnixNano())
	handled := tr.expect(names, func(c *v1.BankConnection) bool { return c.Status.LastHandledRefreshRequest == value })
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{v1.AnnotationRefresh: value}}})
	st := s.begin(ctx)
	if err := parallel(ctx, len(names), 8, func(ctx context.Context, i int) error {
		c := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[i]}}
		return s.admin.Patch(ctx, c, client.RawPatch(types.MergePatchType, patch))
	}); err != nil {
		t.Fatalf("refresh: annotating: %v", err)
	}
	if err := tr.wait(ctx, handled, 5*time.Minute); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	wall := time.Since(st.at)
	time.Sleep(settleAfter)
	return s.end(ctx, "refresh", st, wall)
}

// fanoutPhase changes a label on the FinXClient and counts what follows for a while: a label
// changes nothing the connections depend on.
func (s *scaleRun) fanoutPhase(ctx context.Context, ns string, window time.Duration) phase {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
		"bench.finx-operator.io/touched": strconv.FormatInt(time.Now().Unix(), 10)}}})
	st := s.begin(ctx)
	fc := &v1.FinXClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "finx"}}
	if err := s.admin.Patch(ctx, fc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		s.t.Fatalf("fan-out: labelling the FinXClient: %v", err)
	}
	select {
	case <-time.After(window):
	case <-ctx.Done():
		s.t.Fatal(ctx.Err())
	}
	return s.end(ctx, "fan-out", st, time.Since(st.at))
}

// finxCalls are the sandbox's call counts by endpoint (its /_sandbox/stats).
type finxCalls map[string]int

func (s *scaleRun) sandboxStats(ctx context.Context) finxCalls {
	var st sandbox.Stats
	if err := s.sandboxCall(ctx, http.MethodGet, "/_sandbox/stats", &st); err != nil {
		s.t.Fatalf("reading the sandbox's stats: %v", err)
	}
	out := finxCalls{}
	for name, e := range st.Endpoints {
		out[name] = e.Calls
	}
	return out
}

func (f finxCalls) sub(o finxCalls) finxCalls {
	out := finxCalls{}
	for k, v := range f {
		if d := v - o[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// total counts calls; "token/<grant>" entries are a breakdown of "token" and not counted twice.
func (f finxCalls) total() int {
	n := 0
	for k, v := range f {
		if !strings.Contains(k, "/") {
			n += v
		}
	}
	return n
}

func (s *scaleRun) sandboxCall(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.sandboxURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return json.Unmarshal(body, out)
}

func (s *scaleRun) print(n, sample int, minBefore, minAfter minimalResult, operator phase, opLat []time.Duration,
	floor, connect, refresh phase, calls finxCalls, idleOp, fanout phase, mem []memPoint,
	idle, fanoutWindow time.Duration, storm phase, stormRes stormResult) {
	logf := s.logf
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	secs := func(d time.Duration) float64 { return d.Seconds() }
	fn := float64(n)
	// The baseline's column is the mean of its runs just before and just after the operator's.
	minimal := meanOf(minBefore.phase, minAfter.phase)
	minLat := append(slices.Clone(minBefore.latencies), minAfter.latencies...)
	minClient := minBefore.client

	logf("")
	logf("apply → link, all %d, each run in order: minimal %.1fs, operator %.1fs, minimal %.1fs;"+
		" operator / mean of the two minimal runs around it: %s (against the run before %s, after %s)",
		n, secs(minBefore.phase.wall), secs(operator.wall), secs(minAfter.phase.wall), ratio(secs(operator.wall), secs(minimal.wall)),
		ratio(secs(operator.wall), secs(minBefore.phase.wall)), ratio(secs(operator.wall), secs(minAfter.phase.wall)))
	logf("controller process CPU per link, each run in order: minimal %.2fms, operator %.2fms, minimal %.2fms",
		ms(minBefore.phase.mgrCPU)/fn, ms(operator.mgrCPU)/fn, ms(minAfter.phase.mgrCPU)/fn)
	if len(s.rounds) > 1 {
		logf("apply → link in %d rounds (each operator run between two minimal runs; the table below is round 1):\n%s",
			len(s.rounds), roundsReport(s.rounds))
	}
	logf("")
	logf("%-34s %14s %14s %8s", "figure", "finx-operator", "minimal", "ratio")
	logf("%-34s %13.1fs %13.1fs %8s", fmt.Sprintf("apply → link, all %d", n), secs(operator.wall), secs(minimal.wall),
		ratio(secs(operator.wall), secs(minimal.wall)))
	logf("%-34s %13.1fs %13.1fs", "  of which applying them (harness)", secs(operator.applied), secs(minimal.applied))
	logf("%-34s %13.1fs %13.1fs %8s", "  last apply → last link", secs(operator.wall-operator.applied), secs(minimal.wall-minimal.applied),
		ratio(secs(operator.wall-operator.applied), secs(minimal.wall-minimal.applied)))
	logf("%-34s %12.0fms %12.0fms %8s", "apply → link, p50 per connection", ms(quantile(opLat, 0.5)), ms(quantile(minLat, 0.5)),
		ratio(ms(quantile(opLat, 0.5)), ms(quantile(minLat, 0.5))))
	logf("%-34s %12.0fms %12.0fms %8s", "apply → link, p95 per connection", ms(quantile(opLat, 0.95)), ms(quantile(minLat, 0.95)),
		ratio(ms(quantile(opLat, 0.95)), ms(quantile(minLat, 0.95))))
	logf("%-34s %13.0fB %13.0fB %8s", "status per link, as JSON", operator.statusBytes, minimal.statusBytes,
		ratio(operator.statusBytes, minimal.statusBytes))
	opAPI, minAPI := operator.apiCPU+operator.etcdCPU, minimal.apiCPU+minimal.etcdCPU
	logf("%-34s %13.1fs %13.1fs %8s", "kube-apiserver + etcd CPU", secs(opAPI), secs(minAPI), ratio(secs(opAPI), secs(minAPI)))
	logf("%-34s %13.1fs %13.1fs", "  of which kube-apiserver", secs(operator.apiCPU), secs(minimal.apiCPU))
	logf("%-34s %13.1fs %13.1fs", "  of which etcd", secs(operator.etcdCPU), secs(minimal.etcdCPU))
	logf("%-34s %13.1fs %13.1fs %8s", "controller process CPU", secs(operator.mgrCPU), secs(minimal.mgrCPU),
		ratio(secs(operator.mgrCPU), secs(minimal.mgrCPU)))
	opReq, minReq := operator.controller(), minimal.controller()
	logf("%-34s %14.2f %14.2f %8s", "API reads per link (GET, LIST)", opReq.reads("leases")/fn, minReq.reads("leases")/fn,
		ratio(opReq.reads("leases"), minReq.reads("leases")))
	logf("%-34s %14.2f %14.2f %8s", "API writes per link (no leases)", opReq.writes("leases")/fn, minReq.writes("leases")/fn,
		ratio(opReq.writes("leases"), minReq.writes("leases")))
	logf("%-34s %14.2f %14.2f", "  of which Events", opReq.events()/fn, minReq.events()/fn)
	logf("")
	logf("API requests per link, by verb and resource (kube-apiserver counts minus the harness's own):")
	logf("  operator: %s", opReq.format(fn))
	logf("  minimal:  %s", minReq.format(fn))
	logf("  minimal, counted by its own client over its whole life (a check on the above): %s", minClient.format(fn))
	logf("  harness's own requests in each link phase (taken off): %s", operator.harness.format(1))
	logf("")
	s.printMemory(mem)
	logf("minimal controller RSS (its own process, a test binary): %.1f MiB at start, %.1f MiB with %d linked, peak %.1f MiB",
		mibOf(minBefore.memStart.rssKiB), mibOf(minBefore.memLinked.rssKiB), n, mibOf(minBefore.memLinked.peakKiB))
	logf("")
	if s.connected > 0 {
		fs := float64(sample)
		logf("callback → Connected, %d connections (%.1fs): per connection %s", s.connected, secs(connect.wall),
			connect.controller().format(float64(s.connected)))
		rq := refresh.controller()
		logf("per refresh, %d connections refreshed by annotation (%.1fs): %.2f finX calls (%s), %.2f writes without Events and leases, %.2f reads",
			sample, secs(refresh.wall), float64(calls.total())/fs, formatCalls(calls), rq.writes("events", "leases")/fs, rq.reads("leases")/fs)
		logf("  per refresh by verb and resource: %s", rq.format(fs))
		logf("  %.1f rotations/s with --max-concurrent-reconciles %d (a sample of %d, not a storm: see below)",
			fs/secs(refresh.wall), s.concurrency, sample)
	}
	logf("")
	s.printStorm(storm, stormRes)
	logf("")
	iq, fq := idleOp.controller(), floor.controller()
	logf("idle, %s with nothing to do: %.0f writes (%.0f without leader election's leases), %.0f reads (GET, LIST); %s",
		idle, iq.writes(), iq.writes("leases"), iq.reads(), iq.format(1))
	logf("  kube-apiserver + etcd CPU %.1fs, manager CPU %.1fs", secs(idleOp.apiCPU+idleOp.etcdCPU), secs(idleOp.mgrCPU))
	logf("floor, %s with no controller running: %.0f writes, %.0f reads (GET, LIST); %s; kube-apiserver + etcd CPU %.1fs",
		idle, fq.writes(), fq.reads(), fq.format(1), secs(floor.apiCPU+floor.etcdCPU))
	fo := fanout.controller()
	logf("fan-out, one label change on the FinXClient of all %d connections, counted for %s: %.0f reads (GET, LIST), %.0f writes without leases; %s",
		n, fanoutWindow, fo.reads("leases"), fo.writes("leases"), fo.format(1))
	logf("  kube-apiserver + etcd CPU %.1fs, manager CPU %.1fs", secs(fanout.apiCPU+fanout.etcdCPU), secs(fanout.mgrCPU))

	s.t.Log("\n" + s.report.String())
	path := filepath.Join(s.workDir, "report.txt")
	if err := os.WriteFile(path, []byte(s.report.String()), 0o644); err != nil {
		s.t.Errorf("writing %s: %v", path, err)
	}

	// What must hold for the figures to mean anything: every phase did its work, and the baseline
	// made exactly one request per link.
	for _, m := range []minimalResult{minBefore, minAfter} {
		if got := m.client.writes(); got != fn {
			s.t.Errorf("the minimal controller (%s) made %.0f writes for %d links, want exactly one status patch each", m.phase.name, got, n)
		}
	}
	if calls["token"] < sample {
		s.t.Errorf("the sandbox saw %d token calls for %d refreshes", calls["token"], sample)
	}
}

func formatCalls(c finxCalls) string {
	var parts []string
	for k, v := range c {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
