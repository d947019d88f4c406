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

package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// A client secret must not stay in memory for the life of the process after its client is gone:
// a reading nobody has used for several checks is dropped.
func TestCredentialsForgetsReadingsNobodyUses(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	m := &Credentials{Clock: clk}
	key := func(name string) credentialsKey {
		return credentialsKey{secret: types.NamespacedName{Namespace: "ns", Name: name}, idKey: "client_id", secKey: "client_secret"}
	}
	m.entry(key("deleted-client")).secret = "s3cr3t"
	m.entry(key("live-client"))

	clk.SetTime(clk.Now().Add(credentialsForgetAfter - time.Second))
	m.entry(key("live-client"))
	if _, ok := m.entries[key("deleted-client")]; !ok {
		t.Fatal("a reading was dropped before it went unused for credentialsForgetAfter")
	}

	// Unused readings are looked for once per check interval.
	clk.SetTime(clk.Now().Add(credentialsRecheck + time.Second))
	m.entry(key("yet-another"))
	if _, ok := m.entries[key("deleted-client")]; ok {
		t.Error("a reading unused for longer than credentialsForgetAfter is still held")
	}
	if _, ok := m.entries[key("live-client")]; !ok {
		t.Error("a reading in use was dropped")
	}
}
