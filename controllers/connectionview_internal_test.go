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
	"reflect"
	"testing"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

func decodedConnection(t *testing.T, name string) *v1.BankConnection {
	c := &v1.BankConnection{
		TypeMeta:   metav1.TypeMeta{APIVersion: "banking.finx-operator.io/v1alpha1", Kind: "BankConnection"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team", Finalizers: []string{"banking.finx-operator.io/tokens"}},
		Spec:       v1.BankConnectionSpec{ClientRef: v1.ClientReference{Name: "finx"}, UserID: name, RedirectURI: "https://app.example/cb"},
		Status: v1.BankConnectionStatus{
			Phase: v1.PhaseConnected,
			Conditions: []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Connected",
				Message: "The connection holds a valid refresh token."}},
			Accounts: &v1.AccountsStatus{Count: 1, Items: []v1.BankAccountStatus{{ID: name + "-a", BankName: "Demo Bank", Type: "checking"}}},
		},
	}
	// Decoded as the informer does: every string is a copy of its own.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := &v1.BankConnection{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The cached connection is what the reconciler patches its status against: it must be equal in
// every value to the decoded one (less managedFields), with the repeated strings shared.
func TestConnectionForCacheKeepsValuesAndSharesStrings(t *testing.T) {
	a, b := decodedConnection(t, "a"), decodedConnection(t, "b")
	want := a.DeepCopy()
	got, err := connectionForCache(a)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the cached connection differs:\n%+v\n%+v", got, want)
	}
	if _, err := connectionForCache(b); err != nil {
		t.Fatal(err)
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if !same(a.Status.Conditions[0].Message, b.Status.Conditions[0].Message) || !same(a.Namespace, b.Namespace) ||
		!same(a.Spec.RedirectURI, b.Spec.RedirectURI) || !same(string(a.Status.Phase), string(b.Status.Phase)) ||
		!same(a.Status.Accounts.Items[0].BankName, b.Status.Accounts.Items[0].BankName) {
		t.Error("repeated strings are not shared between cached connections")
	}
	if same(a.Spec.UserID, b.Spec.UserID) || a.Spec.UserID != "a" {
		t.Error("a connection's own value changed")
	}
}
