// Package controllers holds the reconcilers of BankConnection, FinXClient and ClusterFinXClient.
package controllers

// Permissions of the manager, gathered here so the generated ClusterRole is reviewed in one place.
// Secrets: the operator reads finX client credentials and writes only the token Secrets it owns;
// the callback endpoint (which runs in the manager) updates the operator-private Secret; delete is
// used only for an access-token Secret of its own that the spec no longer asks for.
// Namespaces: read to evaluate a ClusterFinXClient's namespaceSelector.
//
// +kubebuilder:rbac:groups=banking.finx-operator.io,resources=bankconnections;finxclients;clusterfinxclients,verbs=get;list;watch
// +kubebuilder:rbac:groups=banking.finx-operator.io,resources=bankconnections/status;finxclients/status;clusterfinxclients/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=banking.finx-operator.io,resources=bankconnections/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
