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
	"encoding/json"
	"strconv"
	"strings"
)

const maxMessage = 300

// errorInfo is what could be read from an error body.
type errorInfo struct {
	Code       int
	Message    string // message and description joined, sanitised and truncated
	OAuthError string // RFC 6749 error code, if the body used that shape
}

// parseErrorBody understands the shapes seen for finX and its predecessors:
//
//	{"error":{"code":1000,"group":"Client","message":"…","description":"…"}}
//	{"error":{"message":"…","description":"…","code":90000}}
//	{"error":"invalid_grant","error_description":"…"}
//
// Anything else yields an empty errorInfo; the status code still classifies.
func parseErrorBody(body []byte) errorInfo {
	var top struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
		Message          string          `json:"message"`
		Description      string          `json:"description"`
		Code             json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &top) != nil {
		return errorInfo{}
	}
	var info errorInfo
	var oauth string
	var nested struct {
		Code        json.RawMessage `json:"code"`
		Message     string          `json:"message"`
		Description string          `json:"description"`
	}
	switch {
	case json.Unmarshal(top.Error, &oauth) == nil && oauth != "":
		info.OAuthError = truncate(sanitize(oauth), 64)
		info.Message = joinMessage(oauth, top.ErrorDescription)
	case json.Unmarshal(top.Error, &nested) == nil && len(top.Error) > 0 && top.Error[0] == '{':
		info.Code = parseCode(nested.Code)
		info.Message = joinMessage(nested.Message, nested.Description)
	default:
		info.Code = parseCode(top.Code)
		info.Message = joinMessage(top.Message, top.Description)
	}
	return info
}

// parseCode accepts a number or a numeric string; anything else is 0.
func parseCode(raw json.RawMessage) int {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func joinMessage(msg, desc string) string {
	msg, desc = strings.TrimSpace(msg), strings.TrimSpace(desc)
	switch {
	case msg == "" || msg == desc:
		msg = desc
	case desc != "":
		msg += ": " + desc
	}
	return truncate(sanitize(msg), maxMessage)
}
