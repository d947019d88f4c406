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

package leakcheck

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

func TestFindsEveryForm(t *testing.T) {
	const token = "rt_Zm9vYmFyLXNlY3JldC10b2tlbi0xMjM0NTY3ODk"
	s := &Set{}
	s.Add("refresh token", token)
	s.Add("too short", "abc")
	if s.Len() != 1 {
		t.Fatalf("Len = %d", s.Len())
	}
	blob := "\x0a\x07payload" + token + "\x12\x03end"
	for name, text := range map[string]string{
		"raw":              `msg="Response Body" body="{\"refresh_token\":\"` + token + `\"}"`,
		"base64":           `"data":{"refresh_token":"` + base64.StdEncoding.EncodeToString([]byte(token)) + `"}`,
		"base64 in a blob": base64.StdEncoding.EncodeToString([]byte("xy" + blob)),
		"hex":              hex.EncodeToString([]byte("k8s" + token)),
		"hex dump":         strconv.Quote(hex.Dump([]byte("k8s\x00\x0a" + blob))),
	} {
		if s.Find(text) == "" {
			t.Errorf("%s: not found", name)
		} else if strings.Contains(s.Find(text), token) {
			t.Errorf("%s: the description repeats the value", name)
		}
	}
	if got := s.Find("nothing to see " + token[:len(token)-3]); got != "" {
		t.Errorf("false positive: %s", got)
	}
}
