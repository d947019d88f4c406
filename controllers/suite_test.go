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

package controllers_test

import (
	"bytes"
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/controllers"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/leakcheck"
	"github.com/finx-operator/finx-operator/internal/logsafe"
	"github.com/finx-operator/finx-operator/internal/metrics"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/testenv"
)

// The suite runs the real controllers (as cmd/main.go wires them) against a real kube-apiserver and
// etcd, with the finX sandbox in-process and short token lifetimes.

const (
	accessTTL       = 4 * time.Second
	refreshLifetime = time.Minute
	// suiteInstance is the manager's instance in the spend journal.
	suiteInstance = "suite-manager"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	cfg       *rest.Config
	testEnv   *envtest.Environment
	k8sClient client.Client
	// mgrCache is the manager's cache, to check what it keeps in memory.
	mgrCache   client.Reader
	scheme     = runtime.NewScheme()
	sbx        *sandbox.Server
	sandboxURL string
	// sbxGrace honours a replay of a spent refresh token for 30s, like a finX with a reuse grace.
	sbxGrace        *sandbox.Server
	sandboxGraceURL string
	// sbxConsent and sbxNoCode run on the suite's clock, so a spec can step consents towards
	// their expiry and bank syncs out of date. sbxNoCode's re-consent redirect carries no code.
	sbxConsent, sbxNoCode        *sandbox.Server
	sandboxConsentURL, noCodeURL string
	// apiFaults sits between the manager and the API server.
	apiFaults = apifault.NewInjector(nil)
	// clk is the manager's clock: real time plus an offset that specs step forward instead of
	// sleeping until tokens age or links expire.
	clk = &steppedClock{}
	// frontURL serves front: the sandbox, or whatever a spec puts in between.
	frontURL    string
	callbackURL string
	logs        = &syncBuffer{}
	promReg     = prometheus.NewRegistry()
	// secrets collects every token, code and state the suite has seen, to prove none leaked.
	secrets = &secretSet{}
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller suite")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	DeferCleanup(func() { cancel() })

	// Every log level on, as --zap-log-level=10 and klog's -v=10 would set them: the leak check in
	// leaks_test.go then proves that nothing client-go or the operator logs at any level carries a
	// secret. Logs go to the Ginkgo writer and to a buffer the leak check reads.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	Expect(klogFlags.Set("v", "10")).To(Succeed())
	logger := logsafe.Wrap(zap.New(zap.WriteTo(ioMulti{GinkgoWriter, logs}), zap.UseDevMode(true), zap.Level(zapcore.Level(-10))))
	ctrl.SetLogger(logger)
	klog.SetLoggerWithOptions(logger, klog.ContextualLogger(true))
	DeferCleanup(func() { _ = klogFlags.Set("v", "0") })

	env, c, err := testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	testEnv = env
	cfg = logsafe.Harden(c, logger.WithName("api-warnings"))
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	sbx = sandbox.New(sandbox.Config{AccessTokenTTL: accessTTL, RefreshTokenTTL: refreshLifetime})
	sbxSrv := httptest.NewServer(sbx.Handler())
	DeferCleanup(sbxSrv.Close)
	sandboxURL = sbxSrv.URL
	sbxGrace = sandbox.New(sandbox.Config{AccessTokenTTL: accessTTL, RefreshTokenTTL: refreshLifetime, RefreshReuseGrace: 30 * time.Second})
	graceSrv := httptest.NewServer(sbxGrace.Handler())
	DeferCleanup(graceSrv.Close)
	sandboxGraceURL = graceSrv.URL

	sbxConsent = sandbox.New(sandbox.Config{AccessTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour,
		ConsentLifetime: 2 * time.Hour, Now: clk.Now})
	consentSrv := httptest.NewServer(sbxConsent.Handler())
	DeferCleanup(consentSrv.Close)
	sandboxConsentURL = consentSrv.URL
	sbxNoCode = sandbox.New(sandbox.Config{AccessTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour,
		ConsentLifetime: 30 * 24 * time.Hour, SyncRedirectWithoutCode: true, Now: clk.Now})
	noCodeSrv := httptest.NewServer(sbxNoCode.Handler())
	DeferCleanup(noCodeSrv.Close)
	noCodeURL = noCodeSrv.URL

	sbxTarget, err := url.Parse(sandboxURL)
	Expect(err).NotTo(HaveOccurred())
	passThrough := httputil.NewSingleHostReverseProxy(sbxTarget)
	// Into the spec's report, not stderr: a proxy's complaint is then read with the spec it belongs to.
	passThrough.ErrorLog = log.New(GinkgoWriter, "front: ", log.Lmicroseconds)
	front.passThrough = passThrough
	frontSrv := httptest.NewServer(front)
	DeferCleanup(frontSrv.Close)
	frontURL = frontSrv.URL

	cbAddr := freeAddr()
	callbackURL = "http://" + cbAddr + "/callback"
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(apiFaults.Wrap)
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:  scheme,
		Cache:   controllers.CacheOptions(nil),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:  logger,
	})
	Expect(err).NotTo(HaveOccurred())
	mgrCache = mgr.GetCache()
	ready := make(chan struct{})
	Expect(controllers.Setup(mgr, controllers.Options{
		CallbackAddr:  cbAddr,
		CallbackReady: ready,
		BackoffBase:   300 * time.Millisecond,
		BackoffMax:    2 * time.Second,
		SpendTimeout:  4 * time.Second,
		InstanceID:    suiteInstance,
		Clock:         clk,
		Metrics:       metrics.New(promReg),
		// The in-process sandbox listens on loopback; like the demo and e2e, the suite opts in to
		// exactly its URL (and the front's) and nothing else of the host.
		AllowedFinXBaseURLs: []string{sandboxURL, frontURL, sandboxGraceURL, sandboxConsentURL, noCodeURL},
	})).To(Succeed())
	mgrCtx, mgrCancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	DeferCleanup(func() { mgrCancel(); <-done })
	Eventually(ready).WithTimeout(30 * time.Second).Should(BeClosed())
})

// steppedClock runs with real time, and jumps ahead when a spec steps it. Only forward: the
// reconciler never sees time go back.
type steppedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *steppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *steppedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Step moves the clock d ahead.
func (c *steppedClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

// front stands between the operator and the sandbox for specs that need finX unreachable or its
// answers spoiled. A client's baseURL is immutable and must be on the allowlist, so such specs give
// their tenant a client on frontURL and switch front's behaviour, instead of repointing a client.
var front = &switchable{}

type switchable struct {
	passThrough http.Handler
	h           atomic.Pointer[http.Handler]
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	s.passThrough.ServeHTTP(w, r)
}

// use puts h in front of the sandbox until the spec ends, or until pass() is called.
func (s *switchable) use(h http.Handler) {
	s.h.Store(&h)
	DeferCleanup(s.pass)
}

// pass lets requests through to the sandbox again.
func (s *switchable) pass() { s.h.Store(nil) }

// browser is what a user's browser would be: it does not follow the callback's redirect so specs can
// look at it.
var browser = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type ioMulti struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (m ioMulti) Write(p []byte) (int, error) {
	_, _ = m.a.Write(p)
	return m.b.Write(p)
}

// secretSet is every secret value the suite has seen; leakIn looks for them raw, base64- and
// hex-encoded and inside hex dumps (internal/leakcheck).
type secretSet struct{ set leakcheck.Set }

func (s *secretSet) add(kind, v string) { s.set.Add(kind, v) }

// leakIn returns a description of the first collected secret found in text.
func (s *secretSet) leakIn(text string) string { return s.set.Find(text) }

func (s *secretSet) size() int { return s.set.Len() }
