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

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/devstack"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// minimalController is the baseline of issue 10: the least a controller must do to hand out
// links — watch BankConnections, POST /ongoing/access, patch status.link — and nothing else: no
// credentials lookup (its finX client is built once from the sandbox's credentials), no private
// Secret, no Event, no state kept anywhere. Its reads come from its informer cache, so a link costs
// the API server exactly one request, the status patch. It runs in a process of its own (see
// TestScaleMinimalProcess) with the same concurrency as the manager and, like the manager, no client-side API rate limit (QPS -1 is what
// controller-runtime's GetConfig gives cmd/main.go).
type minimalController struct {
	c  client.Client
	fx *finx.Client
	// operatorStatus: write the operator's first-link status (BENCH_SCALE_MINIMAL_STATUS=operator).
	operatorStatus bool
}

// TestScaleMinimalProcess is how the baseline gets a process of its own: TestScale runs this test
// binary again with only this test selected and BENCH_SCALE_MINIMAL_NS set, so that the baseline
// neither shares the harness's CPU (which applies the connections at the same time) nor hides its
// memory in the harness's, just as the manager runs as a process of its own. It runs until SIGTERM,
// then writes its client-side request counts as JSON to BENCH_SCALE_MINIMAL_COUNTS. Without
// BENCH_SCALE_MINIMAL_NS it skips.
func TestScaleMinimalProcess(t *testing.T) {
	ns := os.Getenv("BENCH_SCALE_MINIMAL_NS")
	if ns == "" {
		t.Skip("run by TestScale only")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	counter := newCounter()
	stop, err := startMinimal(ctx, counter.wrap(cfg), devstack.Scheme(), ns, os.Getenv("BENCH_SCALE_SANDBOX_URL"),
		envInt("BENCH_MAX_CONCURRENT", 16))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(minimalReady)
	<-ctx.Done()
	stop()
	data, err := json.Marshal(counter.snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("BENCH_SCALE_MINIMAL_COUNTS"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// minimalReady is the line the baseline's process prints once its cache has synced.
const minimalReady = "minimal controller ready"

// startMinimalProcess starts TestScaleMinimalProcess in a new process (see there) and returns it
// once its cache has synced. countsPath receives its request counts when it is stopped.
//
// It authenticates as the operator's ServiceAccount, as the manager does, so that both
// controllers' requests go through the same authorisation and the same API Priority and Fairness
// flow. As cluster admin (system:masters, BENCH_SCALE_MINIMAL_IDENTITY=admin) its requests would
// be exempt from both.
func (s *scaleRun) startMinimalProcess(ctx context.Context, ns, countsPath string) *devcluster.Process {
	kubeconfig := s.stack.AdminKubeconfig
	if os.Getenv("BENCH_SCALE_MINIMAL_IDENTITY") != "admin" {
		var err error
		if kubeconfig, err = s.stack.WriteKubeconfig("minimal-controller", s.stack.OperatorConfig()); err != nil {
			s.t.Fatal(err)
		}
	}
	p, err := devcluster.StartProcess(ctx, "minimal-controller", s.stack.LogPath("minimal-controller"), []string{
		"BENCH_SCALE_MINIMAL_NS=" + ns,
		"BENCH_SCALE_MINIMAL_COUNTS=" + countsPath,
		"BENCH_SCALE_SANDBOX_URL=" + s.sandboxURL,
		"BENCH_MAX_CONCURRENT=" + strconv.Itoa(s.concurrency),
		"KUBECONFIG=" + kubeconfig,
	}, os.Args[0], "-test.run", "^TestScaleMinimalProcess$", "-test.v")
	if err != nil {
		s.t.Fatalf("starting the minimal controller: %v", err)
	}
	s.t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitForLogLine(waitCtx, minimalReady); err != nil {
		s.t.Fatalf("the minimal controller did not start: %v; see %s", err, p.LogPath())
	}
	return p
}

// stopMinimalProcess stops it and returns its request counts.
func (s *scaleRun) stopMinimalProcess(p *devcluster.Process, countsPath string) requests {
	if err := p.Stop(30 * time.Second); err != nil {
		s.t.Fatalf("stopping the minimal controller: %v; see %s", err, p.LogPath())
	}
	data, err := os.ReadFile(countsPath)
	if err != nil {
		s.t.Fatalf("the minimal controller left no request counts: %v; see %s", err, p.LogPath())
	}
	counts := requests{}
	if err := json.Unmarshal(data, &counts); err != nil {
		s.t.Fatal(err)
	}
	return counts
}

// startMinimal runs the baseline on namespace ns only (the operator is not running while it does:
// TestScale runs the two one after the other on the same cluster) and returns its stop function.
func startMinimal(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, ns, sandboxURL string, concurrency int) (stop func(), err error) {
	// controller-runtime warns, with a stack trace, when its global logger is never set; the
	// manager under test logs to its own file.
	ctrl.SetLogger(logr.Discard())
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	// Uncompressed answers, as the manager asks for by default (--kube-api-compression=false).
	cfg.DisableCompression = true
	fx, err := finx.New(finx.Config{
		BaseURL: sandboxURL, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
		// The same limit as the operator's FinXClient in this run: high enough not to be measured.
		RequestsPerSecond: scaleFinXRate, Burst: scaleFinXBurst,
	})
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 logr.Discard(),
	})
	if err != nil {
		return nil, err
	}
	r := &minimalController{c: mgr.GetClient(), fx: fx, operatorStatus: os.Getenv("BENCH_SCALE_MINIMAL_STATUS") == "operator"}
	skip := true
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("minimal-bankconnection").
		For(&v1.BankConnection{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency, SkipNameValidation: &skip}).
		Complete(r); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		cancel()
		return nil, fmt.Errorf("the minimal controller's cache did not sync: %v", <-done)
	}
	return func() {
		cancel()
		<-done
	}, nil
}

func (r *minimalController) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := &v1.BankConnection{}
	if err := r.c.Get(ctx, req.NamespacedName, c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if c.Status.Link != nil {
		return ctrl.Result{}, nil
	}
	// A state, as any real flow sends one (the sandbox echoes it on the callback).
	state := make([]byte, 24)
	_, _ = rand.Read(state)
	link, err := r.fx.CreateOngoingAccess(ctx, finx.AccessRequest{
		UserID: c.Spec.UserID, RedirectURI: c.Spec.RedirectURI, State: base64.RawURLEncoding.EncodeToString(state),
	})
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("POST /ongoing/access: %w", err)
	}
	patch := client.MergeFrom(c.DeepCopy())
	c.Status.Link = &v1.LinkStatus{URL: link.Location, FlowID: link.ID, IssuedAt: metav1.Now()}
	if r.operatorStatus {
		operatorShapedStatus(c, state)
	}
	if err := r.c.Status().Patch(ctx, c, patch); err != nil {
		if errors.Is(err, context.Canceled) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patching status.link: %w", err)
	}
	return ctrl.Result{}, nil
}

