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
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devstack"
	"github.com/finx-operator/finx-operator/internal/leakcheck"
)

// seen collects every token, code and state the scenarios came across (helpers_test.go adds them).
var seen = &leakcheck.Set{}

// namespacedReplica is the replica the namespace-scoped scenario runs, with --watch-namespaces.
const namespacedReplica = "manager-namespaced"

// Scenario: the namespace-scoped install. The manager runs as its ServiceAccount with the RBAC of
// config/namespaced (no cluster-wide Secret access, one RoleBinding per watched namespace) and
// --watch-namespaces, through a whole lifecycle: any permission the overlay misses fails it.
func namespacedScenario(ctx SpecContext) {
	const ns, outside = "e2e-namespaced", "e2e-unwatched"

	newTenant(ctx, ns)
	newTenant(ctx, outside)

	By("stopping the cluster-wide replicas and switching to config/namespaced's RBAC")
	for _, p := range replicas.procs {
		if !p.Exited() {
			Expect(p.Stop(15 * time.Second)).To(Succeed())
		}
	}
	restore, err := stack.UseNamespacedRBAC(ctx, ns)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		if p := replicas.procs[namespacedReplica]; p != nil && !p.Exited() {
			Expect(p.Stop(15 * time.Second)).To(Succeed())
		}
		Expect(restore(ctx)).To(Succeed(), "restoring config/default's RBAC")
	})

	By("the ServiceAccount may touch Secrets in the watched namespace only")
	Expect(operatorMay(ctx, "get", "secrets", ns)).To(BeTrue())
	Expect(operatorMay(ctx, "update", "secrets", ns)).To(BeTrue())
	Expect(operatorMay(ctx, "get", "secrets", outside)).To(BeFalse())
	Expect(operatorMay(ctx, "list", "secrets", "")).To(BeFalse(), "no cluster-wide Secret access")
	Expect(operatorMay(ctx, "patch", "secrets", ns)).To(BeFalse(), "patch on Secrets is never used")

	replicas.addrs[namespacedReplica] = callbackA
	replicas.start(ctx, namespacedReplica, "--watch-namespaces", ns)
	replicas.waitLeader(ctx, namespacedReplica, 60*time.Second)

	By("a whole lifecycle in the watched namespace: link, widget, callback, exchange, rotations")
	key := newConnection(ctx, ns, "nina", callbackA)
	connect(ctx, key, callbackA)
	b := waitFor(ctx, key, 45*time.Second, "two rotations", func(b *v1.BankConnection) bool { return rotations(b) >= 2 })
	expectOwnedSecrets(ctx, b)
	Expect(b.Status.FinXUserID).To(HaveSuffix("/nina@" + ns + ".example.com"))

	By("a connection outside the watched namespaces is left alone")
	other := newConnection(ctx, outside, "otto", callbackA)
	Consistently(func() v1.Phase { return getConnection(ctx, other).Status.Phase }).
		WithTimeout(3 * time.Second).Should(BeEmpty())

	By("a ClusterFinXClient whose credentials live where the operator has no role says so")
	cc := &v1.ClusterFinXClient{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-unbound"},
		Spec: v1.ClusterFinXClientSpec{FinXClientSpec: v1.FinXClientSpec{
			BaseURL:              sandboxURL,
			CredentialsSecretRef: v1.CredentialsSecretReference{Name: credentialsName, Namespace: outside},
		}},
	}
	Expect(stack.Admin.Create(ctx, cc)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { _ = stack.Admin.Delete(ctx, cc) })
	Eventually(func(g Gomega) string {
		g.Expect(stack.Admin.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		return conditionReasonOf(cc.Status.Conditions, v1.ConditionReady)
	}).WithTimeout(20 * time.Second).Should(Equal(v1.ReasonCredentialsForbidden))

	expectNoForbidden(namespacedReplica)
}

func conditionReasonOf(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Reason
		}
	}
	return ""
}

// operatorMay asks the API server whether the operator's ServiceAccount may do verb on resource in
// namespace ("" for all namespaces).
func operatorMay(ctx context.Context, verb, resource, namespace string) bool {
	GinkgoHelper()
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + devstack.OperatorNamespace + ":" + devstack.OperatorServiceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + devstack.OperatorNamespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Resource: resource, Namespace: namespace,
		},
	}}
	Expect(stack.Admin.Create(ctx, review)).To(Succeed())
	return review.Status.Allowed
}

// Every replica ran at the highest log verbosity (e2e_suite_test.go). None of their logs may hold
// a token, code or state any scenario saw: raw, base64, hex, or in a hex dump of a protobuf body.
var _ = AfterSuite(func() {
	if !setupDone {
		return
	}
	seen.Add("client secret", sandboxClientSecret)
	logs, err := filepath.Glob(filepath.Join(workDir, "logs", "manager*.log"))
	Expect(err).NotTo(HaveOccurred())
	Expect(logs).NotTo(BeEmpty())
	Expect(seen.Len()).To(BeNumerically(">=", 4), "the scenarios must have collected tokens to look for")
	verbose := false
	for _, path := range logs {
		data, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(seen.Find(string(data))).To(BeEmpty(), "%s leaks a secret", path)
		// client-go's request lines (level 7) show the managers really ran at high verbosity.
		verbose = verbose || strings.Contains(string(data), `"msg":"Request"`)
	}
	Expect(verbose).To(BeTrue(), "the managers did not log at high verbosity")
})
