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

// Package sandbox is an in-memory stand-in for the finX API (Qwist nrich
// "ongoing access"): flow creation, a clickable bank widget, the token endpoint
// with refresh-token rotation, and deterministic account and transaction data.
//
// It exists so that demos and integration tests can run without real finX
// credentials. Behaviour that the public finX documentation leaves open is
// decided here and written down in docs/sandbox.md; tests and clients should
// treat those decisions as one plausible server, not as the finX contract.
//
// Nothing is persisted: restarting the process forgets every user and token.
package sandbox
