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

package callback

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }

	tests := []struct {
		name    string
		query   string
		want    Request
		wantErr string // substring of the user-facing message; empty means success
	}{
		{
			name:  "success",
			query: "state=s1&success=true&cancel=false&code=c1&flow_id=f1",
			want:  Request{State: "s1", Code: "c1", FlowID: "f1", Success: true},
		},
		{
			name:  "success without cancel parameter",
			query: "state=s1&success=true&code=c1",
			want:  Request{State: "s1", Code: "c1", Success: true},
		},
		{
			name:  "parameter order does not matter",
			query: "code=c1&flow_id=f1&success=true&state=s1",
			want:  Request{State: "s1", Code: "c1", FlowID: "f1", Success: true},
		},
		{
			name:  "cancel",
			query: "state=s1&success=false&cancel=true&flow_id=f1",
			want:  Request{State: "s1", FlowID: "f1", Cancel: true},
		},
		{
			name:  "failure",
			query: "state=s1&success=false&cancel=false",
			want:  Request{State: "s1"},
		},
		{
			name:  "failure without cancel parameter",
			query: "state=s1&success=false",
			want:  Request{State: "s1"},
		},
		{
			name:  "booleans are case-insensitive",
			query: "state=s1&success=TRUE&cancel=False&code=c1",
			want:  Request{State: "s1", Code: "c1", Success: true},
		},
		{
			name:  "mixed-case cancel",
			query: "state=s1&success=fAlSe&cancel=tRuE",
			want:  Request{State: "s1", Cancel: true},
		},
		{
			name:  "code is dropped when not successful",
			query: "state=s1&success=false&code=leaked",
			want:  Request{State: "s1"},
		},
		{
			name:  "code is dropped on cancel",
			query: "state=s1&success=false&cancel=true&code=leaked",
			want:  Request{State: "s1", Cancel: true},
		},
		{
			name:  "unknown parameters are ignored, even repeated",
			query: "state=s1&success=true&code=c1&utm_source=x&extra=1&extra=2&lang=de",
			want:  Request{State: "s1", Code: "c1", Success: true},
		},
		{
			name:  "percent-encoded values are decoded",
			query: "state=a%2Bb%3Dc&success=true&code=x%2Fy+z",
			want:  Request{State: "a+b=c", Code: "x/y z", Success: true},
		},
		{
			// A re-consent may come back without a code; the hand-off decides (ErrNoCode otherwise).
			name:  "success without code",
			query: "state=s1&success=true&flow_id=f1",
			want:  Request{State: "s1", FlowID: "f1", Success: true},
		},
		{
			name:  "success with empty code",
			query: "state=s1&success=true&code=",
			want:  Request{State: "s1", Success: true},
		},
		{
			name:  "state at the limit",
			query: "state=" + long(maxStateLen) + "&success=false",
			want:  Request{State: long(maxStateLen)},
		},
		{
			name:  "code and flow_id at their limits",
			query: "state=s&success=true&code=" + long(maxCodeLen) + "&flow_id=" + long(maxFlowIDLen),
			want:  Request{State: "s", Code: long(maxCodeLen), FlowID: long(maxFlowIDLen), Success: true},
		},

		{name: "missing state", query: "success=true&code=c1", wantErr: "no state parameter"},
		{name: "empty state", query: "state=&success=true&code=c1", wantErr: "no state parameter"},
		{name: "empty query", query: "", wantErr: "no state parameter"},
		{name: "duplicate state", query: "state=a&state=b&success=false", wantErr: `"state" appears more than once`},
		{name: "duplicate identical state", query: "state=a&state=a&success=false", wantErr: `"state" appears more than once`},
		{name: "duplicate success", query: "state=a&success=true&success=false&code=c", wantErr: `"success" appears more than once`},
		{name: "duplicate cancel", query: "state=a&success=false&cancel=true&cancel=false", wantErr: `"cancel" appears more than once`},
		{name: "duplicate code", query: "state=a&success=true&code=c1&code=c2", wantErr: `"code" appears more than once`},
		{name: "duplicate flow_id", query: "state=a&success=false&flow_id=1&flow_id=2", wantErr: `"flow_id" appears more than once`},
		{name: "duplicate code even when not successful", query: "state=a&success=false&code=1&code=2", wantErr: `"code" appears more than once`},
		{name: "state too long", query: "state=" + long(maxStateLen+1) + "&success=false", wantErr: `"state" is too long`},
		{name: "code too long", query: "state=s&success=true&code=" + long(maxCodeLen+1), wantErr: `"code" is too long`},
		{name: "code too long even when not successful", query: "state=s&success=false&code=" + long(maxCodeLen+1), wantErr: `"code" is too long`},
		{name: "flow_id too long", query: "state=s&success=false&flow_id=" + long(maxFlowIDLen+1), wantErr: `"flow_id" is too long`},
		{name: "success too long", query: "state=s&success=truetruetrue", wantErr: `"success" is too long`},
		{name: "missing success", query: "state=s&code=c", wantErr: "no success parameter"},
		{name: "success empty", query: "state=s&success=", wantErr: `"success" must be true or false`},
		{name: "success numeric", query: "state=s&success=1&code=c", wantErr: `"success" must be true or false`},
		{name: "success yes", query: "state=s&success=yes&code=c", wantErr: `"success" must be true or false`},
		{name: "success padded", query: "state=s&success=+true&code=c", wantErr: `"success" must be true or false`},
		{name: "cancel not boolean", query: "state=s&success=false&cancel=maybe", wantErr: `"cancel" must be true or false`},
		{name: "cancel empty", query: "state=s&success=false&cancel=", wantErr: `"cancel" must be true or false`},
		{name: "success and cancel both true", query: "state=s&success=true&cancel=true&code=c", wantErr: "both success and cancel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatalf("bad test query: %v", err)
			}
			got, err := parseRequest(v)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parseRequest(%q) error = %v, want none", tc.query, err)
				}
				if got != tc.want {
					t.Fatalf("parseRequest(%q) = %+v, want %+v", tc.query, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("parseRequest(%q) = %+v, want error containing %q", tc.query, got, tc.wantErr)
			}
			// Every refusal must be an input error: the handler turns only those into a 400 page.
			var ie *inputError
			if !errors.As(err, &ie) {
				t.Fatalf("parseRequest(%q) error %T is not an *inputError", tc.query, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parseRequest(%q) error = %q, want it to contain %q", tc.query, err, tc.wantErr)
			}
		})
	}
}

// A refused request must not hand back a half-filled Request that a careless caller might use.
func TestParseRequestErrorNeverReportsSuccessWithoutCode(t *testing.T) {
	for _, q := range []string{
		"state=s&success=true&cancel=true&code=c",
		"state=s&success=true&code=c&code=d",
		"state=s&success=true&flow_id=" + strings.Repeat("f", maxFlowIDLen+1) + "&code=c",
	} {
		v, _ := url.ParseQuery(q)
		r, err := parseRequest(v)
		if err == nil {
			t.Fatalf("parseRequest(%q) accepted", q)
		}
		if r.Code != "" {
			t.Errorf("parseRequest(%q) returned code %q alongside error %v", q, r.Code, err)
		}
	}
}
