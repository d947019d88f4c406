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
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

const (
	crashKills = 4
	// refreshLatency is injected on the sandbox's refresh grant during the kills, so that a fair
	// share of them land while a refresh is in flight (journal written, finX not answered yet).
	refreshLatency = 800 * time.Millisecond
)

// Scenario 3: SIGKILL the manager at random moments while it refreshes every ~4s, restart it each
// time. Afterwards the chain is either alive (Connected, rotated again after the last restart, and a
// forced refresh succeeds) or honestly reported lost (ReauthorizationRequired, reason RotationLost,
// with a new link). Nothing else is acceptable at any moment in between.
func crashScenario(ctx SpecContext) {
	const ns = "e2e-crash"
	newTenant(ctx, ns)
	key := newConnection(ctx, ns, "carol", callbackA)
	connect(ctx, key, callbackA)

	mon := watchStates(ctx, key)
	DeferCleanup(mon.stop)

	sandboxControl(ctx, http.MethodPost, "/_sandbox/faults", map[string]any{
		"endpoint": "token", "grant_type": "refresh_token", "latency": refreshLatency.String(),
	})
	DeferCleanup(func(ctx SpecContext) { sandboxControl(ctx, http.MethodDelete, "/_sandbox/faults", nil) })
	statsBefore := getSandboxStats(ctx)

	By(fmt.Sprintf("killing the manager %d times at random moments", crashKills))
	var (
		journaled     int // kills that left a refresh journal behind: the call's outcome was unknown
		lastKillToken string
		lastKillRot   int64
		log           []string
	)
	for i := range crashKills {
		replicas.waitLeader(ctx, primaryReplica, 60*time.Second)
		delay := 200*time.Millisecond + rand.N(4500*time.Millisecond)
		sleep(ctx, delay)
		replicas.kill(primaryReplica)
		// Read once the process is reaped: this is exactly what it left behind.
		s := privateSecret(ctx, key)
		b := getConnection(ctx, key)
		lastKillToken, lastKillRot = string(s.Data[tokenstore.KeyRefreshToken]), rotations(b)
		if inFlight(s) {
			journaled++
		}
		log = append(log, fmt.Sprintf("kill %d: %s after becoming leader, journal left=%t, rotations=%d, phase=%s",
			i+1, delay.Round(time.Millisecond), inFlight(s), lastKillRot, b.Status.Phase))
		// The dead replica's Lease would make its successor wait 15s; it is provably gone.
		deleteLease(ctx)
		replicas.start(ctx, primaryReplica)
	}
	replicas.waitLeader(ctx, primaryReplica, 60*time.Second)
	sandboxControl(ctx, http.MethodDelete, "/_sandbox/faults", nil)
	delta := statusDelta(statsBefore, getSandboxStats(ctx), "token/refresh_token")
	log = append(log, fmt.Sprintf("%d of %d kills left a refresh journal; sandbox refresh outcomes meanwhile: %v", journaled, crashKills, delta))
	AddReportEntry("kills", strings.Join(log, "\n"))
	fmt.Fprintln(GinkgoWriter, strings.Join(log, "\n"))

	By("waiting for the outcome: chain alive and rotated after the last restart, or reported lost")
	b := waitFor(ctx, key, 60*time.Second, "a rotation after the last restart, or RotationLost", func(b *v1.BankConnection) bool {
		if b.Status.Phase == v1.PhaseReauthorizationRequired {
			return true
		}
		if !isConnected(b) || rotations(b) <= lastKillRot {
			return false
		}
		s := privateSecret(ctx, key)
		return string(s.Data[tokenstore.KeyRefreshToken]) != lastKillToken && !inFlight(s)
	})

	switch b.Status.Phase {
	case v1.PhaseConnected:
		AddReportEntry("crash outcome", "chain alive: Connected, rotated after the last restart")
		expectSpent(ctx, lastKillToken, "the refresh token held at the last kill")

		By("forcing a refresh with the annotation: a Connected chain must really be alive")
		before := string(privateSecret(ctx, key).Data[tokenstore.KeyRefreshToken])
		r := rotations(b)
		value := forceRefresh(ctx, key)
		b = waitFor(ctx, key, 30*time.Second, "the forced refresh to be handled", func(b *v1.BankConnection) bool {
			return b.Status.LastHandledRefreshRequest == value
		})
		Expect(isConnected(b)).To(BeTrue(), "the forced refresh failed: %s", summary(b))
		Expect(rotations(b)).To(BeNumerically(">", r), summary(b))
		s := privateSecret(ctx, key)
		Expect(string(s.Data[tokenstore.KeyRefreshToken])).NotTo(Equal(before))
		Expect(inFlight(s)).To(BeFalse())
		expectSpent(ctx, before, "the refresh token replaced by the forced refresh")

	case v1.PhaseReauthorizationRequired:
		AddReportEntry("crash outcome", "a rotation was lost between finX and the Secret (a kill landed in that window): RotationLost reported, new link issued")
		Expect(conditionIs(b, v1.ConditionReauthorizationRequired, metav1.ConditionTrue)).To(BeTrue(), summary(b))
		Expect(conditionReason(b, v1.ConditionReauthorizationRequired)).To(Equal(v1.ReasonRotationLost), summary(b))
		Expect(conditionIs(b, v1.ConditionReady, metav1.ConditionFalse)).To(BeTrue(), summary(b))
		b = waitFor(ctx, key, 30*time.Second, "a new widget link", hasLink)
		Expect(conditionIs(b, v1.ConditionLinkIssued, metav1.ConditionTrue)).To(BeTrue(), summary(b))
		// The operator says the token it holds is dead: finX must agree (presenting a dead token
		// changes nothing).
		expectSpent(ctx, string(privateSecret(ctx, key).Data[tokenstore.KeyRefreshToken]), "the token left after RotationLost")

		By("re-authorising through the new link")
		completeWidget(ctx, b, callbackA)
		waitFor(ctx, key, 30*time.Second, "phase Connected again", isConnected)

	default:
		Fail("unexpected outcome: " + summary(b))
	}
	Expect(mon.violations()).To(BeEmpty(), "states seen during the kills that are neither a live chain nor an honest RotationLost")
}

