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
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/controllers"
	"github.com/finx-operator/finx-operator/internal/metrics"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/testenv"
)

// The environment mirrors controllers/suite_test.go: a real kube-apiserver and etcd, the finX sandbox
// in-process behind httptest, and the manager wired as cmd/main.go wires it (controllers.Setup with
// controllers.CacheOptions), running in this process. It is started by the first benchmark that
// needs it, so plain `go test` starts nothing, and stopped by TestMain.

var (
	// waitTimeout bounds every single wait (a link, a phase, a token change).
	waitTimeout = envDuration("BENCH_WAIT_TIMEOUT", time.Minute)
	// setupParallelism is how many connections fixtures authorise at once.
	setupParallelism = envInt("BENCH_SETUP_PARALLELISM", 8)
)

type benchEnv struct {
	cfg         *rest.Config
	scheme      *runtime.Scheme
	client      client.Client // uncached: reads go to the API server
	sbx         *sandbox.Server
	sandboxURL  string
	callbackURL string
	browser     *http.Client
	stop        func()
}

var (
	envOnce   sync.Once
	sharedEnv *benchEnv
	envErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil {
		sharedEnv.stop()
	}
	os.Exit(code)
}

// environment returns the shared environment, starting it on first use.
func environment(b *testing.B) *benchEnv {
	b.Helper()
	envOnce.Do(func() { sharedEnv, envErr = startEnv() })
	if envErr != nil {
		b.Fatal(envErr)
	}
	return sharedEnv
}

func startEnv() (*benchEnv, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: these benchmarks start a real kube-apiserver and etcd; " +
			"run them with KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh) go test ./test/bench/ -run '^$' -bench . " +
			"(or through `make bench` once that target sets KUBEBUILDER_ASSETS and includes ./test/bench/)")
	}
	logger, err := operatorLogger()
	if err != nil {
		return nil, err
	}
	ctrl.SetLogger(logger)

	var cleanups []func()
	e := &benchEnv{scheme: runtime.NewScheme()}
	e.stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	fail := func(err error) (*benchEnv, error) {
		e.stop()
		return nil, err
	}

	env, cfg, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the control plane:", err)
		}
	})
	e.cfg = cfg
	if err := clientgoscheme.AddToScheme(e.scheme); err != nil {
		return fail(err)
	}
	if err := v1.AddToScheme(e.scheme); err != nil {
		return fail(err)
	}
	if e.client, err = client.New(cfg, client.Options{Scheme: e.scheme}); err != nil {
		return fail(err)
	}

	// Default token lifetimes (1h access, 90d refresh): nothing here waits for an expiry, refreshes
	// are forced by annotation, and no connection refreshes on its own during a run.
	e.sbx = sandbox.New(sandbox.Config{})
	sbxSrv := httptest.NewServer(e.sbx.Handler())
	cleanups = append(cleanups, sbxSrv.Close)
	e.sandboxURL = sbxSrv.URL

	cbAddr, err := freeAddr()
	if err != nil {
		return fail(err)
	}
	e.callbackURL = "http://" + cbAddr + "/callback"
	// The user's browser: it does not follow the callback's redirect.
	e.browser = &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  e.scheme,
		Cache:   controllers.CacheOptions(nil),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:  logger,
	})
	if err != nil {
		return fail(err)
	}
	ready := make(chan struct{})
	if err := controllers.Setup(mgr, controllers.Options{
		CallbackAddr:  cbAddr,
		CallbackReady: ready,
		// cmd/main.go's --max-concurrent-reconciles default (the controller suite runs with 1).
		MaxConcurrentReconciles: envInt("BENCH_MAX_CONCURRENT", 16),
		BackoffBase:             300 * time.Millisecond,
		BackoffMax:              2 * time.Second,
		Metrics:                 metrics.New(prometheus.NewRegistry()),
		AllowedFinXBaseURLs:     []string{e.sandboxURL},
	}); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	cleanups = append(cleanups, func() {
		cancel()
		if stopped {
			return
		}
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "bench: manager:", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		stopped = true
		return fail(fmt.Errorf("the manager stopped while starting: %v", err))
	case <-time.After(30 * time.Second):
		return fail(errors.New("the callback endpoint did not come up within 30s"))
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, 30*time.Second)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		return fail(errors.New("the manager's cache did not sync within 30s"))
	}
	return e, nil
}

