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

package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// envInt reads a count from the environment (make bench raises them).
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// connectAll creates n connections in ns and takes each to Connected through the widget.
func connectAll(ctx SpecContext, ns, prefix string, n int) []types.NamespacedName {
	GinkgoHelper()
	keys := make([]types.NamespacedName, n)
	for i := range keys {
		keys[i] = newConnection(ctx, ns, fmt.Sprintf("%s%d", prefix, i), callbackA)
	}
	for _, k := range keys {
		connect(ctx, k, callbackA)
	}
	return keys
}

// chainsAlive waits until every connection is Connected, has rotated past floor, and carries no
// journal, then proves each chain alive with a forced refresh.
func chainsAlive(ctx SpecContext, keys []types.NamespacedName, floor map[types.NamespacedName]int64, within time.Duration) {
	GinkgoHelper()
	for _, k := range keys {
		waitFor(ctx, k, within, "Connected and rotating again", func(b *v1.BankConnection) bool {
			return isConnected(b) && rotations(b) > floor[k] && !inFlight(privateSecret(ctx, k))
		})
	}
	for _, k := range keys {
		r := rotations(getConnection(ctx, k))
		value := forceRefresh(ctx, k)
		b := waitFor(ctx, k, 30*time.Second, "the forced refresh", func(b *v1.BankConnection) bool {
			return b.Status.LastHandledRefreshRequest == value && rotations(b) > r
		})
		Expect(isConnected(b)).To(BeTrue(), summary(b))
	}
}

func rotationsOf(ctx context.Context, keys []types.NamespacedName) (map[types.NamespacedName]int64, int64) {
	out := map[types.NamespacedName]int64{}
	var sum int64
	for _, k := range keys {
		out[k] = rotations(getConnection(ctx, k))
		sum += out[k]
	}
	return out, sum
}

