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
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/callback"
	"github.com/finx-operator/finx-operator/internal/eventrec"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/intern"
	"github.com/finx-operator/finx-operator/internal/metrics"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
	"github.com/finx-operator/finx-operator/internal/version"
)

// Options configure the controllers and the callback endpoint.
type Options struct {
	// CallbackAddr is where the callback endpoint listens ("" disables it).
	CallbackAddr string
	// CallbackReady is closed once the callback endpoint listens (optional).
	CallbackReady chan struct{}
	// MaxConcurrentReconciles bounds parallel BankConnection reconciles.
	MaxConcurrentReconciles int
	// BackoffBase and BackoffMax shape retries after failed finX calls (defaults 2s and 5m).
	BackoffBase, BackoffMax time.Duration
	// HTTPClient overrides the transport toward finX (optional).
	HTTPClient *http.Client
	// Metrics receives the operator's metrics; nil registers them with controller-runtime's registry.
	Metrics *metrics.Recorder
	// SpendTimeout bounds one token spend (journal, finX call, commit); spend.DefaultTimeout if zero.
	// Keep the manager's graceful-shutdown timeout above it, and use one value on every replica.
	SpendTimeout time.Duration
	// InstanceID names this process's instance in the spend journal. It must be unique among live
	// processes and stay the same across restarts of one Pod (the Pod's UID): a restarted process
	// then recognises its own interrupted spend and replays it at once. Empty: a fresh identity per
	// process (safe, but a restart waits out its own interrupted spend).
	InstanceID string
	// Clock is the reconciler's clock (the real one if nil). Tests step a fake one.
	Clock clock.PassiveClock
	// AllowedFinXBaseURLs are the only finX base URLs a FinXClient or ClusterFinXClient may use
	// (--allowed-finx-base-urls). Nil means finx.DefaultAllowedBaseURLs; empty allows none.
	AllowedFinXBaseURLs []string
}

// CacheOptions limits the manager's Secret cache to the Secrets the operator manages, so memory does
// not grow with unrelated Secrets in the cluster, and keeps no token in it (tokenstore.ForCache):
// every Secret read that needs data goes to the API server. Other Secrets (client credentials) are
// read directly from the API server. With watchNamespaces, every namespaced object is cached from
// those namespaces only (--watch-namespaces): the operator then needs no cluster-wide access to them.
func CacheOptions(watchNamespaces []string) cache.Options {
	o := cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Label:     labels.SelectorFromSet(labels.Set{tokenstore.LabelManagedBy: tokenstore.ManagedByValue}),
				Transform: secretForCache,
			},
			&v1.BankConnection{}: {Transform: connectionForCache},
		},
		DefaultTransform: trimForCache,
	}
	if len(watchNamespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range watchNamespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}

// lastApplied is kubectl's copy of the whole applied object: nothing in the operator reads it.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trimForCache drops what the operator never reads of a cached object and what is often its largest
// part: managedFields (the private Secret's list every key ever written) and kubectl's last-applied
// copy of the object.
func trimForCache(in any) (any, error) {
	if o, ok := in.(client.Object); ok {
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a[lastApplied] != "" {
			delete(a, lastApplied)
			o.SetAnnotations(a)
		}
	}
	return in, nil
}

// secretForCache trims a Secret and reduces its data to what the watch predicates compare.
func secretForCache(in any) (any, error) {
	if s, ok := in.(*corev1.Secret); ok {
		return tokenstore.ForCache(s), nil
	}
	return trimForCache(in)
}

