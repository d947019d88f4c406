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
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/controllers"
	"github.com/finx-operator/finx-operator/internal/apifault"
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
	ctx        context.Context
	cancel     context.CancelFunc
	cfg        *rest.Config
	k8sClient  client.Client
	scheme     = runtime.NewScheme()
	sbx        *sandbox.Server
	sandboxURL string
	// sbxGrace honours a replay of a spent refresh token for 30s, like a finX with a reuse grace.
	sbxGrace        *sandbox.Server
	sandboxGraceURL string
	// apiFaults sits between the manager and the API server.
	apiFaults = apifault.NewInjector(nil)
	// clk is the manager's clock: real time plus an offset that specs step forward instead of
	// sleeping until tokens age or links expire.
	clk         = &steppedClock{}
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
	env, c, err := testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	cfg = c
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

	// Logs go to the Ginkgo writer and to a buffer the leak check reads.
	logger := zap.New(zap.WriteTo(ioMulti{GinkgoWriter, logs}), zap.UseDevMode(true), zap.Level(zapcore.DebugLevel))
	ctrl.SetLogger(logger)

	cbAddr := freeAddr()
	callbackURL = "http://" + cbAddr + "/callback"
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(apiFaults.Wrap)
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:  scheme,
		Cache:   controllers.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:  logger,
	})
	Expect(err).NotTo(HaveOccurred())
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

type secretSet struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *secretSet) add(kind, v string) {
	if len(v) < 8 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[v] = kind
}

// leakIn returns a description of the first collected secret found in text.
func (s *secretSet) leakIn(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v, kind := range s.m {
		if strings.Contains(text, v) {
			return fmt.Sprintf("a %s (%d chars)", kind, len(v))
		}
	}
	return ""
}

func (s *secretSet) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
