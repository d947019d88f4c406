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

// Package finx is the finX API client used by the operator. It knows nothing
// about Kubernetes.
//
// The client never retries by itself. Every failure comes back as an *Error
// with a Class, and the caller (the controller) decides what to do. This is
// essential on the token endpoint: a refresh that timed out may already have
// rotated the token on the server, so blindly repeating it could spend the
// chain twice.
//
// Error strings never contain tokens, authorization codes, state values or the
// client secret; values the client sent are additionally redacted from any
// server-provided text that is copied into an error.
package finx
