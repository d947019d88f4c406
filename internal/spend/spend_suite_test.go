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

package spend_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/testenv"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// The suite runs the spend protocol on its own against a real kube-apiserver and etcd: the
// resourceVersion preconditions, ownership checks and Secret re-creation it relies on are the API
// server's, so a fake client would prove nothing. Faults are injected between the protocol and the
// real client with an interceptor.

// spendTimeout is the Protocol's Timeout in every spec; the fence is spendTimeout + margin.
const (
	spendTimeout = 4 * time.Second
	fenceMargin  = 2 * time.Second // min(5s, spendTimeout/2)
)

var (
	ctx       context.Context
	k8sClient client.WithWatch // straight to the API server: the test's own view and "other writers"
	scheme    = runtime.NewScheme()
	namespace string
)

func TestSpend(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Spend protocol suite")
}

var _ = BeforeSuite(func() {
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	DeferCleanup(cancel)
	env, cfg, err := testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "spend-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	namespace = ns.Name
})

// write is one Update of a Secret that went through a process's client.
type write struct {
	token   string // the refresh token the write stores
	journal string // the in-flight annotation it carries ("" if none)
	ended   string // the chain-ended annotation it carries
	applied bool   // the API server stored it (whatever the process was told)
}

// fault decides the fate of one Update. match picks the write; times bounds how often it fires
// (0: until lifted).
type fault struct {
	match func(*corev1.Secret) bool
	times int
	// what happens: refused writes never reach the API server; applied ones do, then err is
	// returned anyway; hang waits for the caller's deadline (after applying, if applied).
	err     error
	applied bool
	hang    bool
	// die: the process crashes right after the write (applied or not): it never learns the outcome.
	die bool
}

// process is the API connection of one operator process: every Update it makes is recorded, faults
// apply to it, and kill makes every later call fail as a crashed process's would never return.
type process struct {
	client.WithWatch
	mu     sync.Mutex
	writes []write
	faults []*fault
	dead   bool
}

var errDead = errors.New("the process crashed")

func newProcess() *process {
	pr := &process{}
	pr.WithWatch = interceptor.NewClient(k8sClient, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if pr.isDead() {
				return errDead
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if pr.isDead() {
				return errDead
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: pr.update,
	})
	return pr
}

func (pr *process) isDead() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.dead
}

// kill: the process is gone; nothing it would still send reaches the API server.
func (pr *process) kill() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.dead = true
}

func (pr *process) inject(f *fault) (lift func()) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.faults = append(pr.faults, f)
	return func() {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		for i, g := range pr.faults {
			if g == f {
				pr.faults = append(pr.faults[:i], pr.faults[i+1:]...)
				return
			}
		}
	}
}

func (pr *process) take(s *corev1.Secret) *fault {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for i, f := range pr.faults {
		if f.match(s) {
			if f.times > 0 {
				if f.times--; f.times == 0 {
					pr.faults = append(pr.faults[:i], pr.faults[i+1:]...)
				}
			}
			return f
		}
	}
	return nil
}

func (pr *process) update(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
	if pr.isDead() {
		return errDead
	}
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return c.Update(ctx, obj, opts...)
	}
	w := write{
		token:   string(s.Data[tokenstore.KeyRefreshToken]),
		journal: s.Annotations[tokenstore.AnnotationInFlight],
		ended:   s.Annotations[tokenstore.AnnotationChainEnded],
	}
	f := pr.take(s)
	var err error
	if f == nil || f.applied {
		err = c.Update(ctx, obj, opts...)
		w.applied = err == nil
	}
	pr.mu.Lock()
	pr.writes = append(pr.writes, w)
	pr.mu.Unlock()
	switch {
	case f != nil && f.die:
		pr.kill()
		return errDead
	case f == nil || err != nil:
		return err
	case f.hang:
		<-ctx.Done()
		return ctx.Err()
	default:
		return f.err
	}
}

// count returns how many recorded writes match.
func (pr *process) count(match func(write) bool) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := 0
	for _, w := range pr.writes {
		if match(w) {
			n++
		}
	}
	return n
}