// connectionForCache trims a BankConnection and shares the strings that connections repeat: the
// reconciler reads connections from the cache and computes its status patch against them, so the
// cached object stays complete, with equal values; only their copies are shared.
func connectionForCache(in any) (any, error) {
	c, ok := in.(*v1.BankConnection)
	if !ok {
		return trimForCache(in)
	}
	if _, err := trimForCache(c); err != nil {
		return nil, err
	}
	c.APIVersion, c.Kind, c.Namespace = intern.String(c.APIVersion), intern.String(c.Kind), intern.String(c.Namespace)
	c.Labels, c.Annotations = intern.Keys(c.Labels), intern.Keys(c.Annotations)
	intern.Each(c.Finalizers)
	sp := &c.Spec
	sp.ClientRef.Kind = v1.ClientKind(intern.String(string(sp.ClientRef.Kind)))
	for _, p := range []*string{&sp.ClientRef.Name, &sp.RedirectURI, &sp.ReturnURL, &sp.Language, &sp.ProviderID} {
		*p = intern.String(*p)
	}
	st := &c.Status
	st.Phase = v1.Phase(intern.String(string(st.Phase)))
	for i := range st.Conditions {
		cd := &st.Conditions[i]
		cd.Type, cd.Reason, cd.Message = intern.String(cd.Type), intern.String(cd.Reason), intern.String(cd.Message)
		cd.Status = metav1.ConditionStatus(intern.String(string(cd.Status)))
	}
	if st.LastError != nil {
		st.LastError.Reason, st.LastError.Message = intern.String(st.LastError.Reason), intern.String(st.LastError.Message)
	}
	if a := st.Accounts; a != nil {
		for i := range a.Items {
			it := &a.Items[i]
			it.BankName, it.Type, it.DisplayName, it.SyncMessage = intern.String(it.BankName), intern.String(it.Type),
				intern.String(it.DisplayName), intern.String(it.SyncMessage)
		}
	}
	return c, nil
}

// Setup registers every controller and the callback endpoint with the manager.
func Setup(mgr ctrl.Manager, o Options) error {
	rec := o.Metrics
	if rec == nil {
		rec = metrics.New(ctrlmetrics.Registry)
	}
	allowed := o.AllowedFinXBaseURLs
	if allowed == nil {
		allowed = finx.DefaultAllowedBaseURLs
	}
	allow, err := finx.ParseAllowlist(allowed)
	if err != nil {
		return err
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	// One reading of each credentials Secret, shared by the client's check and its connections.
	creds := &Credentials{Reader: mgr.GetAPIReader(), Clock: clk}
	clients := &ClientSource{
		Allowlist:   allow,
		Reader:      mgr.GetClient(),
		Credentials: creds,
		UserAgent:   version.UserAgent(),
		Observe:     rec.ObserveRequest,
		HTTPClient:  o.HTTPClient,
	}
	// One recorder for every event the operator sends; it keeps no copy of an Event once written
	// (client-go's broadcaster keeps each for minutes: kilobytes per connection at scale).
	events := eventrec.New(eventrec.Options{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Controller: "finx-operator", Clock: clk,
		Log: mgr.GetLogger().WithName("events"), Dropped: rec.EventDropped,
	})
	if err := mgr.Add(events); err != nil {
		return err
	}
	bc := NewBankConnectionReconciler(mgr.GetClient(), mgr.GetAPIReader(), events, clients, rec)
	bc.MaxConcurrentReconciles = o.MaxConcurrentReconciles
	bc.Spends.Timeout = o.SpendTimeout
	bc.Spends.Identity = spend.NewIdentity(o.InstanceID)
	bc.Clock = clk
	bc.Spends.Clock = bc.Clock
	if o.BackoffBase > 0 && o.BackoffMax > 0 {
		bc.WithBackoff(o.BackoffBase, o.BackoffMax)
	}
	if err := bc.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the BankConnection controller: %w", err)
	}
	for _, cluster := range []bool{false, true} {
		r := &FinXClientReconciler{Client: mgr.GetClient(), Credentials: creds, Allowlist: allow, Cluster: cluster}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the client controller: %w", err)
		}
	}
	if o.CallbackAddr == "" {
		return nil
	}
	return mgr.Add(&callback.Server{
		Addr:  o.CallbackAddr,
		Ready: o.CallbackReady,
		Log:   mgr.GetLogger().WithName("callback"),
		Handoff: &CallbackHandoff{
			Cache: mgr.GetClient(), Informers: mgr.GetCache(), APIReader: mgr.GetAPIReader(), Clock: bc.Clock,
		},
	})
}
