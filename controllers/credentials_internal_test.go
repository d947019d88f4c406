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
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
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

// countingReader answers every Get with one credentials Secret and counts the reads.
type countingReader struct {
	client.Reader
	reads int
}

func (r *countingReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.reads++
	s := obj.(*corev1.Secret)
	s.Name, s.Namespace, s.ResourceVersion = key.Name, key.Namespace, "1"
	s.Type = corev1.SecretType(v1.SecretTypeClientCredentials)
	s.Data = map[string][]byte{"client_id": []byte("id"), "client_secret": []byte("revoked")}
	return nil
}

// When finX refuses a client's credentials, every connection of the client fails alike: the first
// refusal of a reading makes the next call read the Secret again (it may have been put right), but
// the refusals of that new reading cost no further read until credentialsRefusedRecheck has passed.
func TestCredentialsRefusedByFinXAreReadAgainOncePerRefusedRecheck(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	r := &countingReader{}
	m := &Credentials{Reader: r, Clock: clk}
	key := types.NamespacedName{Namespace: "ns", Name: "finx-credentials"}
	ref := v1.CredentialsSecretReference{Name: key.Name}
	get := func() {
		t.Helper()
		if _, _, _, err := m.Get(context.Background(), key, ref); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if r.reads != 1 {
		t.Fatalf("reads = %d after the first use, want 1", r.reads)
	}
	m.Forget(key, ref)
	get()
	if r.reads != 2 {
		t.Fatalf("reads = %d after finX refused the first reading, want 2: the next call reads again", r.reads)
	}
	// A thousand connections fail with the new reading, in the same second.
	for range 1000 {
		m.Forget(key, ref)
		get()
	}
	if r.reads != 2 {
		t.Fatalf("reads = %d after 1,000 refusals of one reading, want still 2", r.reads)
	}
	clk.SetTime(clk.Now().Add(credentialsRefusedRecheck))
	m.Forget(key, ref)
	get()
	if r.reads != 3 {
		t.Fatalf("reads = %d after a refusal credentialsRefusedRecheck later, want 3", r.reads)
	}
}
