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

package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// FinXAPI is the part of the finX client the reconciler uses.
type FinXAPI interface {
	CreateOngoingAccess(ctx context.Context, r finx.AccessRequest) (finx.Link, error)
	ExchangeCode(ctx context.Context, code string) (finx.Token, error)
	Refresh(ctx context.Context, refreshToken string) (finx.Token, error)
	CreateOngoingSync(ctx context.Context, r finx.SyncRequest) (finx.Link, error)
	ListAccounts(ctx context.Context, accessToken string) ([]finx.Account, error)
}

// resolvedClient is a usable finX client for one connection.
type resolvedClient struct {
	api FinXAPI
	// userID is the finX user_id: the one in status.finxUserID, or for a connection that has none
	// yet, derived as the client's userIDScope says (see connectionUserID).
	userID          string
	refreshLifetime time.Duration
	// consentLifetime is how long a bank consent given through this client lasts.
	consentLifetime time.Duration
	// userIDs are the finX user_ids this connection may legitimately have (current and legacy
	// derivation): a retained chain is continued under the one it was recorded with.
	userIDs []string
	// forgetCredentials makes the next use read the credentials Secret again.
	forgetCredentials func()
}

// ClientSource turns a connection's clientRef into a finX API client. Clients are cached per
// client object and credentials version, so connections sharing a client share its rate limit.
type ClientSource struct {
	// Reader reads FinXClients, ClusterFinXClients and Namespaces (the manager's cache).
	Reader client.Reader
	// Credentials reads credential Secrets, which are not in the cache (only the operator's own
	// are), once per check for all the connections of a client.
	Credentials *Credentials
	UserAgent   string
	Observe     func(endpoint string, status int, d time.Duration)
	HTTPClient  *http.Client
	// Allowlist holds the only base URLs a client may point at (--allowed-finx-base-urls). A client
	// with any other baseURL is refused before its credentials are read; nil allows none.
	Allowlist *finx.Allowlist

	mu      sync.Mutex
	clients map[string]cachedClient
}

type cachedClient struct {
	fingerprint string
	api         FinXAPI
}

// clientProblemError reports why a client cannot be used; it becomes the connection's Ready reason.
type clientProblemError struct{ problem }

func (e *clientProblemError) Error() string { return e.message }

func notUsable(reason, format string, args ...any) error {
	return &clientProblemError{problem{reason: reason, message: fmt.Sprintf(format, args...)}}
}

// Resolve returns the finX client for conn, or a *clientProblemError saying why it cannot be used.
func (s *ClientSource) Resolve(ctx context.Context, conn *v1.BankConnection) (*resolvedClient, error) {
	ref := conn.Spec.ClientRef
	var (
		spec   v1.FinXClientSpec
		obj    client.Object
		secret types.NamespacedName
	)
	switch ref.Kind {
	case v1.ClientKindClusterFinXClient:
		cc := &v1.ClusterFinXClient{}
		if err := s.Reader.Get(ctx, types.NamespacedName{Name: ref.Name}, cc); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, notUsable(v1.ReasonClientNotFound, "ClusterFinXClient %q does not exist.", ref.Name)
			}
			return nil, err
		}
		if err := s.checkNamespaceAllowed(ctx, cc, conn.Namespace); err != nil {
			return nil, err
		}
		spec, obj = cc.Spec.FinXClientSpec, cc
		secret = types.NamespacedName{Namespace: cc.Spec.CredentialsSecretRef.Namespace, Name: cc.Spec.CredentialsSecretRef.Name}
	default:
		fc := &v1.FinXClient{}
		if err := s.Reader.Get(ctx, types.NamespacedName{Namespace: conn.Namespace, Name: ref.Name}, fc); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, notUsable(v1.ReasonClientNotFound, "FinXClient %q does not exist in namespace %s.", ref.Name, conn.Namespace)
			}
			return nil, err
		}
		spec, obj = fc.Spec, fc
		secret = types.NamespacedName{Namespace: fc.Namespace, Name: fc.Spec.CredentialsSecretRef.Name}
	}
	if !s.Allowlist.Allows(spec.BaseURL) {
		return nil, notUsable(v1.ReasonBaseURLNotAllowed, "%s %q cannot be used: %s", ref.Kind, ref.Name, baseURLNotAllowed(s.Allowlist, spec.BaseURL))
	}
	userID, err := s.connectionUserID(ctx, conn, spec.UserIDScope)
	if err != nil {
		return nil, err
	}
	id, sec, rv, err := s.Credentials.Get(ctx, secret, spec.CredentialsSecretRef)
	var cp *clientProblemError
	if errors.As(err, &cp) {
		return nil, notUsable(v1.ReasonClientNotReady, "%s %q is not ready: %s", ref.Kind, ref.Name, cp.message)
	}
	if err != nil {
		return nil, err
	}
	api, err := s.clientFor(obj, spec, id, sec, rv)
	if err != nil {
		return nil, notUsable(v1.ReasonClientNotReady, "%s %q cannot be used: %v", ref.Kind, ref.Name, err)
	}
	return &resolvedClient{api: api, userID: userID,
		refreshLifetime:   durationOr(spec.RefreshTokenLifetime, 90*24*time.Hour),
		consentLifetime:   durationOr(spec.ConsentLifetime, defaultConsentLifetime),
		userIDs:           []string{userID, legacyUserID(conn, spec.UserIDScope)},
		forgetCredentials: func() { s.Credentials.Forget(secret, spec.CredentialsSecretRef) }}, nil
}

