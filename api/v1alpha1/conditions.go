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

package v1alpha1

// Condition types of a BankConnection.
const (
	// ConditionReady is True when the connection holds a live refresh token and, in Maintain mode,
	// a valid access token in its Secret: workloads can call finX.
	ConditionReady = "Ready"
	// ConditionLinkIssued is True while a widget link waits for the user in status.link.
	ConditionLinkIssued = "LinkIssued"
	// ConditionAuthorized is True once the user completed the widget and the code was exchanged;
	// False with reason Cancelled when the user cancelled.
	ConditionAuthorized = "Authorized"
	// ConditionTokensValid is True while the tokens in the Secrets are unexpired and the last refresh
	// succeeded or may still be retried in time.
	ConditionTokensValid = "TokensValid"
	// ConditionReauthorizationRequired is True (abnormal) when finX rejected the refresh chain or a
	// rotation may have been lost: the user must go through the widget again.
	ConditionReauthorizationRequired = "ReauthorizationRequired"
	// ConditionSynced is True while finX's last bank sync of every account succeeded within
	// spec.syncStaleAfter; False when a sync failed or the last success is stale; Unknown while the
	// operator has no recent read of the accounts.
	ConditionSynced = "Synced"
	// ConditionConsentRenewalDue is True (abnormal) when the end user should renew the bank consent
	// through status.consentLink.url: its renewal time came, or a bank sync failed in a way only the
	// user can fix.
	ConditionConsentRenewalDue = "ConsentRenewalDue"
	// ConditionConsentExpired is True (abnormal) once the bank consent has lapsed: finX's autosync
	// stops until the user renews it.
	ConditionConsentExpired = "ConsentExpired"
	// ConditionReconciling is True (abnormal-true, kstatus) while the connection makes progress
	// that needs no person's change: the operator is retrying, or the end user has yet to act.
	// Absent otherwise.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True (abnormal-true, kstatus) when the connection cannot progress until a
	// person acts: a configuration error, a request finX refused, or a dead chain. Absent otherwise.
	ConditionStalled = "Stalled"
)

// Condition reasons. Event reasons reuse them where they describe the same thing.
const (
	ReasonLinkIssued      = "LinkIssued"
	ReasonLinkPending     = "LinkPending"
	ReasonAwaitingUser    = "AwaitingUser"
	ReasonAuthorized      = "Authorized"
	ReasonCancelled       = "Cancelled"
	ReasonFlowFailed      = "FlowFailed"
	ReasonTokensValid     = "TokensValid"
	ReasonNoTokens        = "NoTokens"
	ReasonTokenRefreshed  = "TokenRefreshed"
	ReasonRefreshFailed   = "RefreshFailed"
	ReasonExchangeFailed  = "ExchangeFailed"
	ReasonRefreshRejected = "RefreshRejected"
	ReasonCodeRejected    = "CodeRejected"
	ReasonRotationLost    = "RotationLost"
	// ReasonRefreshTokenMissing: the private Secret lost its refresh token (deleted or emptied).
	ReasonRefreshTokenMissing = "RefreshTokenMissing"
	// ReasonTokenSuperseded: a result finX returned was not stored because the Secret had received
	// a newer chain from another writer.
	ReasonTokenSuperseded         = "TokenSuperseded"
	ReasonTokenExpired            = "TokenExpired"
	ReasonChainAlive              = "ChainAlive"
	ReasonSuspended               = "Suspended"
	ReasonClientNotFound          = "ClientNotFound"
	ReasonClientNotReady          = "ClientNotReady"
	ReasonClientNotAllowed        = "ClientNotAllowed"
	ReasonClientAuthFailed        = "ClientAuthenticationFailed"
	ReasonFinXUnavailable         = "FinXUnavailable"
	ReasonFinXBadResponse         = "FinXBadResponse"
	ReasonFinXRejectedRequest     = "FinXRejectedRequest"
	ReasonSecretWriteFailed       = "SecretWriteFailed"
	ReasonSecretConflict          = "SecretConflict"
	ReasonReauthorizationRequired = "ReauthorizationRequired"
	ReasonConnected               = "Connected"
	ReasonCredentialsFound        = "CredentialsFound"
	ReasonCredentialsMissing      = "CredentialsMissing"
	ReasonCredentialsIncomplete   = "CredentialsIncomplete"
	// ReasonCredentialsWrongType: the credentials Secret is not of type
	// banking.finx-operator.io/client-credentials (or is one of the operator's token Secrets).
	ReasonCredentialsWrongType = "CredentialsWrongType"
	// ReasonCredentialsForbidden: the operator's RBAC does not let it read the credentials Secret
	// (a namespace-scoped install without a RoleBinding in the Secret's namespace).
	ReasonCredentialsForbidden = "CredentialsForbidden"
	// ReasonBaseURLNotAllowed: the client's baseURL is not on the operator's allowlist; no request
	// is sent there.
	ReasonBaseURLNotAllowed = "BaseURLNotAllowed"
	// ReasonRetainedChainAdopted: a new connection took over a chain a deleted one had retained.
	ReasonRetainedChainAdopted = "RetainedChainAdopted"

	// Synced reasons.
	ReasonSyncSucceeded = "SyncSucceeded"
	// ReasonSyncFailed: finX's last sync attempt is newer than its last success.
	ReasonSyncFailed = "SyncFailed"
	// ReasonSyncStale: the last successful sync is older than spec.syncStaleAfter.
	ReasonSyncStale = "SyncStale"
	// ReasonSyncNeedsUser: a sync failed in a way only the end user can fix (invalid credentials,
	// blocked access, expired consent); a re-consent link is in status.consentLink.
	ReasonSyncNeedsUser = "SyncNeedsUser"
	// ReasonAccountsNotRead: the operator has no read of the accounts recent enough to judge.
	ReasonAccountsNotRead = "AccountsNotRead"
	// ReasonNoAccounts: finX lists no account for the connection.
	ReasonNoAccounts = "NoAccounts"
	// ReasonAccountsReadFailed: reading the accounts from finX failed (event reason).
	ReasonAccountsReadFailed = "AccountsReadFailed"

	// Consent reasons.
	ReasonConsentValid            = "ConsentValid"
	ReasonConsentRenewalDue       = "ConsentRenewalDue"
	ReasonConsentExpired          = "ConsentExpired"
	ReasonConsentLinkIssued       = "ConsentLinkIssued"
	ReasonConsentRenewed          = "ConsentRenewed"
	ReasonConsentRenewalCancelled = "ConsentRenewalCancelled"
	ReasonConsentRenewalFailed    = "ConsentRenewalFailed"
	ReasonConsentLinkFailed       = "ConsentLinkFailed"
)

// Annotations that ask the operator for a one-off action. Each new value is acted on once.
const (
	// AnnotationRefresh asks for a refresh now, for example `kubectl annotate bankconn x
	// banking.finx-operator.io/refresh=$(date +%s) --overwrite`.
	AnnotationRefresh = "banking.finx-operator.io/refresh"
	// AnnotationRelink asks for a new widget link now.
	AnnotationRelink = "banking.finx-operator.io/relink"
)
