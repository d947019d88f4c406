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

// FinXClientSpec is the finX API endpoint and client credentials that BankConnections use.
// +kubebuilder:validation:XValidation:rule="!has(self.refreshTokenLifetime) || duration(self.refreshTokenLifetime) >= duration('1m')",message="refreshTokenLifetime must be at least 1m"
type FinXClientSpec struct {
	// baseURL is the finX API host, for example https://api.finx-s.qwist.cloud for finX's own sandbox.
	// It must be an absolute https URL; plain http is accepted only for localhost, 127.0.0.1 or [::1]
	// (the project's local sandbox). The operator calls it only if it is on the operator's allowlist
	// (--allowed-finx-base-urls); otherwise the client is Ready=False with reason BaseURLNotAllowed.
	// It is immutable: the tokens of connections using the client belong to that host, so moving them
	// elsewhere takes a new client (and new authorisations).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && size(url(self).getHostname()) > 0",message="baseURL must be an absolute http(s) URL"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() == 'https' || url(self).getHostname() in ['localhost', '127.0.0.1', '::1']",message="baseURL must use https; plain http is only allowed for localhost, 127.0.0.1 or [::1]"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="baseURL is immutable: the refresh tokens of the connections using this client belong to that host; create a new client instead"
	BaseURL string `json:"baseURL"`

	// credentialsSecretRef names the Secret holding the finX client id and client secret. The Secret
	// must be of type banking.finx-operator.io/client-credentials: the operator sends no other Secret
	// to finX, so a client cannot be pointed at a token Secret or any other Secret of the namespace.
	// +required
	CredentialsSecretRef CredentialsSecretReference `json:"credentialsSecretRef"`

	// refreshTokenLifetime is how long a refresh token issued by this finX client lives.
	// finX documents at most 90 days; the operator schedules refreshes from it.
	// +optional
	// +kubebuilder:default="2160h0m0s"
	RefreshTokenLifetime *metav1.Duration `json:"refreshTokenLifetime,omitempty"`

	// Defaults below are written as Go prints a Duration ("4320h0m0s", not "4320h"): a typed client's
	// read-modify-write then leaves the spec, and so the generation, unchanged.

	// consentLifetime is how long the bank consent an end user gives through the widget lasts
	// (finX: "usually" 180 days). The operator dates each connection's consent from it and asks the
	// user to renew it ahead of expiry (BankConnection spec.consentRenewalBefore).
	// +optional
	// +kubebuilder:default="4320h0m0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="consentLifetime must be at least 1h"
	ConsentLifetime *metav1.Duration `json:"consentLifetime,omitempty"`

	// requestsPerSecond limits the rate of requests the operator sends to finX with this client.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	RequestsPerSecond *int32 `json:"requestsPerSecond,omitempty"`

	// burst is the number of requests that may exceed requestsPerSecond for a short time.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Burst *int32 `json:"burst,omitempty"`

	// timeout bounds each request to finX.
	// +optional
	// +kubebuilder:default="30s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// userIDScope says how the finX user_id is derived from a BankConnection's userID. Namespace (the
	// default) sends "<namespace UID>/<userID>": a namespace UID is never reused, so neither another
	// tenant nor a later tenant under a reused namespace name can reach the same finX user. Cluster
	// sends userID as it is; use it only when tenants share one user space on purpose. A connection
	// keeps the user_id it started with (status.finxUserID) whatever this field says later.
	// +optional
	// +kubebuilder:default=Namespace
	UserIDScope UserIDScope `json:"userIDScope,omitempty"`
}

// CredentialsSecretReference points at the Secret with the finX client credentials.
type CredentialsSecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace of the Secret. Required on ClusterFinXClient; must not be set on FinXClient, whose
	// Secret is always read from its own namespace (a tenant cannot point at another tenant's Secret).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// clientIDKey is the key in the Secret that holds the client id.
	// +optional
	// +kubebuilder:default="client_id"
	// +kubebuilder:validation:MinLength=1
	ClientIDKey string `json:"clientIDKey,omitempty"`

	// clientSecretKey is the key in the Secret that holds the client secret.
	// +optional
	// +kubebuilder:default="client_secret"
	// +kubebuilder:validation:MinLength=1
	ClientSecretKey string `json:"clientSecretKey,omitempty"`
}

// FinXClientStatus reports whether the client can be used.
type FinXClientStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the base URL is allowed and the credentials Secret exists, is of
	// type banking.finx-operator.io/client-credentials and holds both keys.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// FinXClient holds finX API credentials that BankConnections in the same namespace use.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=finxclient
// +kubebuilder:printcolumn:name="Base URL",type=string,JSONPath=`.spec.baseURL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.credentialsSecretRef.__namespace__)",message="spec.credentialsSecretRef.namespace must not be set on a FinXClient: its Secret is always read from the FinXClient's own namespace"
type FinXClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   FinXClientSpec   `json:"spec"`
	Status FinXClientStatus `json:"status,omitempty"`
}

// FinXClientList is a list of FinXClients.
// +kubebuilder:object:root=true
type FinXClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FinXClient `json:"items"`
}

// UserIDScope says how the finX user_id is derived from a BankConnection's userID.
// +kubebuilder:validation:Enum=Namespace;Cluster
type UserIDScope string

// SecretTypeClientCredentials is the type a credentials Secret must have. A Secret's type cannot be
// changed after creation, so no existing Secret (a token Secret above all) can be turned into one.
const SecretTypeClientCredentials = "banking.finx-operator.io/client-credentials"

const (
	// UserIDScopeNamespace prefixes the user id with the connection's namespace UID, so that tenants
	// sharing one finX client, or a later tenant reusing a namespace name, never reach each other's
	// finX users.
	UserIDScopeNamespace UserIDScope = "Namespace"
	// UserIDScopeCluster sends userID unchanged: tenants share one user id space.
	UserIDScopeCluster UserIDScope = "Cluster"
)

// ClusterFinXClientSpec is a FinXClientSpec that BankConnections of selected namespaces may use.
type ClusterFinXClientSpec struct {
	FinXClientSpec `json:",inline"`

	// namespaceSelector selects the namespaces whose BankConnections may use this client.
	// An empty or absent selector selects no namespace; use {matchExpressions: []} style rules or
	// a label every namespace carries (kubernetes.io/metadata.name) to open it wider.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// ClusterFinXClient holds finX API credentials that BankConnections of selected namespaces use.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cfinxclient
// +kubebuilder:printcolumn:name="Base URL",type=string,JSONPath=`.spec.baseURL`
// +kubebuilder:printcolumn:name="Scope",type=string,JSONPath=`.spec.userIDScope`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="has(self.spec.credentialsSecretRef.__namespace__) && size(self.spec.credentialsSecretRef.__namespace__) > 0",message="spec.credentialsSecretRef.namespace is required on a ClusterFinXClient"
type ClusterFinXClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   ClusterFinXClientSpec `json:"spec"`
	Status FinXClientStatus      `json:"status,omitempty"`
}

// ClusterFinXClientList is a list of ClusterFinXClients.
// +kubebuilder:object:root=true
type ClusterFinXClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterFinXClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FinXClient{}, &FinXClientList{}, &ClusterFinXClient{}, &ClusterFinXClientList{})
}
