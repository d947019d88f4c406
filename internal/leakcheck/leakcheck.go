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

// Package leakcheck finds secret values in logs, events and statuses, in every form they would take
// there: as they are, base64-encoded (a Secret's data in JSON, also inside a larger encoded blob),
// hex-encoded, and spread over the rows of a hex dump (how client-go logs a protobuf body). The test
// suites use it; it is not part of the operator.
package leakcheck

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// MinLength is the shortest value worth looking for: shorter ones match by chance.
const MinLength = 8

// Set is a concurrency-safe set of secret values, each with a description.
type Set struct {
	mu     sync.Mutex
	values map[string]string
}

// Add remembers value (if it is at least MinLength long) as a kind of secret.
func (s *Set) Add(kind, value string) {
	if len(value) < MinLength {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]string{}
	}
	s.values[value] = kind
}

// Len is the number of values collected.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// Find describes the first secret found in text, in any form, or returns "". The description
// never contains the value. Every form of every value is looked up at every position of text
// through an index of needle prefixes, so a long log is read once, not once per needle.
func (s *Set) Find(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	type needle struct{ text, what string }
	index := map[string][]needle{}
	for v, kind := range s.values {
		for form, n := range forms(v) {
			index[n[:MinLength]] = append(index[n[:MinLength]], needle{n, fmt.Sprintf("a %s (%d chars) as %s", kind, len(v), form)})
		}
	}
	scan := func(text, where string) string {
		for i := 0; i+MinLength <= len(text); i++ {
			for _, n := range index[text[i:i+MinLength]] {
				if strings.HasPrefix(text[i:], n.text) {
					return n.what + where
				}
			}
		}
		return ""
	}
	if found := scan(text, ""); found != "" {
		return found
	}
	return scan(string(dumpBytes(text)), " in a hex dump")
}

// forms are the encodings of v searched for directly.
func forms(v string) map[string]string {
	out := map[string]string{
		"raw text": v,
		"hex":      hex.EncodeToString([]byte(v)),
	}
	// Base64 of v alone, and the part of its encoding that does not depend on the bytes around it
	// when v sits at any offset inside a larger encoded value.
	for k := 0; k < 3; k++ {
		for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
			e := enc.EncodeToString(append(make([]byte, k), v...))
			if k > 0 {
				e = e[4:]
			}
			e = strings.TrimRight(e, "=")
			if len(e) > 4 {
				e = e[:len(e)-4]
			}
			if len(e) >= MinLength {
				out[fmt.Sprintf("%s (offset %d)", name, k)] = e
			}
		}
	}
	return out
}

// dumpRow matches one row of encoding/hex.Dump output: an offset, up to 16 bytes in hex, and the
// printable column.
var dumpRow = regexp.MustCompile(`[0-9a-f]{8}((?:\s{1,2}[0-9a-f]{2}){1,16})\s+\|`)

// dumpBytes reassembles the bytes of every hex-dump row in text, in order, so that a value split
// over rows is found whole.
func dumpBytes(text string) []byte {
	var out []byte
	for _, m := range dumpRow.FindAllStringSubmatch(text, -1) {
		b, err := hex.DecodeString(strings.Join(strings.Fields(m[1]), ""))
		if err == nil {
			out = append(out, b...)
		}
	}
	return out
}
