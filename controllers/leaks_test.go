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
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// After every other spec: no token, code, state or client secret seen during the suite may appear in
// the manager's logs, in events, or in any BankConnection's status.
var _ = AfterSuite(func() {
	if k8sClient == nil {
		return
	}
	secrets.add("client secret", sandbox.DefaultClientSecret)
	Expect(secrets.size()).To(BeNumerically(">", 10), "the suite must have collected tokens to look for")

	Expect(secrets.leakIn(logs.String())).To(BeEmpty(), "manager logs leak a secret")

	events := &eventsv1.EventList{}
	Expect(k8sClient.List(ctx, events)).To(Succeed())
	Expect(events.Items).NotTo(BeEmpty())
	b, _ := json.Marshal(events.Items)
	Expect(secrets.leakIn(string(b))).To(BeEmpty(), "events leak a secret")

	coreEvents := &corev1.EventList{}
	Expect(k8sClient.List(ctx, coreEvents)).To(Succeed())
	b, _ = json.Marshal(coreEvents.Items)
	Expect(secrets.leakIn(string(b))).To(BeEmpty(), "core events leak a secret")

	// The cache holds the operator's Secrets for the whole life of the process: never their tokens.
	cached := &corev1.SecretList{}
	Expect(mgrCache.List(ctx, cached)).To(Succeed())
	Expect(cached.Items).NotTo(BeEmpty())
	b, _ = json.Marshal(cached.Items)
	Expect(secrets.leakIn(string(b))).To(BeEmpty(), "the manager's cache holds a secret")

	conns := &v1.BankConnectionList{}
	Expect(k8sClient.List(ctx, conns)).To(Succeed())
	b, _ = json.Marshal(conns.Items)
	Expect(secrets.leakIn(string(b))).To(BeEmpty(), "a BankConnection leaks a secret")
})
