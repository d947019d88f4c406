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
	"strings"
	"testing"
)

// The lines are of the kinds the manager's log holds (shortened).
func TestForbiddenLinesTellRBACFromANamespaceBeingDeleted(t *testing.T) {
	rbac := `{"msg":"Reconciler error","error":"secrets \"x-finx-refresh\" is forbidden: User \"system:serviceaccount:finx-operator-system:finx-operator-controller-manager\" cannot get resource \"secrets\" in API group \"\" in the namespace \"t\""}`
	logsafe := `{"msg":"writing status","error":"API error Forbidden (403)"}`
	terminating := `{"logger":"events","msg":"could not write an event","reason":"LinkIssued","error":"events.events.k8s.io \"rene.18ed\" is forbidden: unable to create new content in namespace e2e-consent because it is being terminated"}`
	other := `{"msg":"Reconcile successful"}`
	got := forbiddenLines(strings.Join([]string{rbac, terminating, other, logsafe, terminating}, "\n"))
	if len(got) != 2 || got[0] != rbac || got[1] != logsafe {
		t.Fatalf("forbiddenLines = %q, want the RBAC denial and the logsafe one only", got)
	}
}
