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

// Command manager runs the finx-operator: the BankConnection, FinXClient and ClusterFinXClient
// controllers, and the callback endpoint that receives finX's redirect.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	bankingv1alpha1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/controllers"
	"github.com/finx-operator/finx-operator/internal/callback"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/logsafe"
	"github.com/finx-operator/finx-operator/internal/memlimit"
	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/version"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(bankingv1alpha1.AddToScheme(scheme))
}

// options are the manager's command-line settings, read once here and passed on.
type options struct {
	metricsAddr      string
	metricsSecure    bool
	metricsCertDir   string
	probeAddr        string
	leaderElect      bool
	leaderElectionNS string
	enableHTTP2      bool
	callbackAddr     string
	spendTimeout     time.Duration
	instanceID       string
	maxConcurrent    int
	apiCompression   bool
	pprofAddr        string
	showVersion      bool
	allowedBaseURLs  []string
	watchNamespaces  []string
	zap              zap.Options
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"Address the metrics endpoint binds to (:8443 for HTTPS, :8080 for HTTP, 0 to disable).")
	flag.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	flag.StringVar(&o.metricsCertDir, "metrics-cert-dir", "",
		"Directory with tls.crt and tls.key for the metrics endpoint (default: a self-signed certificate made at start, "+
			"which scrapers cannot verify).")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8083",
		"Address the health (/healthz) and readiness (/readyz) probes bind to.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false,
		"Elect a leader so that only one replica reconciles. Required with more than one replica.")
	flag.StringVar(&o.leaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader-election Lease (default: the namespace the manager runs in).")
	flag.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Allow HTTP/2 on the metrics server (off by default against HTTP/2 rapid-reset attacks).")
	flag.StringVar(&o.callbackAddr, "callback-bind-address", ":8082",
		"Address of the callback endpoint finX redirects users to (GET/POST /callback). Served by every replica.")
	flag.DurationVar(&o.spendTimeout, "spend-timeout", spend.DefaultTimeout,
		"Upper bound of one token spend (journal, finX call, storing the result). A spend is not cut short "+
			"by shutdown; the manager waits this long plus 15s. A spend journaled by another live process is waited out "+
			"for this long (plus a margin) after it is first seen. Use the same value on every replica.")
	flag.StringVar(&o.instanceID, "instance-id", os.Getenv("POD_UID"),
		"Identity of this instance in the spend journal (default: $POD_UID, set by the Deployment from the downward API). "+
			"It must be unique among running managers and stay the same across restarts of one Pod, so that a restarted "+
			"manager replays its own interrupted spend at once, inside finX's reuse grace.")
	// A worker mostly waits on kube-apiserver (two sequential requests per link, six per rotation):
	// with 8, a fleet applied at once waited seconds for its links behind a busy API server.
	flag.IntVar(&o.maxConcurrent, "max-concurrent-reconciles", 16,
		"How many BankConnections are reconciled in parallel (one object is never reconciled twice at once).")
	flag.BoolVar(&o.apiCompression, "kube-api-compression", false,
		"Ask kube-apiserver for gzip-compressed responses. Off by default, as for kube-controller-manager and kube-scheduler: "+
			"inside a cluster compressing costs kube-apiserver and the manager more CPU than it saves in network. "+
			"Turn it on when the manager reaches kube-apiserver over a slow link.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "0",
		"Address of Go's /debug/pprof endpoints (0 to disable, the default). Unauthenticated: bind it to loopback "+
			"and reach it with kubectl port-forward when sizing the manager's memory.")
	flag.BoolVar(&o.showVersion, "version", false, "Print the version and exit.")
	flag.Func("allowed-finx-base-urls",
		"Comma-separated finX base URLs that FinXClients and ClusterFinXClients may use (default "+
			strings.Join(finx.DefaultAllowedBaseURLs, ",")+", finX's documented sandbox; add your production host). "+
			"A client with any other baseURL is refused and nothing is sent to it. Matched exactly on scheme, host, port and path.",
		func(v string) error { o.allowedBaseURLs = splitList(v); return nil })
	flag.Func("watch-namespaces",
		"Comma-separated namespaces to manage; empty (the default) manages every namespace. With a list, the "+
			"manager caches and acts on those namespaces only, and needs Secret access in them only (config/namespaced).",
		func(v string) error { o.watchNamespaces = splitList(v); return nil })
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(flag.CommandLine)
	// klog's verbosity, for client-go's own logging. Whatever it and --zap-log-level say, nothing
	// above verbosity 7 is logged: client-go logs Secret bodies from 8 (internal/logsafe).
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	flag.CommandLine.Var(klogFlags.Lookup("v").Value, "v",
		"klog verbosity of client-go; values above 7 are treated as 7 (client-go would log Secret contents).")
	flag.Parse()
	if o.allowedBaseURLs == nil {
		o.allowedBaseURLs = finx.DefaultAllowedBaseURLs
	}
	return o
}

