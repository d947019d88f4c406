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
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// decodeStrict decodes exactly one JSON object. The returned reason names
// fields but never quotes values: a token response may hold fresh tokens.
func decodeStrict(raw []byte, v any) string {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return "response body is not a JSON object"
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return "response field " + te.Field + " has the wrong type"
		}
		if errors.Is(err, errTimeFormat) {
			return "response contains a timestamp in an unknown format"
		}
		return "response body is not valid JSON"
	}
	if _, err := dec.Token(); err != io.EOF {
		return "response body has data after the JSON object"
	}
	return ""
}

func malformed(endpoint string, status int, reason string) error {
	return &Error{Endpoint: endpoint, StatusCode: status, Class: ClassMalformedResponse, Message: reason}
}