// operatorLogger logs the operator's errors to stderr by default (BENCH_LOG picks another level, or
// off). Debug logging costs CPU the benchmarks would then measure.
func operatorLogger() (logr.Logger, error) {
	level := os.Getenv("BENCH_LOG")
	switch level {
	case "off":
		return logr.Discard(), nil
	case "":
		level = "error"
	}
	l, err := zapcore.ParseLevel(level)
	if err != nil {
		return logr.Logger{}, fmt.Errorf("BENCH_LOG=%q: %w", level, err)
	}
	return zap.New(zap.WriteTo(os.Stderr), zap.Level(l)), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tenant is a namespace with a FinXClient pointing at the sandbox.
type tenant struct {
	ns     string
	client string
}

// newTenant creates a namespace, the sandbox's client credentials and a FinXClient, and waits until
// the FinXClient is Ready. The FinXClient's rate limit is set to its maximum (1000 requests/s, burst
// 1000) so that the operator's client-side limiter toward finX is not what the benchmarks measure;
// the default (10/s, burst 20) would cap refresh throughput at 10/s.
func (e *benchEnv) newTenant(ctx context.Context, prefix string) (tenant, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := e.client.Create(ctx, ns); err != nil {
		return tenant{}, fmt.Errorf("creating a namespace: %w", err)
	}
	t := tenant{ns: ns.Name, client: "finx"}
	if err := e.client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "finx-credentials"},
		Type:       v1.SecretTypeClientCredentials,
		StringData: map[string]string{"client_id": sandbox.DefaultClientID, "client_secret": sandbox.DefaultClientSecret},
	}); err != nil {
		return tenant{}, fmt.Errorf("creating the credentials Secret: %w", err)
	}
	fc := &v1.FinXClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: t.client},
		Spec: v1.FinXClientSpec{
			BaseURL:              e.sandboxURL,
			CredentialsSecretRef: v1.CredentialsSecretReference{Name: "finx-credentials"},
			RequestsPerSecond:    ptr.To[int32](1000),
			Burst:                ptr.To[int32](1000),
		},
	}
	if err := e.client.Create(ctx, fc); err != nil {
		return tenant{}, fmt.Errorf("creating the FinXClient: %w", err)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		if err := e.client.Get(ctx, client.ObjectKeyFromObject(fc), fc); err != nil {
			return tenant{}, err
		}
		if meta.IsStatusConditionTrue(fc.Status.Conditions, v1.ConditionReady) {
			return t, nil
		}
		if time.Now().After(deadline) {
			return tenant{}, fmt.Errorf("FinXClient %s/%s not Ready after %s", t.ns, t.client, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (t tenant) connection(name string, mode v1.AccessTokenMode) *v1.BankConnection {
	return &v1.BankConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
		Spec: v1.BankConnectionSpec{
			ClientRef:   v1.ClientReference{Name: t.client},
			UserID:      name + "@example.com",
			AccessToken: v1.AccessTokenSpec{Mode: mode},
		},
	}
}

// connectTiming is when each step of one connection happened, as seen by the benchmark.
type connectTiming struct {
	applied    time.Time // just before the Create call
	linked     time.Time // the watch delivered a status with a link
	calledBack time.Time // just before the browser's GET of the callback
	connected  time.Time // the watch delivered phase Connected
}

// connect takes a new BankConnection from creation to Connected the way a user would: the link from
// status, the widget completed (sandbox.CompleteFlow, the Go-level equivalent of clicking through
// it), then the browser following finX's redirect to the operator's callback endpoint.
func (e *benchEnv) connect(ctx context.Context, w *watcher, t tenant, name string, mode v1.AccessTokenMode) (connectTiming, error) {
	var tm connectTiming
	c := t.connection(name, mode)
	c.Spec.RedirectURI = e.callbackURL
	key := client.ObjectKeyFromObject(c)
	linked := w.expect(kindConnection, key, hasLink)
	tm.applied = time.Now()
	if err := e.client.Create(ctx, c); err != nil {
		return tm, fmt.Errorf("creating BankConnection %s: %w", key, err)
	}
	at, obj, err := linked.wait(ctx)
	if err != nil {
		return tm, fmt.Errorf("BankConnection %s got no link: %w (%s)", key, err, e.describe(ctx, key))
	}
	tm.linked = at
	redirect, err := e.sbx.CompleteFlow(obj.(*v1.BankConnection).Status.Link.FlowID, true)
	if err != nil {
		return tm, fmt.Errorf("completing the widget of %s: %w", key, err)
	}
	connected := w.expect(kindConnection, key, isConnected)
	tm.calledBack = time.Now()
	if err := e.visitCallback(ctx, redirect); err != nil {
		return tm, fmt.Errorf("callback of %s: %w", key, err)
	}
	if tm.connected, _, err = connected.wait(ctx); err != nil {
		return tm, fmt.Errorf("BankConnection %s not Connected: %w (%s)", key, err, e.describe(ctx, key))
	}
	return tm, nil
}

// connectMany connects every named connection, setupParallelism at a time.
func (e *benchEnv) connectMany(ctx context.Context, w *watcher, t tenant, names []string, mode v1.AccessTokenMode) error {
	return parallel(ctx, len(names), setupParallelism, func(ctx context.Context, i int) error {
		_, err := e.connect(ctx, w, t, names[i], mode)
		return err
	})
}

// visitCallback is the browser following finX's redirect to the callback endpoint. Errors never
// contain the URL: it carries the authorisation code and state.
func (e *benchEnv) visitCallback(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return errors.New("unusable redirect URL")
	}
	resp, err := e.browser.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the wrapper and with it the URL
		}
		return fmt.Errorf("GET callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("GET callback: HTTP %d", resp.StatusCode)
	}
	return nil
}

