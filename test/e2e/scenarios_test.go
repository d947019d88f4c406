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
	"time"

	. "github.com/onsi/ginkgo/v2"
)

// One container, so the scenarios run in this order (Ginkgo shuffles only top-level containers).
// Each scenario still stands alone: it starts from "the primary replica alone, leading" and works in
// its own namespace, which it deletes afterwards.
var _ = Describe("finx-operator", func() {
	BeforeEach(func(ctx SpecContext) {
		replicas.ensureOnlyPrimary(ctx)
	}, NodeTimeout(2*time.Minute))

	It("connects the sample BankConnection through the widget, as its ServiceAccount", sampleScenario, SpecTimeout(2*time.Minute))
	It("rotates the refresh token on every refresh and finX rejects each replaced token", rotationScenario, SpecTimeout(2*time.Minute))
	It("survives SIGKILLs of the manager in the middle of refresh cycles", crashScenario, SpecTimeout(3*time.Minute))
	It("keeps every chain through SIGKILLs at random points of refreshes, with finX's reuse grace", graceCrashScenario, SpecTimeout(6*time.Minute))
	It("keeps every chain through API faults, SIGKILLs and finX faults, with finX's reuse grace", apiFaultScenario(true), SpecTimeout(5*time.Minute))
	It("reports every chain lost to API faults, SIGKILLs and finX faults, with strict reuse", apiFaultScenario(false), SpecTimeout(5*time.Minute))
	It("hands over between two replicas without spending a token twice", takeoverScenario, SpecTimeout(3*time.Minute))
	It("removes a deleted connection's Secrets through the garbage collector", deletionScenario, SpecTimeout(2*time.Minute))
	It("keeps a retained chain through a foreground deletion and hands it to the same connection applied again", retainScenario, SpecTimeout(2*time.Minute))
	It("renews a consent through the widget after a sync only the user can fix", consentScenario, SpecTimeout(2*time.Minute))
	It("connects through the widget in a real browser", browserScenario, SpecTimeout(2*time.Minute))
	It("runs namespace-scoped with config/namespaced's RBAC and --watch-namespaces", namespacedScenario, SpecTimeout(3*time.Minute))
})
