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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClientKind names the kind of finX client a BankConnection uses.
// +kubebuilder:validation:Enum=FinXClient;ClusterFinXClient
type ClientKind string

const (
	// ClientKindFinXClient is a FinXClient in the connection's own namespace.
	ClientKindFinXClient ClientKind = "FinXClient"
	// ClientKindClusterFinXClient is a cluster-scoped ClusterFinXClient.
	ClientKindClusterFinXClient ClientKind = "ClusterFinXClient"
)

// ClientReference names the finX client whose credentials a BankConnection uses.
type ClientReference struct {
	// kind of the client: FinXClient (same namespace) or ClusterFinXClient.
	// +optional
	// +kubebuilder:default=FinXClient
	Kind ClientKind `json:"kind,omitempty"`

	// name of the client.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// AccountSelector preselects an account in the finX widget.
type AccountSelector struct {
	// id is an IBAN or another account identifier (account number, card number) that lets the
	// user skip the bank selection.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
}

// AccessTokenMode says whether the operator keeps a usable access token in a Secret.
// +kubebuilder:validation:Enum=Maintain;Disabled
type AccessTokenMode string

const (
	// AccessTokenModeMaintain keeps the access-token Secret holding a valid access token by
	// refreshing before it expires.
	AccessTokenModeMaintain AccessTokenMode = "Maintain"
	// AccessTokenModeDisabled writes no access-token Secret; the operator only keeps the refresh
	// token alive.
	AccessTokenModeDisabled AccessTokenMode = "Disabled"
)

// AccessTokenSpec configures the Secret that workloads mount to call finX.
type AccessTokenSpec struct {
	// secretName is the Secret that holds the current access token (keys access_token, token_type,
	// expires_at). Defaults to "<name>-finx-access".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SecretName string `json:"secretName,omitempty"`

	// mode is Maintain (default: the Secret always holds a valid access token) or Disabled (no
	// access-token Secret; only the refresh token is kept alive).
	// +optional
	// +kubebuilder:default=Maintain
	Mode AccessTokenMode `json:"mode,omitempty"`
}

// DeletionPolicy says what happens to the token Secrets when their BankConnection is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes the token Secrets with the connection (garbage collection).
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain keeps the private Secret, and so the refresh chain, when the connection is
	// deleted; a new connection of the same name, namespace, userID and client adopts it.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// BankConnectionSpec is a finX user's ongoing access to their bank data.
// +kubebuilder:validation:XValidation:rule="!has(self.syncStaleAfter) || !has(self.accountsReadInterval) || duration(self.syncStaleAfter) > duration(self.accountsReadInterval)",message="syncStaleAfter must be longer than accountsReadInterval, or every sync would read as stale before the next read"
// +kubebuilder:validation:XValidation:rule="!has(self.returnURL) || !has(self.redirectURI) || self.returnURL != self.redirectURI",message="returnURL must differ from redirectURI, or the browser would loop back into the callback"
type BankConnectionSpec struct {
	// clientRef names the FinXClient or ClusterFinXClient whose credentials are used.
	// Immutable: tokens belong to the finX client that issued them.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clientRef is immutable: tokens belong to the finX client that issued them; create a new BankConnection instead"
	ClientRef ClientReference `json:"clientRef"`

	// userID identifies the end user at finX (user_id). Use one stable id per application user.
	// With a client whose userIDScope is Namespace (the default), the namespace's UID is prefixed
	// before it is sent; status.finxUserID shows the user_id in use. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="userID is immutable: the tokens belong to that finX user; create a new BankConnection instead"
	UserID string `json:"userID"`

	// redirectURI is sent to finX as redirect_uri: where finX sends the user's browser after the
	// widget. Point it at the operator's callback endpoint (/callback), or at your application if it
	// forwards the parameters to the callback with a POST. Absolute https URL; plain http only for
	// localhost, 127.0.0.1 or [::1].
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && size(url(self).getHostname()) > 0",message="redirectURI must be an absolute http(s) URL"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() == 'https' || url(self).getHostname() in ['localhost', '127.0.0.1', '::1']",message="redirectURI must use https; plain http is only allowed for localhost, 127.0.0.1 or [::1]"
	RedirectURI string `json:"redirectURI"`

	// returnURL is where the operator's callback endpoint sends the browser once it has taken the
	// code, with the query parameters state (spec.state), success and cancel. Without it the callback
	// shows a small result page. Same URL rules as redirectURI.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && size(url(self).getHostname()) > 0",message="returnURL must be an absolute http(s) URL"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() == 'https' || url(self).getHostname() in ['localhost', '127.0.0.1', '::1']",message="returnURL must use https; plain http is only allowed for localhost, 127.0.0.1 or [::1]"
	ReturnURL string `json:"returnURL,omitempty"`

	// state is the application's own value, handed back unchanged on returnURL. It is not what is
	// sent to finX: the operator sends its own unguessable state and checks it on the callback.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	State string `json:"state,omitempty"`

	// trackingID is passed to finX as tracking_id.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	TrackingID string `json:"trackingID,omitempty"`

	// language of the finX widget.
	// +optional
	// +kubebuilder:validation:Enum=de;en;es;fr;ar
	Language string `json:"language,omitempty"`

	// providerID preselects a bank (finX provider id) in the widget.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ProviderID string `json:"providerID,omitempty"`

	// accounts preselects accounts by IBAN or another identifier; one IBAN selects its bank.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	Accounts []AccountSelector `json:"accounts,omitempty"`

	// accountTypes limits the account types the user may connect, for example "Giro account",
	// "Savings account", "Credit card", "Depot".
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=set
	AccountTypes []string `json:"accountTypes,omitempty"`

	// allowMultiSelection lets the user pick several accounts (finX default: true). Ignored by finX
	// when accounts is set.
	// +optional
	AllowMultiSelection *bool `json:"allowMultiSelection,omitempty"`

	// syncPeriod is how many days of history finX fetches (finX default 90); finX lowers it silently
	// to the bank's maximum.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3650
	SyncPeriod *int32 `json:"syncPeriod,omitempty"`

	// saveSecrets asks finX to keep the confidential parts of the bank credentials for later syncs.
	// +optional
	SaveSecrets *bool `json:"saveSecrets,omitempty"`

	// refreshTokenSecretName is the operator-private Secret that holds the refresh token and the
	// operator's bookkeeping. Defaults to "<name>-finx-refresh". Cannot be changed once set. Grant
	// workloads no access to it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	RefreshTokenSecretName string `json:"refreshTokenSecretName,omitempty"`

	// accessToken configures the Secret that workloads mount to call finX.
	// +optional
	// +kubebuilder:default={}
	AccessToken AccessTokenSpec `json:"accessToken,omitempty"`

	// refreshBefore is how long before the refresh token expires it is refreshed. Defaults to one
	// third of the refresh token's lifetime. The access token, when maintained, is refreshed earlier
	// still, at about two thirds of its own lifetime.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="refreshBefore must be positive"
	RefreshBefore *metav1.Duration `json:"refreshBefore,omitempty"`

	// linkLifetime is how long an unused widget link stays in status before the operator issues a
	// new one.
	// +optional
	// +kubebuilder:default="1h0m0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="linkLifetime must be at least 1m"
	LinkLifetime *metav1.Duration `json:"linkLifetime,omitempty"`

	// Defaults below are written as Go prints a Duration ("336h0m0s", not "336h"): a typed client's
	// read-modify-write then leaves the spec, and so the generation, unchanged.

	// consentRenewalBefore is how long before the bank consent expires the operator issues a
	// re-consent link (status.consentLink) and sets ConsentRenewalDue. It is capped at half the
	// client's consentLifetime, so a fresh consent is never due at once.
	// +optional
	// +kubebuilder:default="336h0m0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="consentRenewalBefore must be positive"
	ConsentRenewalBefore *metav1.Duration `json:"consentRenewalBefore,omitempty"`

	// accountsReadInterval is how often the operator reads the accounts and their sync results
	// from finX (GET /rest/accounts) with the access token it holds. At least 6h: the data only
	// changes when finX syncs with the bank, a few times a day.
	// +optional
	// +kubebuilder:default="6h0m0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('6h')",message="accountsReadInterval must be at least 6h: finX's data changes only a few times a day"
	AccountsReadInterval *metav1.Duration `json:"accountsReadInterval,omitempty"`

	// syncStaleAfter is how old the last successful bank sync of an account may be before Synced
	// turns False (reason SyncStale).
	// +optional
	// +kubebuilder:default="26h0m0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="syncStaleAfter must be at least 1h"
	SyncStaleAfter *metav1.Duration `json:"syncStaleAfter,omitempty"`

	// suspend stops every finX call for this connection while true. Tokens are kept; a refresh token
	// that expires while suspended needs a new authorisation.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// secretsDeletionPolicy says what deleting this connection does to its token Secrets: Delete
	// (default) removes them; Retain keeps the operator-private Secret with the refresh chain, so a
	// BankConnection re-created with the same name, namespace, userID and client carries on without
	// a new authorisation. The access-token Secret is always deleted. Retained refresh tokens stay
	// valid at finX until they expire: see docs/security.md.
	// +optional
	// +kubebuilder:default=Delete
	SecretsDeletionPolicy DeletionPolicy `json:"secretsDeletionPolicy,omitempty"`
}

// Phase is a one-word summary of where a BankConnection is in its lifecycle.
// +kubebuilder:validation:Enum=Pending;AwaitingAuthorization;Connected;ReauthorizationRequired;Cancelled;Failed
type Phase string

const (
	// PhasePending: nothing has been done yet, or the client is not usable.
	PhasePending Phase = "Pending"
	// PhaseAwaitingAuthorization: a widget link is in status and waits for the user.
	PhaseAwaitingAuthorization Phase = "AwaitingAuthorization"
	// PhaseConnected: the operator holds a live refresh token.
	PhaseConnected Phase = "Connected"
	// PhaseReauthorizationRequired: the refresh chain is dead; the user must go through the new link.
	PhaseReauthorizationRequired Phase = "ReauthorizationRequired"
	// PhaseCancelled: the user cancelled the widget; a new link is in status.
	PhaseCancelled Phase = "Cancelled"
	// PhaseFailed: the connection cannot progress without a change by a person (see conditions).
	PhaseFailed Phase = "Failed"
)

// LinkStatus is the widget link the end user opens to authorise access.
type LinkStatus struct {
	// url of the finX widget. Send the end user there.
	URL string `json:"url"`
	// flowID is finX's id of the widget flow, returned on the callback as flow_id.
	// +optional
	FlowID string `json:"flowID,omitempty"`
	// issuedAt is when the link was created.
	IssuedAt metav1.Time `json:"issuedAt"`
	// expiresAt is when the operator replaces the link if it has not been used.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// stateHash is the SHA-256 of the state the operator sent with this link, so the callback can
	// find the connection without the state itself being stored anywhere.
	// +optional
	StateHash string `json:"stateHash,omitempty"`
	// forGeneration is the spec generation the link was issued for.
	// +optional
	ForGeneration int64 `json:"forGeneration,omitempty"`
	// settingsHash is a hash of the flow settings sent to finX with this link (redirectURI,
	// language, accounts, …); a change to them before authorisation issues a new link, while other
	// spec changes (suspend, refreshBefore, …) leave a link the user may be using alone.
	// +optional
	SettingsHash string `json:"settingsHash,omitempty"`
}

// RefreshTokenStatus describes the refresh token held in the operator-private Secret.
type RefreshTokenStatus struct {
	// secretName of the operator-private Secret.
	SecretName string `json:"secretName"`
	// issuedAt is when the current refresh token was received.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// expiresAt is when the current refresh token stops working.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// nextRefreshAt is when the operator next calls finX to refresh (for the access token when it
	// is maintained, and always before refreshBefore ahead of expiresAt).
	// +optional
	NextRefreshAt *metav1.Time `json:"nextRefreshAt,omitempty"`
	// rotations counts refresh-token rotations since the last authorisation.
	// +optional
	Rotations int64 `json:"rotations,omitempty"`
}

// AccessTokenStatus describes the access token in the workload-facing Secret.
type AccessTokenStatus struct {
	// secretName of the access-token Secret.
	SecretName string `json:"secretName"`
	// issuedAt is when the access token in the Secret was received.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// expiresAt is when the access token in the Secret stops working.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// Operation names what the operator was doing when it failed.
// +kubebuilder:validation:Enum=IssueLink;ExchangeCode;Refresh;StoreTokens
type Operation string

const (
	OperationIssueLink    Operation = "IssueLink"
	OperationExchangeCode Operation = "ExchangeCode"
	OperationRefresh      Operation = "Refresh"
	OperationStoreTokens  Operation = "StoreTokens"
)

// LastError is the most recent failure, kept until the next success.
type LastError struct {
	// operation that failed; each operation backs off on its own, so a failing link request
	// never delays a refresh.
	// +optional
	Operation Operation `json:"operation,omitempty"`
	// reason is a CamelCase cause, the same as the related condition reason.
	Reason string `json:"reason"`
	// message explains the failure; it never contains token material.
	Message string `json:"message"`
	// time the failure happened.
	Time metav1.Time `json:"time"`
	// nextAttemptAt is when the operator tries again (after backoff, honouring finX's Retry-After).
	// +optional
	NextAttemptAt *metav1.Time `json:"nextAttemptAt,omitempty"`
}

// ConsentRenewalResult is how the latest re-consent attempt ended.
// +kubebuilder:validation:Enum=Renewed;Cancelled;Failed;LinkRequestFailed
type ConsentRenewalResult string

const (
	// ConsentRenewed: the user completed the re-consent flow.
	ConsentRenewed ConsentRenewalResult = "Renewed"
	// ConsentRenewalCancelled: the user cancelled the re-consent flow; the old consent and the live
	// chain are kept.
	ConsentRenewalCancelled ConsentRenewalResult = "Cancelled"
	// ConsentRenewalFailed: the re-consent flow failed, or its code could not be exchanged; the old
	// consent and the live chain are kept.
	ConsentRenewalFailed ConsentRenewalResult = "Failed"
	// ConsentLinkRequestFailed: finX did not create the re-consent link; it is retried at retryAt.
	ConsentLinkRequestFailed ConsentRenewalResult = "LinkRequestFailed"
)

// ConsentRenewalStatus is the outcome of the latest re-consent attempt.
type ConsentRenewalStatus struct {
	// result of the attempt.
	Result ConsentRenewalResult `json:"result"`
	// time the result was recorded.
	Time metav1.Time `json:"time"`
	// message explains the result; it never contains token material.
	// +optional
	Message string `json:"message,omitempty"`
	// retryAt is when a failed link request is tried again.
	// +optional
	RetryAt *metav1.Time `json:"retryAt,omitempty"`
}

// ConsentStatus dates the bank consent the end user gave, which finX needs renewed (about every
// 180 days) independently of the refresh token.
type ConsentStatus struct {
	// givenAt is when the user last gave consent: the authorisation, or a completed re-consent.
	GivenAt metav1.Time `json:"givenAt"`
	// expiresAt is givenAt plus the client's consentLifetime.
	ExpiresAt metav1.Time `json:"expiresAt"`
	// renewalDueAt is when the operator issues a re-consent link (expiresAt minus
	// spec.consentRenewalBefore).
	RenewalDueAt metav1.Time `json:"renewalDueAt"`
	// lastRenewal is the outcome of the latest re-consent attempt, if any.
	// +optional
	LastRenewal *ConsentRenewalStatus `json:"lastRenewal,omitempty"`
}

// BankAccountStatus is one account finX syncs for the connection. It carries nothing that
// identifies the owner or the money: no full IBAN, no owner name, no balance.
type BankAccountStatus struct {
	// id is finX's account_id.
	ID string `json:"id"`
	// displayName is the account's name at finX (for example "Girokonto").
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// bankName is the name of the bank.
	// +optional
	BankName string `json:"bankName,omitempty"`
	// type is finX's account type, for example "Giro account".
	// +optional
	Type string `json:"type,omitempty"`
	// iban is the IBAN masked to its last 4 characters.
	// +optional
	IBAN string `json:"iban,omitempty"`
	// syncedAt is when finX last tried to sync the account with the bank.
	// +optional
	SyncedAt *metav1.Time `json:"syncedAt,omitempty"`
	// succeededAt is when finX last synced the account successfully.
	// +optional
	SucceededAt *metav1.Time `json:"succeededAt,omitempty"`
	// syncMessage is finX's message about the last sync (set when it failed).
	// +optional
	SyncMessage string `json:"syncMessage,omitempty"`
}

// AccountsReadError is a failed read of the accounts.
type AccountsReadError struct {
	// reason is a CamelCase cause.
	Reason string `json:"reason"`
	// message explains the failure; it never contains token material.
	Message string `json:"message"`
	// time the read failed.
	Time metav1.Time `json:"time"`
}

// AccountsStatus is what the operator last read from finX about the connection's accounts.
type AccountsStatus struct {
	// count is the number of accounts.
	Count int32 `json:"count"`
	// readAt is when the accounts were last read successfully.
	// +optional
	ReadAt *metav1.Time `json:"readAt,omitempty"`
	// nextReadAt is when the operator reads them next.
	// +optional
	NextReadAt *metav1.Time `json:"nextReadAt,omitempty"`
	// items are the accounts, by finX account id: at most the first 100 (count has them all).
	// +optional
	// +listType=map
	// +listMapKey=id
	Items []BankAccountStatus `json:"items,omitempty"`
	// lastReadError is the latest failed read, cleared by a successful one.
	// +optional
	LastReadError *AccountsReadError `json:"lastReadError,omitempty"`
}

// BankConnectionStatus is what the operator observed and did.
type BankConnectionStatus struct {
	// phase summarises the lifecycle position.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// conditions: Ready, LinkIssued, Authorized, TokensValid, ReauthorizationRequired, Synced,
	// ConsentRenewalDue, ConsentExpired, and the kstatus conditions Reconciling and Stalled (present
	// only while True).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation this status was computed for; -1 until the operator
	// first writes status, so kstatus and GitOps tools read a new connection as in progress.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// link is the widget link waiting for the user, if any.
	// +optional
	Link *LinkStatus `json:"link,omitempty"`

	// consentLink is the re-consent link (finX /ongoing/sync) waiting for the user, if any. It has
	// a slot of its own so it never competes with the authorisation link in status.link.
	// +optional
	ConsentLink *LinkStatus `json:"consentLink,omitempty"`

	// consent dates the bank consent and its renewal.
	// +optional
	Consent *ConsentStatus `json:"consent,omitempty"`

	// accounts is what the operator last read from finX about the connection's accounts and their
	// bank syncs.
	// +optional
	Accounts *AccountsStatus `json:"accounts,omitempty"`

	// authorizedAt is when the user last completed the widget and the code was exchanged.
	// +optional
	AuthorizedAt *metav1.Time `json:"authorizedAt,omitempty"`

	// refreshToken describes the refresh token the operator holds.
	// +optional
	RefreshToken *RefreshTokenStatus `json:"refreshToken,omitempty"`

	// accessToken describes the access token in the workload-facing Secret.
	// +optional
	AccessToken *AccessTokenStatus `json:"accessToken,omitempty"`

	// lastError is the most recent failure, cleared on success.
	// +optional
	LastError *LastError `json:"lastError,omitempty"`

	// failedAttempts counts consecutive failed finX calls; reset on success.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`

	// lastHandledRefreshRequest is the last value of the banking.finx-operator.io/refresh annotation
	// acted on.
	// +optional
	LastHandledRefreshRequest string `json:"lastHandledRefreshRequest,omitempty"`

	// lastHandledRelinkRequest is the last value of the banking.finx-operator.io/relink annotation
	// acted on.
	// +optional
	LastHandledRelinkRequest string `json:"lastHandledRelinkRequest,omitempty"`

	// finxUserID is the user_id this connection uses at finX. It is fixed when the connection first
	// uses its client and kept for the connection's life, so a later change of the client's
	// userIDScope or of the derivation never moves a live chain to another finX user.
	// +optional
	FinXUserID string `json:"finxUserID,omitempty"`
}

// BankConnection is an end user's ongoing access to their bank data through finX. The operator
// issues a widget link, takes the authorisation code from the callback, keeps the refresh token in
// an operator-private Secret and a valid access token in a Secret workloads mount.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bankconn
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userID`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Accounts",type=integer,JSONPath=`.status.accounts.count`,priority=1
// +kubebuilder:printcolumn:name="Consent expires",type=date,JSONPath=`.status.consent.expiresAt`,priority=1
// +kubebuilder:printcolumn:name="Next refresh",type=date,JSONPath=`.status.refreshToken.nextRefreshAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="(has(self.spec.refreshTokenSecretName) ? self.spec.refreshTokenSecretName : self.metadata.name + '-finx-refresh') != (has(self.spec.accessToken) && has(self.spec.accessToken.secretName) ? self.spec.accessToken.secretName : self.metadata.name + '-finx-access')",message="spec.refreshTokenSecretName and spec.accessToken.secretName must name different Secrets: workloads must never be able to read the refresh token"
// +kubebuilder:validation:XValidation:rule="(has(oldSelf.spec.refreshTokenSecretName) ? oldSelf.spec.refreshTokenSecretName : oldSelf.metadata.name + '-finx-refresh') == (has(self.spec.refreshTokenSecretName) ? self.spec.refreshTokenSecretName : self.metadata.name + '-finx-refresh')",message="refreshTokenSecretName cannot be changed (including from its default, <name>-finx-refresh): the refresh token in the old Secret would be orphaned"
type BankConnection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BankConnectionSpec `json:"spec"`
	// status is what the operator observed and did. Its default makes a connection the operator has
	// not seen yet read as unobserved (kstatus InProgress) rather than Current: without
	// status.observedGeneration kstatus skips that check.
	// +kubebuilder:default={"observedGeneration":-1}
	Status BankConnectionStatus `json:"status,omitempty"`
}

// BankConnectionList is a list of BankConnections.
// +kubebuilder:object:root=true
type BankConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BankConnection `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BankConnection{}, &BankConnectionList{})
}
