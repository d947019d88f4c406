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
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// linkRound is one operator link phase with the baseline runs just before and just after it.
type linkRound struct {
	minBefore, operator, minAfter time.Duration
}

// ratio is the operator's apply → link over the mean of the two baseline runs around it.
func (r linkRound) ratio() float64 {
	return r.operator.Seconds() / ((r.minBefore.Seconds() + r.minAfter.Seconds()) / 2)
}

// medianRatio is the median of the rounds' ratios (the mean of the middle two for an even count).
func medianRatio(rounds []linkRound) float64 {
	rs := make([]float64, len(rounds))
	for i, r := range rounds {
		rs[i] = r.ratio()
	}
	slices.Sort(rs)
	m := len(rs) / 2
	if len(rs)%2 == 0 {
		return (rs[m-1] + rs[m]) / 2
	}
	return rs[m]
}

// moreLinkRounds runs rounds 2..total of the link comparison after the first (minimal, operator,
// minimal-after): each round is the operator on a new namespace, then the baseline again, so every
// operator run sits between two baseline runs. On a shared machine one round's ratio moves more
// than the gap it measures; the median of several does not. The manager is stopped on entry and
// on return; each round's connections are deleted afterwards (not measured).
func (s *scaleRun) moreLinkRounds(ctx context.Context, first linkRound, total int, minimalNS, operatorNS string,
	names []string, par int, timeout time.Duration) []linkRound {
	rounds := []linkRound{first}
	for r := 2; r <= total; r++ {
		ns := fmt.Sprintf("%s-r%d", operatorNS, r)
		s.startManager(ctx)
		time.Sleep(5 * time.Second)
		s.quiesce(ctx) // the restarted manager has looked at every connection already there
		s.createTenant(ctx, ns)
		op, _ := s.linkPhase(ctx, fmt.Sprintf("operator-r%d", r), ns, names, par, timeout)
		// Deleted while the manager runs, so that it can let them go.
		if err := s.admin.DeleteAllOf(ctx, &v1.BankConnection{}, client.InNamespace(ns)); err != nil {
			s.t.Fatalf("deleting round %d's connections: %v", r, err)
		}
		s.waitEmpty(ctx, ns)
		s.stopManager()
		m := s.minimalRun(ctx, fmt.Sprintf("minimal-r%d", r), minimalNS, names, par, timeout)
		rounds = append(rounds, linkRound{minBefore: rounds[len(rounds)-1].minAfter, operator: op.wall, minAfter: m.phase.wall})
	}
	return rounds
}

// roundsReport describes every round and the median ratio.
func roundsReport(rounds []linkRound) string {
	var b strings.Builder
	for i, r := range rounds {
		fmt.Fprintf(&b, "  round %d: minimal %.1fs, operator %.1fs, minimal %.1fs: %.2f×\n",
			i+1, r.minBefore.Seconds(), r.operator.Seconds(), r.minAfter.Seconds(), r.ratio())
	}
	fmt.Fprintf(&b, "  median of the %d rounds' ratios: %.2f×", len(rounds), medianRatio(rounds))
	return b.String()
}

func TestMedianRatioOfLinkRounds(t *testing.T) {
	round := func(before, op, after float64) linkRound {
		sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
		return linkRound{minBefore: sec(before), operator: sec(op), minAfter: sec(after)}
	}
	if got := round(10, 15, 20).ratio(); got != 1.0 {
		t.Errorf("ratio against the mean of 10 s and 20 s: %.3f, want 1", got)
	}
	odd := []linkRound{round(10, 30, 10), round(10, 11, 10), round(10, 12, 10)}
	if got := medianRatio(odd); got != 1.2 {
		t.Errorf("median of 3.0, 1.1, 1.2: %.3f, want 1.2", got)
	}
	even := append(odd, round(10, 10, 10))
	if got := medianRatio(even); got < 1.1499 || got > 1.1501 {
		t.Errorf("median of 3.0, 1.1, 1.2, 1.0: %.3f, want 1.15", got)
	}
	if !strings.Contains(roundsReport(odd), "median of the 3 rounds' ratios: 1.20×") {
		t.Errorf("report:\n%s", roundsReport(odd))
	}
}