// describe summarises a connection for failure messages (status carries no token material).
func (e *benchEnv) describe(ctx context.Context, key client.ObjectKey) string {
	c := &v1.BankConnection{}
	if err := e.client.Get(context.WithoutCancel(ctx), key, c); err != nil {
		return "reading it: " + err.Error()
	}
	s := fmt.Sprintf("phase=%q", c.Status.Phase)
	for _, cond := range c.Status.Conditions {
		s += fmt.Sprintf(" %s=%s/%s", cond.Type, cond.Status, cond.Reason)
	}
	if le := c.Status.LastError; le != nil {
		s += fmt.Sprintf(" lastError=%s/%s: %s", le.Operation, le.Reason, le.Message)
	}
	return s
}

func hasLink(o client.Object) bool {
	c, ok := o.(*v1.BankConnection)
	return ok && c.Status.Link != nil && c.Status.Link.URL != "" && c.Status.Link.FlowID != ""
}

func isConnected(o client.Object) bool {
	c, ok := o.(*v1.BankConnection)
	return ok && c.Status.Phase == v1.PhaseConnected
}

// parallel runs f(0..n-1) with at most width calls at once and returns the first error; after an
// error it starts no more calls.
func parallel(ctx context.Context, n, width int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for range max(1, min(width, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// fixture is built once per process and shared by every invocation of a benchmark (the testing
// package calls a benchmark function once with b.N=1 and again with the real b.N).
type fixture[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (f *fixture[T]) get(b *testing.B, build func(context.Context) (T, error)) T {
	b.Helper()
	f.once.Do(func() { f.v, f.err = build(context.Background()) })
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.v
}

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		panic(fmt.Sprintf("%s=%q: want a positive integer", name, v))
	}
	return n
}

// envCount is envInt where 0 is allowed (none).
func envCount(name string, def int) int {
	if os.Getenv(name) == "0" {
		return 0
	}
	return envInt(name, def)
}

func envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		panic(fmt.Sprintf("%s=%q: want a positive duration such as 90s", name, v))
	}
	return d
}
