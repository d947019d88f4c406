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

// Package intern shares the strings that many cached objects repeat (namespaces, kinds, condition
// reasons and messages): each object the informer decodes has its own copy, and the cache keeps
// thousands of them. Go strings are immutable, so sharing one is safe.
package intern

import "unique"

// String returns the one shared copy of s.
func String(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// Each replaces every string of ss by its shared copy, in place.
func Each(ss []string) {
	for i, s := range ss {
		ss[i] = String(s)
	}
}

// Keys copies m with shared keys, and shared values for the keys listed in repeating.
func Keys(m map[string]string, repeating ...string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		for _, r := range repeating {
			if k == r {
				v = String(v)
				break
			}
		}
		out[String(k)] = v
	}
	return out
}