// baseURLNotAllowed explains a refused base URL. The URL is chosen by whoever may edit the client,
// the allowlist by whoever runs the operator; a refused URL is never called, so no answer of its
// can reach status.
func baseURLNotAllowed(allow *finx.Allowlist, baseURL string) string {
	return fmt.Sprintf("its baseURL %s is not on the operator's allowlist (--allowed-finx-base-urls: %s); the operator sends nothing there.", baseURL, allow)
}

// connectionUserID returns the finX user_id of conn. Once recorded in status.finxUserID it never
// changes. A connection without one that has already started (a link or a chain, from before
// status.finxUserID existed) keeps the user_id the old derivation gave it, so an upgrade moves no
// live chain or pending link to another finX user. Only connections that start afresh use the
// current derivation.
func (s *ClientSource) connectionUserID(ctx context.Context, conn *v1.BankConnection, scope v1.UserIDScope) (string, error) {
	if conn.Status.FinXUserID != "" {
		return conn.Status.FinXUserID, nil
	}
	if conn.Status.Link != nil || conn.Status.RefreshToken != nil || conn.Status.AuthorizedAt != nil {
		return legacyUserID(conn, scope), nil
	}
	if scope == v1.UserIDScopeCluster {
		return conn.Spec.UserID, nil
	}
	ns := &corev1.Namespace{}
	if err := s.Reader.Get(ctx, types.NamespacedName{Name: conn.Namespace}, ns); err != nil {
		return "", err
	}
	return namespacedUserID(ns.UID, conn.Spec.UserID), nil
}

// namespacedUserID keeps tenants apart for good: a namespace UID is never reused (a re-created
// namespace of the same name gets a new one) and contains no "/", so no userID in one namespace,
// now or later, produces another namespace's finX user.
func namespacedUserID(namespaceUID types.UID, userID string) string {
	return string(namespaceUID) + "/" + userID
}

// legacyUserID is the derivation of releases before status.finxUserID: the namespace name as prefix
// for a ClusterFinXClient with userIDScope Namespace, userID unchanged otherwise. Used only for
// connections that started under it.
func legacyUserID(conn *v1.BankConnection, scope v1.UserIDScope) string {
	if conn.Spec.ClientRef.Kind == v1.ClientKindClusterFinXClient && scope != v1.UserIDScopeCluster {
		return conn.Namespace + "/" + conn.Spec.UserID
	}
	return conn.Spec.UserID
}

func (s *ClientSource) checkNamespaceAllowed(ctx context.Context, cc *v1.ClusterFinXClient, namespace string) error {
	sel := cc.Spec.NamespaceSelector
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return notUsable(v1.ReasonClientNotAllowed, "ClusterFinXClient %q has no namespaceSelector, so no namespace may use it.", cc.Name)
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return notUsable(v1.ReasonClientNotAllowed, "ClusterFinXClient %q has an invalid namespaceSelector: %v", cc.Name, err)
	}
	ns := &corev1.Namespace{}
	if err := s.Reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return err
	}
	if !selector.Matches(labels.Set(ns.Labels)) {
		return notUsable(v1.ReasonClientNotAllowed, "ClusterFinXClient %q does not allow namespace %s (its namespaceSelector does not match).", cc.Name, namespace)
	}
	return nil
}

