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

package finx

import (
	"net/http"
	"strings"
	"testing"
)

// A token echoed by the server past the message length limit must not survive in part: redaction
// happens before truncation.
func TestEchoedTokenAcrossTruncationIsRedacted(t *testing.T) {
	tok := strings.Repeat("A", 200) + strings.Repeat("B", 200)
	body := []byte(`{"error":"invalid_grant","error_description":"refresh token ` + tok + ` was already used"}`)
	resp := &http.Response{StatusCode: 400, Header: http.Header{
		"Www-Authenticate": {`Bearer error="invalid_grant", error_description="` + strings.Repeat("x", 400) + tok + `"`},
	}}
	e := statusError(call{endpoint: EndpointToken}, resp, body, newRedactor(tok))
	for _, part := range []string{strings.Repeat("A", 20), strings.Repeat("B", 20)} {
		if strings.Contains(e.Error(), part) || strings.Contains(e.WWWAuthenticate, part) {
			t.Fatalf("part of the token survived: %q / %q", e.Error(), e.WWWAuthenticate)
		}
	}
	if e.Class != ClassGrantRejected {
		t.Fatalf("class = %v, want grant rejected", e.Class)
	}
}

// A 2xx token response that fails strict parsing still yields its refresh token (finX has most
// likely rotated), but never the token that was sent, and nothing from unreadable JSON.
func TestSalvageRefreshToken(t *testing.T) {
	for _, tc := range []struct {
		name, body, sent, want string
	}{
		{"unknown token_type", `{"access_token":"a","token_type":"mac","expires_in":60,"refresh_token":"new"}`, "old", "new"},
		{"missing expires_in", `{"access_token":"a","refresh_token":"new"}`, "old", "new"},
		{"byte-order mark and trailing data", "\xef\xbb\xbf" + `{"refresh_token":"new"} trailing`, "old", "new"},
		{"echo of the sent token", `{"refresh_token":"old"}`, "old", ""},
		{"not a string", `{"refresh_token":42}`, "old", ""},
		{"padded with spaces", `{"refresh_token":" new "}`, "old", ""},
		{"not JSON", `<html>`, "old", ""},
		{"no refresh token", `{"access_token":"a"}`, "old", ""},
	} {
		if got := salvageRefreshToken([]byte(tc.body), tc.sent); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
