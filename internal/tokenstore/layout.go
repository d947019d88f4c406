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

// Package tokenstore owns the two Secrets of a BankConnection: the operator-private Secret that holds
// the refresh token, the hand-off from the callback endpoint and the refresh journal; and the
// access-token Secret that workloads mount. It orders and fences every write so that a rotated
// refresh token is never lost or spent twice.
package tokenstore

import corev1 "k8s.io/api/core/v1"

// Labels on every Secret the operator manages. The manager's cache selects Secrets by
// LabelManagedBy, so unrelated Secrets in the cluster cost it no memory.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	ManagedByValue  = "finx-operator"
	LabelConnection = "banking.finx-operator.io/connection"
	LabelRole       = "banking.finx-operator.io/role"

	RoleRefreshToken = "refresh-token"
	RoleAccessToken  = "access-token"
)

// Secret types, so nobody mistakes these Secrets for generic ones.
const (
	TypeRefreshToken corev1.SecretType = "banking.finx-operator.io/refresh-token"
	TypeAccessToken  corev1.SecretType = "banking.finx-operator.io/access-token"
)

// Keys of the access-token Secret: the contract with workloads.
const (
	KeyAccessToken = "access_token"
	KeyTokenType   = "token_type"
	KeyExpiresAt   = "expires_at"
)

// Keys of the operator-private Secret.
const (
	KeyRefreshToken = "refresh_token"
	// Bookkeeping next to the token, so the Secret alone says how old the chain is.
	keyIssuedAt  = "refresh_token_issued_at"
	keyExpiresAt = "refresh_token_expires_at"
	// keyRotations counts rotations since the last authorisation, written with the token so the
	// count survives a crash between the Secret write and the status write.
	keyRotations = "rotations"

	// Callback hand-off, written by the callback endpoint and consumed by the reconciler.
	keyCallbackResult     = "callback_result"
	keyCallbackCode       = "callback_code"
	keyCallbackStateHash  = "callback_state_hash"
	keyCallbackFlowID     = "callback_flow_id"
	keyCallbackReceivedAt = "callback_received_at"
)

// Annotations of the operator-private Secret.
const (
	// AnnotationInFlight is the journal: set (with a resourceVersion precondition) before a refresh
	// token or code is spent and cleared in the same write that stores the result. Finding it set
	// means the outcome of that call is unknown: a rotation may have been lost.
	AnnotationInFlight = "banking.finx-operator.io/in-flight"
	// AnnotationChainEnded marks a refresh token finX refused (or one whose rotation was lost): the
	// Secret itself says the chain is dead, so a status write that fails cannot make a dead chain
	// look alive, nor a stale condition make a new chain look dead. Storing a new chain removes it.
	AnnotationChainEnded = "banking.finx-operator.io/chain-ended"
	// AnnotationProtocol is written with every chain the current protocol stores: a chain without
	// it was stored by a version that recorded a refused chain in status only.
	AnnotationProtocol = "banking.finx-operator.io/protocol"
	protocolVersion    = "2"
	// AnnotationConsumedStates lists hashes of states the callback already accepted, so a replayed
	// callback is refused even after the link has moved on.
	AnnotationConsumedStates = "banking.finx-operator.io/consumed-states"
)

// maxConsumedStates bounds the consumed-state list; older entries have long expired anyway.
const maxConsumedStates = 16
