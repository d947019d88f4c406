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
// Each verb is one the code uses (grep the client calls before adding one); nothing more.
// Secrets: the operator reads finX client credentials (get, uncached) and its own token Secrets
// (list/watch for the cache of Secrets labelled as its own), creates and updates only the token
// Secrets it controls (the callback endpoint, which runs in the manager, updates the private one),
// and deletes only an access-token Secret of its own that the spec no longer asks for. It never
// patches a Secret.
// Status: written with merge patches only. Owner references on the token Secrets do not block
// the owner's deletion, so no update on bankconnections/finalizers is needed (the
// OwnerReferencesPermissionEnforcement admission plugin would otherwise require it).
// Namespaces: read for a ClusterFinXClient's namespaceSelector and for the namespace UID in the
// finX user_id.
// With --watch-namespaces, config/namespaced binds this ClusterRole per namespace (RoleBindings),
// and grants the cluster-scoped reads below in a small ClusterRole of its own.
//
// +kubebuilder:rbac:groups=banking.finx-operator.io,resources=bankconnections;finxclients;clusterfinxclients,verbs=get;list;watch
// +kubebuilder:rbac:groups=banking.finx-operator.io,resources=bankconnections/status;finxclients/status;clusterfinxclients/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
