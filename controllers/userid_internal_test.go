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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// The cases that need no API server: a recorded user_id wins, and a connection that started before
// status.finxUserID existed gets the user_id the earlier derivation gave it. (The namespace-UID
// derivation is exercised against a real API server in trust_test.go.)
func TestConnectionUserIDKeepsWhatAConnectionStartedWith(t *testing.T) {
	started := v1.BankConnectionStatus{Link: &v1.LinkStatus{URL: "https://finx.example/w"}}
	authorised := v1.BankConnectionStatus{AuthorizedAt: &metav1.Time{}}
	cases := []struct {
		name   string
		kind   v1.ClientKind
		scope  v1.UserIDScope
		status v1.BankConnectionStatus
		want   string
	}{
		{"recorded", v1.ClientKindClusterFinXClient, v1.UserIDScopeNamespace, v1.BankConnectionStatus{FinXUserID: "kept"}, "kept"},
		{"recorded, scope changed since", v1.ClientKindFinXClient, v1.UserIDScopeCluster, v1.BankConnectionStatus{FinXUserID: "uid/alice"}, "uid/alice"},
		{"shared client, link pending at upgrade", v1.ClientKindClusterFinXClient, v1.UserIDScopeNamespace, started, "team-a/alice"},
		{"shared client, Cluster scope", v1.ClientKindClusterFinXClient, v1.UserIDScopeCluster, authorised, "alice"},
		{"namespaced client, chain at upgrade", v1.ClientKindFinXClient, v1.UserIDScopeNamespace, authorised, "alice"},
		{"new connection, Cluster scope", v1.ClientKindFinXClient, v1.UserIDScopeCluster, v1.BankConnectionStatus{}, "alice"},
	}
	for _, tc := range cases {
		conn := &v1.BankConnection{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "c"},
			Spec:       v1.BankConnectionSpec{ClientRef: v1.ClientReference{Kind: tc.kind, Name: "x"}, UserID: "alice"},
			Status:     tc.status,
		}
		// No Reader: none of these cases may need the namespace.
		got, err := (&ClientSource{}).connectionUserID(context.Background(), conn, tc.scope)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if got := namespacedUserID("0d5e-uid", "alice"); got != "0d5e-uid/alice" {
		t.Errorf("namespacedUserID = %q", got)
	}
}
