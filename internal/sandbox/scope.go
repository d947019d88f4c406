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

package sandbox

import "strings"

// registeredScopes is what the sandbox client was "registered" with. A token
// request may narrow it (space-delimited) but not widen it.
var registeredScopes = []string{"accounts=ro", "balance=ro", "transactions=ro"}

const (
	scopeAccounts     = "accounts=ro"
	scopeBalance      = "balance=ro"
	scopeTransactions = "transactions=ro"
)

// grantScope returns the canonical scope string for a request against the
// scope already held (a space-delimited list). ok is false if requested asks
// for anything not held.
func grantScope(requested, held string) (string, bool) {
	heldSet := strings.Fields(held)
	req := strings.Fields(requested)
	if len(req) == 0 {
		return held, true
	}
	want := map[string]bool{}
	for _, r := range req {
		if !contains(heldSet, r) {
			return "", false
		}
		want[r] = true
	}
	var out []string
	for _, h := range heldSet { // keep the canonical order
		if want[h] {
			out = append(out, h)
		}
	}
	return strings.Join(out, " "), true
}

func hasScope(scope, want string) bool { return contains(strings.Fields(scope), want) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
