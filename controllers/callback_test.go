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
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

var _ = Describe("Callback endpoint", func() {
	var (
		t        tenant
		c        *v1.BankConnection
		redirect *url.URL
	)
	BeforeEach(func() {
		t = newTenant(nil)
		c = t.connection("olivia")
		redirect = completeWidget(waitForLink(c, "").URL, sandbox.DriveOptions{})
	})

	with := func(mutate func(url.Values)) *url.URL {
		u := *redirect
		q := u.Query()
		mutate(q)
		u.RawQuery = q.Encode()
		return &u
	}

	DescribeTable("refuses bad input with a 4xx page that says what is wrong, changing nothing",
		func(method string, build func() *url.URL, status int, says string) {
			p := visit(method, build())
			Expect(p.status).To(Equal(status))
			Expect(p.body).To(ContainSubstring(says))
			Expect(p.body).NotTo(ContainSubstring(redirect.Query().Get("code")))
			// The first accepted callback would create the private Secret.
			Consistently(func() error {
				return k8sClient.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: refreshName(c)}, &corev1.Secret{})
			}).WithTimeout(500 * time.Millisecond).Should(Satisfy(apierrors.IsNotFound))
			Expect(get(c).Status.Phase).To(Equal(v1.PhaseAwaitingAuthorization))
		},
		Entry("missing state", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Del("state") }) },
			http.StatusBadRequest, "no state parameter"),
		Entry("unknown state", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Set("state", "forged-state-value-0123456789") }) },
			http.StatusNotFound, "does not belong to any pending bank connection"),
		Entry("success without a code", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Del("code") }) },
			http.StatusBadRequest, "no authorisation code"),
		Entry("missing success", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Del("success") }) },
			http.StatusBadRequest, "no success parameter"),
		Entry("success that is not a boolean", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Set("success", "maybe") }) },
			http.StatusBadRequest, "must be true or false"),
		Entry("state given twice", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Add("state", "x") }) },
			http.StatusBadRequest, "appears more than once"),
		Entry("oversized state", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Set("state", strings.Repeat("s", 600)) }) },
			http.StatusBadRequest, "too long"),
		Entry("oversized code", http.MethodGet, func() *url.URL { return with(func(q url.Values) { q.Set("code", strings.Repeat("c", 9000)) }) },
			http.StatusBadRequest, "too long"),
		Entry("malformed query", http.MethodGet, func() *url.URL { u := *redirect; u.RawQuery = "state=%zz&success=true"; return &u },
			http.StatusBadRequest, "malformed"),
		Entry("oversized form", http.MethodPost, func() *url.URL { return with(func(q url.Values) { q.Set("pad", strings.Repeat("p", 20<<10)) }) },
			http.StatusRequestEntityTooLarge, "larger than any genuine"),
		Entry("wrong method", http.MethodPut, func() *url.URL { return redirect },
			http.StatusMethodNotAllowed, "Use GET"),
	)

	It("accepts the genuine redirect once, after all the bad ones", func() {
		Expect(visit(http.MethodGet, with(func(q url.Values) { q.Del("code") })).status).To(Equal(http.StatusBadRequest))
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusOK))
		waitForPhase(c, v1.PhaseConnected, 20*time.Second)
		Expect(visit(http.MethodGet, redirect).status).To(Equal(http.StatusConflict))
	})
})
