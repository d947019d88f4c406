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
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

func TestStatusPatchCarriesTheStatusChangeAndTheResourceVersionOnly(t *testing.T) {
	before := &v1.BankConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", ResourceVersion: "41", Labels: map[string]string{"a": "b"}},
		Spec:       v1.BankConnectionSpec{UserID: "u", RedirectURI: "https://example.com/cb"},
		Status:     v1.BankConnectionStatus{Phase: v1.PhasePending, FinXUserID: "old", Link: &v1.LinkStatus{URL: "https://finx/1"}},
	}
	after := before.DeepCopy()
	after.Labels["a"] = "changed in memory" // the status subresource ignores metadata: not sent
	after.Spec.UserID = "changed in memory" // nor the spec
	after.Status.Phase = v1.PhaseAwaitingAuthorization
	after.Status.Link = nil // a removed field is removed (null), as a merge patch of the whole object did
	p := statusPatch{from: before}
	if p.Type() != types.MergePatchType {
		t.Fatalf("patch type %s, want a merge patch", p.Type())
	}
	data, err := p.Data(after)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(`{"metadata":{"resourceVersion":"41"},"status":{"phase":"AwaitingAuthorization","link":null}}`), &want)
	if gj, _ := json.Marshal(got); string(gj) != mustJSON(want) {
		t.Fatalf("patch %s, want %s", gj, mustJSON(want))
	}

	// Without a resourceVersion there is no precondition to send: refused, not sent unguarded.
	before.ResourceVersion = ""
	if _, err := (statusPatch{from: before}).Data(after); err == nil {
		t.Fatal("a status patch without a resourceVersion was built")
	}
	// Anything but a BankConnection is a programming error, reported as one.
	if _, err := (statusPatch{from: &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1"}}}).Data(&v1.FinXClient{}); err == nil {
		t.Fatal("a status patch of a FinXClient was built")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