// operatorShapedStatus gives the baseline's status the fields and sizes of the operator's first
// link (BENCH_SCALE_MINIMAL_STATUS=operator): the same controller with the operator's status shows
// how much of the gap between the two is what the status holds, not the work that computes it.
func operatorShapedStatus(c *v1.BankConnection, state []byte) {
	now := metav1.Now()
	exp := metav1.NewTime(now.Add(24 * time.Hour))
	sum := sha256.Sum256(state)
	h := hex.EncodeToString(sum[:])
	l := c.Status.Link
	l.ExpiresAt, l.StateHash, l.ForGeneration, l.SettingsHash = &exp, h, c.Generation, h[:16]
	c.Status.ObservedGeneration = c.Generation
	c.Status.Phase = v1.PhaseAwaitingAuthorization
	c.Status.FinXUserID = "u-" + h[16:48]
	cond := func(t string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: t, Status: status, ObservedGeneration: c.Generation,
			LastTransitionTime: now, Reason: reason, Message: msg}
	}
	// The operator's messages, of the same length (controllers/ready.go and step_link.go).
	c.Status.Conditions = []metav1.Condition{
		cond(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonAwaitingUser,
			"Waiting for the user to authorise access through the link in status.link.url."),
		cond(v1.ConditionLinkIssued, metav1.ConditionTrue, v1.ReasonLinkIssued,
			"Send the user to status.link.url to authorise access; an unused link is replaced at status.link.expiresAt."),
		cond(v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonAwaitingUser,
			"Waiting for the end user to authorise access through the link in status.link.url; the operator has done its part."),
	}
}