func splitList(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func main() {
	o := parseFlags()
	if o.showVersion {
		fmt.Println("finx-operator", version.Version)
		return
	}
	logger := logsafe.Wrap(zap.New(zap.UseFlagOptions(&o.zap)))
	ctrl.SetLogger(logger)
	// client-go logs through klog; contextual, so that its verbosity checks reach the capped logger.
	klog.SetLoggerWithOptions(logger, klog.ContextualLogger(true))
	log := ctrl.Log.WithName("setup")
	log.Info("starting finx-operator", "version", version.Version,
		"allowedFinXBaseURLs", o.allowedBaseURLs, "watchNamespaces", o.watchNamespaces,
		"goMemoryLimit", memlimit.Set())
	if _, err := finx.ParseAllowlist(o.allowedBaseURLs); err != nil {
		log.Error(err, "invalid --allowed-finx-base-urls")
		os.Exit(1)
	}

	cfg := logsafe.Harden(ctrl.GetConfigOrDie(), logger.WithName("api-warnings"))
	cfg.DisableCompression = !o.apiCompression
	mo := managerOptions(o)
	if o.leaderElect && o.instanceID != "" {
		lock, err := leaderLock(cfg, o.leaderElectionNS, o.instanceID)
		if err != nil {
			log.Error(err, "unable to set up leader election")
			os.Exit(1)
		}
		mo.LeaderElectionResourceLockInterface = lock
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		log.Error(err, "unable to create manager")
		os.Exit(1)
	}
	ctrlmetrics.Registry.MustRegister(callback.Collectors()...)
	callbackReady := make(chan struct{})
	if err := controllers.Setup(mgr, controllers.Options{
		CallbackAddr:            o.callbackAddr,
		CallbackReady:           callbackReady,
		MaxConcurrentReconciles: o.maxConcurrent,
		SpendTimeout:            o.spendTimeout,
		InstanceID:              o.instanceID,
		AllowedFinXBaseURLs:     o.allowedBaseURLs,
	}); err != nil {
		log.Error(err, "unable to set up controllers")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up ready check")
		os.Exit(1)
	}
	// A replica whose callback endpoint is not listening must get no traffic from the callback
	// Service: the user's browser would land on a refused connection.
	if o.callbackAddr != "" {
		if err := mgr.AddReadyzCheck("callback", listening(callbackReady)); err != nil {
			log.Error(err, "unable to set up the callback ready check")
			os.Exit(1)
		}
	}

	log.Info("starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager exited with an error")
		os.Exit(1)
	}
}

// listening is a readiness check that passes once ready is closed (the callback listener is bound).
// The listener never closes while the manager runs: if serving fails, the manager stops.
func listening(ready <-chan struct{}) healthz.Checker {
	return func(*http.Request) error {
		select {
		case <-ready:
			return nil
		default:
			return errors.New("the callback endpoint is not listening yet")
		}
	}
}

func managerOptions(o options) ctrl.Options {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metrics := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.metricsSecure,
		CertDir:       o.metricsCertDir,
		TLSOpts:       tlsOpts,
	}
	if o.metricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controllers.CacheOptions(o.watchNamespaces),
		Metrics:                 metrics,
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: o.leaderElectionNS,
		// Releasing the lease on a clean shutdown lets the other replica take over at once.
		LeaderElectionReleaseOnCancel: true,
		// Longer than a token spend (--spend-timeout): a refresh in flight at shutdown
		// finishes and stores its token rather than losing it.
		GracefulShutdownTimeout: ptr.To(o.spendTimeout + 15*time.Second),
	}
}
