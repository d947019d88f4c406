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
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// Defect 4: an admission policy's warning or denial may quote the object it judged, and here that
// object is a token Secret. The warning text and the error text must reach no log (the suite logs
// at every level; leaks_test.go searches the whole log once more at the end).
var _ = Describe("API warnings and errors about token Secrets", func() {
	It("never puts their text in the log", func() {
		t := newTenant(nil)
		c := t.connection("quoted", func(c *v1.BankConnection) { c.Spec.AccessToken.Mode = v1.AccessTokenModeDisabled })
		authorize(c)
		readTokens(c)

		// The policy quotes the refresh token the write would store, as a careless policy might.
		policy, binding := secretUpdatePolicy(t.ns, "quote-refresh-token-"+t.ns, admissionv1.Warn,
			admissionv1.Validation{Expression: "false", MessageExpression: `'this Secret holds ' + string(object.data['refresh_token'])`},
			admissionv1.MatchCondition{Name: "holds-a-refresh-token", Expression: `has(object.data) && 'refresh_token' in object.data`})
		DeferCleanup(func() {
			_ = k8sClient.Delete(ctx, binding)
			_ = k8sClient.Delete(ctx, policy)
		})

		// A probe Secret of the test's own, written through a client that records warnings, tells
		// when the API server applies the binding (it loads policies asynchronously).
		probe := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "probe"},
			StringData: map[string]string{"refresh_token": "probe-value"},
		}
		Expect(k8sClient.Create(ctx, probe)).To(Succeed())
		warned := &warningRecorder{}
		probeCfg := rest.CopyConfig(cfg)
		probeCfg.WarningHandlerWithContext = warned
		prober, err := client.New(probeCfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		touch := func(n int) error {
			probe.StringData = map[string]string{"refresh_token": fmt.Sprintf("probe-value-%d", n)}
			return prober.Update(ctx, probe)
		}

		By("warnings: the refresh goes through, the warning is noted without its text")
		n := 0
		Eventually(func() int { n++; Expect(touch(n)).To(Succeed()); return warned.count() }).Should(BeNumerically(">", 0))
		mark := len(logs.String())
		rotations := get(c).Status.RefreshToken.Rotations
		annotate(c, v1.AnnotationRefresh, "warned")
		Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).WithTimeout(20 * time.Second).Should(BeNumerically(">", rotations))
		readTokens(c)
		Expect(strings.Contains(logs.String()[mark:], "The API server returned a warning; its text is not logged")).To(BeTrue(),
			"the operator's Secret write drew a warning, which must be noted")

		By("denials: the write fails, the error is logged as its reason and code only")
		Expect(k8sClient.Get(ctx, clientKey(binding), binding)).To(Succeed())
		binding.Spec.ValidationActions = []admissionv1.ValidationAction{admissionv1.Deny}
		Expect(k8sClient.Update(ctx, binding)).To(Succeed())
		Eventually(func() error { n++; return touch(n) }).Should(HaveOccurred())
		mark = len(logs.String())
		annotate(c, v1.AnnotationRefresh, "denied")
		Eventually(func() bool { return strings.Contains(logs.String()[mark:], "message withheld: it may quote a Secret") }).
			WithTimeout(20*time.Second).Should(BeTrue(), "the denied write was not logged as a redacted API error")
		Expect(strings.Contains(logs.String()[mark:], "this Secret holds")).To(BeFalse(), "the policy's message reached the log")

		By("the policy gone, the connection carries on")
		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		Eventually(func() error { n++; return touch(n) }).Should(Succeed())
		rotations = get(c).Status.RefreshToken.Rotations
		annotate(c, v1.AnnotationRefresh, "allowed-again")
		Eventually(func() int64 { return get(c).Status.RefreshToken.Rotations }).WithTimeout(30 * time.Second).Should(BeNumerically(">", rotations))
		readTokens(c)
		Expect(secrets.leakIn(logs.String())).To(BeEmpty())
	})
})

// warningRecorder counts the warnings a client received.
type warningRecorder struct {
	mu sync.Mutex
	n  int
}

func (w *warningRecorder) HandleWarningHeaderWithContext(context.Context, int, string, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
}

func (w *warningRecorder) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}