// storing matches writes that store token with no journal: commits of that token.
func storing(token string) func(write) bool {
	return func(w write) bool { return w.token == token && w.journal == "" }
}

// landed narrows a match to the writes the API server applied.
func landed(match func(write) bool) func(write) bool {
	return func(w write) bool { return w.applied && match(w) }
}

func journaling(w write) bool { return w.journal != "" }

// commitOf matches the commit write of token (for faults).
func commitOf(token string) func(*corev1.Secret) bool {
	return func(s *corev1.Secret) bool {
		_, journaled := s.Annotations[tokenstore.AnnotationInFlight]
		return string(s.Data[tokenstore.KeyRefreshToken]) == token && !journaled
	}
}

// fixture is one connection: its owner on the API server, its private Secret holding a first chain,
// and a fake clock the specs step instead of sleeping.
type fixture struct {
	owner *v1.BankConnection
	key   types.NamespacedName
	clk   *clocktesting.FakeClock
	// first is the refresh token the Secret holds at the start; rotations its count.
	first     string
	rotations int64
}

func newFixture() *fixture {
	name := "c-" + randHex(4)
	owner := &v1.BankConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1.BankConnectionSpec{
			ClientRef:   v1.ClientReference{Name: "finx"},
			UserID:      name + "@example.com",
			RedirectURI: "https://example.com/callback",
		},
	}
	Expect(k8sClient.Create(ctx, owner)).To(Succeed())
	Expect(owner.UID).NotTo(BeEmpty())
	f := &fixture{
		owner: owner, key: types.NamespacedName{Namespace: namespace, Name: name + "-refresh"},
		clk:   clocktesting.NewFakeClock(time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)),
		first: "rt-" + name + "-0", rotations: 3,
	}
	priv, err := tokenstore.EnsurePrivate(ctx, k8sClient, k8sClient, owner, f.key.Name, tokenstore.Binding{})
	Expect(err).NotTo(HaveOccurred())
	Expect(tokenstore.CommitTokens(ctx, k8sClient, priv, f.tokens(f.first, f.rotations), "")).To(Succeed())
	return f
}

// protocol starts a process of instance: a new Run, its own API connection, the fixture's clock.
func (f *fixture) protocol(instance string) (*spend.Protocol, *process) {
	pr := newProcess()
	return &spend.Protocol{
		Writer: pr, Reader: pr,
		Identity: spend.Identity{Instance: instance, Run: randHex(6)},
		Timeout:  spendTimeout,
		Clock:    f.clk,
	}, pr
}

func (f *fixture) tokens(refresh string, rotations int64) tokenstore.Tokens {
	now := f.clk.Now()
	return tokenstore.Tokens{
		RefreshToken: refresh, AccessToken: "at-" + refresh, TokenType: "Bearer",
		AccessIssuedAt: now, AccessExpiresAt: now.Add(time.Hour),
		RefreshIssuedAt: now, RefreshExpiresAt: now.Add(90 * 24 * time.Hour),
		Rotations: rotations,
	}
}

// result is what finX returns for a rotating refresh or an exchange.
func (f *fixture) result(refresh string) spend.Result {
	return spend.Result{Tokens: f.tokens(refresh, 0), Rotated: true}
}

// read is the private Secret as the API server has it.
func (f *fixture) read() *tokenstore.Private {
	p, err := tokenstore.ReadPrivate(ctx, k8sClient, f.key, f.owner)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, p).NotTo(BeNil())
	return p
}

// expectStored: the Secret holds exactly token with rotations, and no journal.
func (f *fixture) expectStored(token string, rotations int64) *tokenstore.Private {
	p := f.read()
	ExpectWithOffset(1, p.RefreshToken()).To(Equal(token))
	ExpectWithOffset(1, p.InFlight()).To(BeNil(), "the journal is cleared by the commit")
	ExpectWithOffset(1, p.Rotations()).To(Equal(rotations))
	return p
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func fakeClockAt(t time.Time) *clocktesting.FakeClock { return clocktesting.NewFakeClock(t) }
