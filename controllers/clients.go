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
)

// FinXAPI is the part of the finX client the reconciler uses.
type FinXAPI interface {
	CreateOngoingAccess(ctx context.Context, r finx.AccessRequest) (finx.Link, error)
	ExchangeCode(ctx context.Context, code string) (finx.Token, error)
	Refresh(ctx context.Context, refreshToken string) (finx.Token, error)
}

// resolvedClient is a usable finX client for one connection.
type resolvedClient struct {
	api             FinXAPI
	userID          string // the finX user_id, derived as the client's userIDScope says
	refreshLifetime time.Duration
}

// ClientSource turns a connection's clientRef into a finX API client. Clients are cached per
// client object and credentials version, so connections sharing a client share its rate limit.
type ClientSource struct {
	// Reader reads FinXClients, ClusterFinXClients and Namespaces (the manager's cache).
	Reader client.Reader
	// APIReader reads credential Secrets, which are not in the cache (only the operator's own are).
	APIReader  client.Reader
	UserAgent  string
	Observe    func(endpoint string, status int, d time.Duration)
	HTTPClient *http.Client

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
		userID = conn.Spec.UserID
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
		if cc.Spec.UserIDScope != v1.UserIDScopeCluster {
			userID = scopedUserID(conn.Namespace, conn.Spec.UserID)
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
	id, sec, rv, err := readCredentials(ctx, s.APIReader, secret, spec.CredentialsSecretRef)
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
	lifetime := 90 * 24 * time.Hour
	if spec.RefreshTokenLifetime != nil && spec.RefreshTokenLifetime.Duration > 0 {
		lifetime = spec.RefreshTokenLifetime.Duration
	}
	return &resolvedClient{api: api, userID: userID, refreshLifetime: lifetime}, nil
}

// scopedUserID keeps tenants sharing a ClusterFinXClient apart: namespace names cannot contain "/",
// so no userID in one namespace can produce another namespace's finX user.
func scopedUserID(namespace, userID string) string { return namespace + "/" + userID }

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

// readCredentials returns the client id and secret from the credentials Secret.
func readCredentials(ctx context.Context, r client.Reader, key types.NamespacedName, ref v1.CredentialsSecretReference) (string, string, string, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", "", notUsable(v1.ReasonCredentialsMissing, "The credentials Secret %s does not exist.", key)
		}
		return "", "", "", err
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
