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