// Scenario: SIGKILL the manager at random points of refreshes, against a finX with a 30s reuse
// grace, and restart it at once under the same instance identity, as the kubelet restarts a
// container. Every chain must survive every kill: a refresh interrupted after finX rotated is
// replayed inside the grace and gets the same successor.
func graceCrashScenario(ctx SpecContext) {
	const ns = "e2e-grace-crash"
	kills := envInt("E2E_CRASH_KILLS", 20)
	newTenantOn(ctx, ns, graceSandboxURL)
	keys := connectAll(ctx, ns, "g", 5)

	// A late answer to every refresh makes a fair share of the kills land in the window where finX
	// has rotated and the operator has not stored the result yet.
	sandboxControlAt(ctx, graceSandboxURL, http.MethodPost, "/_sandbox/faults", map[string]any{
		"endpoint": "token", "grant_type": "refresh_token", "answer_latency": "1500ms",
	})
	DeferCleanup(func(ctx SpecContext) {
		sandboxControlAt(ctx, graceSandboxURL, http.MethodDelete, "/_sandbox/faults", nil)
	})
	before := getSandboxStatsAt(ctx, graceSandboxURL)
	_, rotBefore := rotationsOf(ctx, keys)

	By(fmt.Sprintf("killing the manager %d times at random points of refreshes", kills))
	journaled := 0 // connections whose refresh a kill interrupted
	for range kills {
		replicas.waitLeader(ctx, primaryReplica, 60*time.Second)
		sleep(ctx, 200*time.Millisecond+rand.N(2500*time.Millisecond))
		replicas.kill(primaryReplica)
		interrupted := map[types.NamespacedName]string{}
		for _, k := range keys {
			if since := journalSince(privateSecret(ctx, k)); since != "" {
				interrupted[k] = since
				journaled++
			}
		}
		replicas.start(ctx, primaryReplica)
		// A restart within seconds, then time to recover, before the next kill: the promise is about
		// each kill, not about a manager that never gets to finish a refresh.
		Eventually(ctx, func(g Gomega) {
			for k, since := range interrupted {
				g.Expect(journalSince(privateSecret(ctx, k))).NotTo(Equal(since), "the spend interrupted in %s is settled", k.Name)
			}
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	}
	floor, _ := rotationsOf(ctx, keys)
	replicas.waitLeader(ctx, primaryReplica, 60*time.Second)
	sandboxControlAt(ctx, graceSandboxURL, http.MethodDelete, "/_sandbox/faults", nil)

	By("checking that every chain survived")
	chainsAlive(ctx, keys, floor, 60*time.Second)
	_, rotAfter := rotationsOf(ctx, keys)
	delta := statusDelta(before, getSandboxStatsAt(ctx, graceSandboxURL), "token/refresh_token")
	report := fmt.Sprintf("%d kills, %d journals left in flight at a kill; %d of %d chains survived; %d rotations; refresh answers at finX: %v",
		kills, journaled, len(keys), len(keys), rotAfter-rotBefore, delta)
	AddReportEntry("crashes with a 30s reuse grace", report)
	fmt.Fprintln(GinkgoWriter, report)
	Expect(delta["400"]+delta["401"]).To(BeZero(), "finX refused a refresh: a chain was lost or a token spent twice")
}

// Scenario: an HTTP fault proxy between the manager and the API server refuses writes, applies
// writes and loses their answer, adds latency and cuts watches; the manager is SIGKILLed at random
// and restarted, and finX fails token calls now and then. With a reuse grace nothing is lost and
// nothing spent twice; with strict reuse every loss is reported with a fresh link.
func apiFaultScenario(grace bool) func(SpecContext) {
	return func(ctx SpecContext) {
		ns, base := "e2e-faults-strict", sandboxURL
		if grace {
			ns, base = "e2e-faults-grace", graceSandboxURL
		}
		kills := envInt("E2E_FAULT_KILLS", 5)
		newTenantOn(ctx, ns, base)
		keys := connectAll(ctx, ns, "f", 3)
		_, rotBefore := rotationsOf(ctx, keys)
		before := getSandboxStatsAt(ctx, base)

		By("moving the manager behind a fault proxy")
		proxy, err := apifault.StartProxy(stack.OperatorConfig(), "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		kubeconfig, err := stack.WriteKubeconfig("fault-proxy", proxy.ClientConfig())
		Expect(err).NotTo(HaveOccurred())
		Expect(replicas.procs[primaryReplica].Stop(15 * time.Second)).To(Succeed())
		faulty := &supervisor{start: func() {
			p, err := stack.StartManagerWith(ctx, faultyReplica, callbackA, kubeconfig)
			if p != nil {
				replicas.procs[faultyReplica] = p
			}
			Expect(err).NotTo(HaveOccurred(), "starting the replica behind the proxy%s", logTails())
		}}
		faulty.start()
		DeferCleanup(func() { _ = replicas.procs[faultyReplica].Stop(15 * time.Second) })
		replicas.waitLeader(ctx, faultyReplica, 60*time.Second)

		By("faults in the API, at finX, and SIGKILLs")
		proxy.Injector.SetChaos(&apifault.Chaos{RefuseWrites: 0.08, LoseWriteAnswers: 0.08, MaxLatency: 150 * time.Millisecond, WatchLifetime: 8 * time.Second})
		finxFaults := startFinXChaos(ctx, base)
		restarts := 0
		for range kills {
			deadline := time.Now().Add(time.Second + rand.N(4*time.Second))
			for time.Now().Before(deadline) {
				// Leader election through a faulty API can fail, and the manager then exits, as it
				// would in a Pod: restart it like the kubelet would.
				if !replicas.running(faultyReplica) {
					faulty.start()
					restarts++
				}
				sleep(ctx, 100*time.Millisecond)
			}
			if replicas.running(faultyReplica) {
				replicas.kill(faultyReplica)
			}
			faulty.start()
		}
		proxy.Injector.SetChaos(nil)
		injectedAtFinX := finxFaults.stop(ctx)
		floor, _ := rotationsOf(ctx, keys)

		By("checking the outcome once the faults stop")
		lost := 0
		if grace {
			chainsAlive(ctx, keys, floor, 60*time.Second)
		} else {
			for _, k := range keys {
				b := waitFor(ctx, k, 60*time.Second, "Connected and rotating again, or RotationLost with a new link", func(b *v1.BankConnection) bool {
					if b.Status.Phase == v1.PhaseReauthorizationRequired {
						return hasLink(b)
					}
					return isConnected(b) && rotations(b) > floor[k] && !inFlight(privateSecret(ctx, k))
				})
				if b.Status.Phase == v1.PhaseReauthorizationRequired {
					lost++
					Expect(conditionReason(b, v1.ConditionReauthorizationRequired)).To(Equal(v1.ReasonRotationLost), summary(b))
					Expect(conditionIs(b, v1.ConditionReady, metav1.ConditionFalse)).To(BeTrue(), summary(b))
					// Never falsely: finX must agree that the token the operator holds is dead.
					expectSpentAt(ctx, base, string(privateSecret(ctx, k).Data[tokenstore.KeyRefreshToken]), "the token held after RotationLost")
				}
			}
		}
		_, rotAfter := rotationsOf(ctx, keys)
		delta := statusDelta(before, getSandboxStatsAt(ctx, base), "token/refresh_token")
		rejected := delta["400"] + delta["401"]
		report := fmt.Sprintf("grace=%t: API faults %v; finX faults %d; %d kills and %d restarts after a lost Lease; %d rotations; %d chains lost; %d refreshes refused by finX; refresh answers %v",
			grace, proxy.Injector.Counts(), injectedAtFinX, kills, restarts, rotAfter-rotBefore, lost, rejected, delta)
		AddReportEntry("API faults", report)
		fmt.Fprintln(GinkgoWriter, report)
		if grace {
			Expect(rejected).To(BeZero(), "finX refused a refresh: a chain was lost or a token spent twice")
		} else {
			// A refused refresh means a lost chain, and every lost chain was reported above. (One
			// chain can cost more than one refusal: a refused write of its end is asked again.)
			Expect(rejected > 0).To(Equal(lost > 0), "a refresh was refused without a chain being reported lost")
		}
		if lost < len(keys) {
			Expect(rotAfter).To(BeNumerically(">", rotBefore), "the chains that lived went on rotating")
		}
	}
}

const faultyReplica = "manager-faulty"

// journalSince is the first-spend time of the journal on a private Secret ("" without one): it
// stays the same across replays of one interrupted spend.
func journalSince(s *corev1.Secret) string {
	v, ok := s.Annotations[tokenstore.AnnotationInFlight]
	if !ok {
		return ""
	}
	parts := strings.SplitN(v, "@", 4)
	return parts[len(parts)-1]
}

type supervisor struct{ start func() }

// finxChaos injects one token-endpoint fault now and then: a 503, a 500 after the rotation, or a
// connection dropped after the rotation.
type finxChaos struct {
	base   string
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	n      int
}

func startFinXChaos(ctx context.Context, base string) *finxChaos {
	cctx, cancel := context.WithCancel(ctx)
	c := &finxChaos{base: base, cancel: cancel, done: make(chan struct{})}
	faults := []map[string]any{
		{"endpoint": "token", "grant_type": "refresh_token", "status": 503, "count": 1},
		{"endpoint": "token", "grant_type": "refresh_token", "status": 500, "status_after_work": true, "count": 1},
		{"endpoint": "token", "grant_type": "refresh_token", "drop_after_rotation": true, "count": 1},
	}
	go func() {
		defer GinkgoRecover()
		defer close(c.done)
		for cctx.Err() == nil {
			sleep(cctx, 1500*time.Millisecond+rand.N(1500*time.Millisecond))
			if cctx.Err() != nil {
				return
			}
			// The parent context: stopping must not cut a control request in half.
			sandboxControlAt(ctx, base, http.MethodPost, "/_sandbox/faults", faults[rand.N(len(faults))])
			c.mu.Lock()
			c.n++
			c.mu.Unlock()
		}
	}()
	return c
}

// stop ends the injections, clears what is left, and returns how many were injected.
func (c *finxChaos) stop(ctx context.Context) int {
	c.cancel()
	<-c.done
	sandboxControlAt(ctx, c.base, http.MethodDelete, "/_sandbox/faults", nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
