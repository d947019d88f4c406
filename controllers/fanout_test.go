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
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/apifault"
)

var _ = Describe("Client changes and their connections", func() {
	It("reconciles no connection for a client's label or annotation, and every one when its spec changes", func() {
		t := newTenant(nil)
		const n = 3
		for i := range n {
			waitForLink(t.connection(fmt.Sprintf("fan-%d", i)), "")
		}
		// Each reconcile reads its connection's private Secret from the API server (not there yet:
		// the callback makes it): count those reads.
		DeferCleanup(apiFaults.Add(apifault.Rule{
			Method: http.MethodGet, PathContains: "/namespaces/" + t.ns + "/secrets/fan-", Action: apifault.Observe,
		}))
		reads := func() int { return apiFaults.Counts()["observed"] }
		// Let the links' own follow-up reconciles settle, however slow the machine: no read for a second.
		Eventually(func() bool {
			b := reads()
			time.Sleep(time.Second)
			return reads() == b
		}).WithTimeout(20 * time.Second).Should(BeTrue())
		before := reads()

		fc := &v1.FinXClient{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: t.client}, fc)).To(Succeed())
		fc.Labels = map[string]string{"team": "payments"}
		fc.Annotations = map[string]string{"owner": "someone"}
		Expect(k8sClient.Update(ctx, fc)).To(Succeed())
		Consistently(reads).WithTimeout(2*time.Second).Should(Equal(before), "metadata of the client concerns no connection")

		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: t.client}, fc)).To(Succeed())
		fc.Spec.Timeout = ptrDuration(20 * time.Second)
		Expect(k8sClient.Update(ctx, fc)).To(Succeed())
		Eventually(reads).WithTimeout(5*time.Second).Should(BeNumerically(">=", before+n), "a spec change reaches every connection")
	})
})

func ptrDuration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