// readCredentials returns the client id and secret from the credentials Secret. Only a Secret made
// for the purpose is used: its type says so, and it is none of the operator's own token Secrets. So
// no field of a client can make the operator send a refresh token, a code or an unrelated Secret of
// the namespace to finX (or anywhere) as credentials.
func readCredentials(ctx context.Context, r client.Reader, key types.NamespacedName, ref v1.CredentialsSecretReference) (string, string, string, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", "", notUsable(v1.ReasonCredentialsMissing, "The credentials Secret %s does not exist.", key)
		}
		if apierrors.IsForbidden(err) {
			// A namespace-scoped install reads Secrets only where its role is bound.
			return "", "", "", notUsable(v1.ReasonCredentialsForbidden,
				"The operator may not read the credentials Secret %s: bind its role in namespace %s (config/namespaced).", key, key.Namespace)
		}
		return "", "", "", err
	}
	if isTokenSecret(s) {
		return "", "", "", notUsable(v1.ReasonCredentialsWrongType, "The Secret %s holds a connection's tokens; it is never used as client credentials.", key)
	}
	if string(s.Type) != v1.SecretTypeClientCredentials {
		return "", "", "", notUsable(v1.ReasonCredentialsWrongType,
			"The Secret %s is of type %q; credentials Secrets must be of type %s.", key, s.Type, v1.SecretTypeClientCredentials)
	}
	idKey, secKey := ref.ClientIDKey, ref.ClientSecretKey
	if idKey == "" {
		idKey = "client_id"
	}
	if secKey == "" {
		secKey = "client_secret"
	}
	id, sec := string(s.Data[idKey]), string(s.Data[secKey])
	if id == "" || sec == "" {
		return "", "", "", notUsable(v1.ReasonCredentialsIncomplete, "The credentials Secret %s lacks key %q or %q.", key, idKey, secKey)
	}
	return id, sec, s.ResourceVersion, nil
}

// isTokenSecret recognises the operator's own Secrets by every mark they carry, so that none of
// them is ever used as credentials even if one of the marks were missing.
func isTokenSecret(s *corev1.Secret) bool {
	if s.Type == tokenstore.TypeRefreshToken || s.Type == tokenstore.TypeAccessToken || s.Labels[tokenstore.LabelManagedBy] == tokenstore.ManagedByValue {
		return true
	}
	for _, o := range s.OwnerReferences {
		if o.Kind == "BankConnection" && strings.HasPrefix(o.APIVersion, v1.GroupVersion.Group+"/") {
			return true
		}
	}
	return false
}

func (s *ClientSource) clientFor(obj client.Object, spec v1.FinXClientSpec, id, secret, secretRV string) (FinXAPI, error) {
	key := fmt.Sprintf("%T/%s/%s", obj, obj.GetNamespace(), obj.GetName())
	fp := fmt.Sprintf("%s/%d/%s", obj.GetUID(), obj.GetGeneration(), secretRV)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[key]; ok && c.fingerprint == fp {
		return c.api, nil
	}
	cfg := finx.Config{
		BaseURL: spec.BaseURL, ClientID: id, ClientSecret: secret,
		UserAgent: s.UserAgent, Observe: s.Observe, HTTPClient: s.HTTPClient,
		Allowlist: s.Allowlist,
	}
	if spec.Timeout != nil {
		cfg.Timeout = spec.Timeout.Duration
	}
	if spec.RequestsPerSecond != nil {
		cfg.RequestsPerSecond = float64(*spec.RequestsPerSecond)
	}
	if spec.Burst != nil {
		cfg.Burst = int(*spec.Burst)
	}
	api, err := finx.New(cfg)
	if err != nil {
		return nil, err
	}
	if s.clients == nil {
		s.clients = map[string]cachedClient{}
	}
	s.clients[key] = cachedClient{fingerprint: fp, api: api}
	return api, nil
}