// stateWatch samples a connection's status in the background and records every state that is
// neither Connected nor ReauthorizationRequired/RotationLost.
type stateWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	bad    []string
}

func watchStates(ctx context.Context, key types.NamespacedName) *stateWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &stateWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(w.done)
		for ctx.Err() == nil {
			b := &v1.BankConnection{}
			if err := stack.Admin.Get(ctx, key, b); err == nil {
				ok := b.Status.Phase == v1.PhaseConnected ||
					(b.Status.Phase == v1.PhaseReauthorizationRequired && conditionReason(b, v1.ConditionReauthorizationRequired) == v1.ReasonRotationLost)
				if !ok {
					w.mu.Lock()
					w.bad = append(w.bad, time.Now().Format(time.StampMilli)+" "+summary(b))
					w.mu.Unlock()
				}
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}()
	return w
}

func (w *stateWatch) stop() {
	w.cancel()
	<-w.done
}

func (w *stateWatch) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bad...)
}

// Scenario 4: two replicas with leader election. Both serve callbacks (the follower's is checked
// with a second connection). SIGKILL the leader; the follower takes over once the Lease expires,
// refreshes continue, and the sandbox saw no rejected refresh meanwhile: no token was spent twice.
func takeoverScenario(ctx SpecContext) {
	const ns = "e2e-takeover"
	newTenant(ctx, ns)

	By("starting a second replica")
	replicas.start(ctx, secondaryReplica)
	var leader, follower string
	switch {
	case replicas.isLeader(primaryReplica) && !replicas.isLeader(secondaryReplica):
		leader, follower = primaryReplica, secondaryReplica
	case replicas.isLeader(secondaryReplica) && !replicas.isLeader(primaryReplica):
		leader, follower = secondaryReplica, primaryReplica
	default:
		Fail(fmt.Sprintf("expected exactly one leader (primary leads: %t, secondary leads: %t)",
			replicas.isLeader(primaryReplica), replicas.isLeader(secondaryReplica)))
	}
	holderBefore, transitionsBefore := leaseHolder(ctx)
	AddReportEntry("leader before", fmt.Sprintf("%s (Lease holder %s)", leader, holderBefore))

	By("connecting one user through the leader's callback and one through the follower's")
	k1 := newConnection(ctx, ns, "erin", replicas.addrs[leader])
	k2 := newConnection(ctx, ns, "frank", replicas.addrs[follower])
	connect(ctx, k1, replicas.addrs[leader])
	connect(ctx, k2, replicas.addrs[follower])
	keys := []types.NamespacedName{k1, k2}
	for _, k := range keys {
		waitFor(ctx, k, 20*time.Second, "a first rotation", func(b *v1.BankConnection) bool { return isConnected(b) && rotations(b) >= 1 })
	}

	By("waiting for a moment when no refresh is in flight or due within 1.5s")
	// A kill inside a refresh may legitimately lose a rotation (scenario 3); this scenario is about
	// the hand-over itself.
	Eventually(ctx, func(g Gomega) {
		for _, k := range keys {
			g.Expect(inFlight(privateSecret(ctx, k))).To(BeFalse())
			b := getConnection(ctx, k)
			g.Expect(b.Status.RefreshToken).NotTo(BeNil())
			g.Expect(b.Status.RefreshToken.NextRefreshAt).NotTo(BeNil())
			g.Expect(b.Status.RefreshToken.NextRefreshAt.Time).To(BeTemporally(">", time.Now().Add(1500*time.Millisecond)))
		}
	}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	before := getSandboxStats(ctx)
	rotBefore := map[types.NamespacedName]int64{}
	tokBefore := map[types.NamespacedName]string{}
	for _, k := range keys {
		rotBefore[k] = rotations(getConnection(ctx, k))
		tokBefore[k] = string(privateSecret(ctx, k).Data[tokenstore.KeyRefreshToken])
	}

	By("killing the leader " + leader)
	killedAt := time.Now()
	replicas.kill(leader)
	replicas.waitLeader(ctx, follower, 60*time.Second)
	tookOver := time.Since(killedAt)
	holderAfter, transitionsAfter := leaseHolder(ctx)
	Expect(holderAfter).NotTo(Equal(holderBefore))
	Expect(transitionsAfter).To(BeNumerically(">", transitionsBefore))

	By("checking that refreshes continue under the new leader")
	for _, k := range keys {
		waitFor(ctx, k, 40*time.Second, "two more rotations under the new leader", func(b *v1.BankConnection) bool {
			return isConnected(b) && rotations(b) >= rotBefore[k]+2
		})
	}
	after := getSandboxStats(ctx)
	delta := statusDelta(before, after, "token/refresh_token")
	AddReportEntry("takeover", fmt.Sprintf("%s took over %s after the kill; refresh outcomes at the sandbox meanwhile: %v",
		follower, tookOver.Round(100*time.Millisecond), delta))
	Expect(nonOK(delta)).To(BeEmpty(), "a refresh was rejected or dropped during the takeover: a token was spent twice")
	Expect(delta["200"]).To(BeNumerically(">=", 4))
	for _, k := range keys {
		expectSpent(ctx, tokBefore[k], "the refresh token held when the leader died ("+k.Name+")")
	}
}
