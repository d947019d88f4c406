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

// Package devcluster runs a local Kubernetes control plane as plain processes —
// etcd, kube-apiserver and optionally kube-controller-manager, from binaries
// built by hack/build-control-plane.sh — for `make demo` and the end-to-end
// tests. It also starts and stops the other processes those need (the finX
// sandbox, the operator manager), and applies manifests without kubectl.
//
// Everything lives under Options.WorkDir:
//
//	WorkDir/pki/     CA, serving certificates, service-account keys, the
//	                 admin kubeconfig of the controller manager (mode 0700)
//	WorkDir/etcd/    etcd data
//	WorkDir/logs/    one log file per process (etcd.log, kube-apiserver.log, ...)
//
// Start wipes pki/ and etcd/ first: every Start is a fresh, empty cluster with
// new credentials. A lock file keeps two clusters from sharing a WorkDir.
//
// Identities are client certificates signed by the cluster CA, which the API
// server maps to user=CN and groups=O. The admin is in system:masters;
// UserConfig makes a certificate for any user and groups at any time, with no
// need to declare users before the API server starts. The CA's private key
// never leaves this process; client keys reach disk only in kubeconfig files
// written with mode 0600.
//
// Child processes run in their own process groups and, on Linux, are SIGKILLed
// by the kernel if this program dies without stopping them (see StartProcess).
// A program that stops on Ctrl-C should still catch the signal (for example
// with signal.NotifyContext) and call Stop, so that shutdown is orderly.
// This package works on Linux and other Unix systems, as root or not.
package devcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configures Start.
type Options struct {
	// BinDir holds etcd, kube-apiserver and, with WithControllerManager,
	// kube-controller-manager (hack/build-control-plane.sh prints it).
	BinDir string
	// WorkDir receives all data, certificates, kubeconfigs and process logs.
	WorkDir string
	// WithControllerManager also runs kube-controller-manager with the garbage
	// collector, namespace and ClusterRole aggregation controllers, so that
	// deleting an owner deletes its dependents, deleting a namespace empties
	// it, and the view/edit/admin ClusterRoles get their rules (including those
	// of roles labelled aggregate-to-*), as in a real cluster.
	WithControllerManager bool
	// Stdout, if set, receives a few progress lines (process logs go to files).
	Stdout io.Writer
	// Manifests are applied with ServerSideApply (field manager "devcluster")
	// as soon as the API server is ready, before kube-controller-manager
	// starts. Put the CRDs here whose objects own others: the garbage
	// collector discovers resource types added later only on its 30-second
	// resync, so their dependents would be collected up to ~40 s late.
	Manifests []*unstructured.Unstructured
	// StartTimeout bounds each component's start-up; 0 means 2 minutes.
	StartTimeout time.Duration
}

// Cluster is a running control plane. Stop it when done.
type Cluster struct {
	workDir string
	out     io.Writer
	host    string
	ca      *certKey
	admin   *rest.Config
	procs   []*Process // in start order
	lock    *os.File

	stopOnce sync.Once
	stopErr  error
}

// Component names; each one's log is WorkDir/logs/<name>.log.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
)

// Controllers run by kube-controller-manager: what an operator's tests rely on
// (ownerReference garbage collection, namespace deletion, and the aggregated
// ClusterRoles view/edit/admin, which stay empty without their controller) and
// nothing that needs nodes or extra signing keys.
const controllers = "garbage-collector-controller,namespace-controller,clusterrole-aggregation-controller"

const (
	serviceCIDR      = "10.0.0.0/24"
	componentStopMax = 10 * time.Second
	startAttempts    = 3
)

// Start starts etcd and kube-apiserver on free loopback ports and waits until
// the API server is ready, then, if asked, kube-controller-manager until it is
// healthy. On failure it stops whatever it started and returns an error naming
// the component and its log file. ctx bounds the start-up only: the cluster
// runs until Stop.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.BinDir == "" || o.WorkDir == "" {
		return nil, errors.New("devcluster: Options.BinDir and Options.WorkDir are required")
	}
	bins := []string{Etcd, KubeAPIServer}
	if o.WithControllerManager {
		bins = append(bins, KubeControllerManager)
	}
	for _, b := range bins {
		if err := checkExecutable(filepath.Join(o.BinDir, b)); err != nil {
			return nil, fmt.Errorf("devcluster: %s: %w (build the control plane with hack/build-control-plane.sh %s)",
				b, err, strings.Join(bins, " "))
		}
	}
	workDir, err := filepath.Abs(o.WorkDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}
	lock, err := lockWorkDir(workDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{workDir: workDir, out: o.Stdout, lock: lock}
	if c.out == nil {
		c.out = io.Discard
	}
	for attempt := 1; ; attempt++ {
		err = c.start(ctx, o)
		if err == nil {
			return c, nil
		}
		// Short grace: nothing of a failed start is worth an orderly stop, and
		// an API server still waiting for etcd ignores SIGTERM. The start
		// error is the one worth reporting.
		_ = c.stopProcesses(2 * time.Second)
		var pc *portConflictError
		if !errors.As(err, &pc) || attempt == startAttempts || ctx.Err() != nil {
			break
		}
		c.logf("%s found its port taken by another program; retrying with other ports", pc.component)
	}
	c.unlock()
	return nil, err
}

func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("not found at %s", path)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// lockWorkDir takes an exclusive lock that the kernel releases if this process
// dies, so a crashed run never blocks the next one.
func lockWorkDir(workDir string) (*os.File, error) {
	path := filepath.Join(workDir, ".devcluster.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("devcluster: %s is in use by another running cluster (pid %s); stop it or use another work directory",
				workDir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("devcluster: locking %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func (c *Cluster) unlock() {
	if c.lock != nil {
		_ = c.lock.Close() // closing releases the flock
		c.lock = nil
	}
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.out, "devcluster: "+format+"\n", args...)
}

// LogPath is the log file of a component (Etcd, KubeAPIServer,
// KubeControllerManager): WorkDir/logs/<component>.log.
func (c *Cluster) LogPath(component string) string {
	return filepath.Join(c.workDir, "logs", component+".log")
}

// portConflictError marks a start that failed because a port picked as free
// was taken in the meantime; Start then tries again with new ports.
type portConflictError struct {
	component string
	err       error
}

func (e *portConflictError) Error() string { return e.err.Error() }
func (e *portConflictError) Unwrap() error { return e.err }

// componentError describes a failed component and points at its log, quoting
// its last lines (component logs hold no credentials).
func componentError(p *Process, what string) error {
	err := fmt.Errorf("devcluster: %s %s; see %s", p.Name(), what, p.LogPath())
	last := tail(p.LogPath(), 4)
	if last != "" {
		err = fmt.Errorf("%w; its last lines:\n%s", err, last)
	}
	if strings.Contains(tail(p.LogPath(), 40), "address already in use") {
		return &portConflictError{component: p.Name(), err: err}
	}
	return err
}

func (c *Cluster) start(ctx context.Context, o Options) error {
	began := time.Now()
	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	pkiDir := filepath.Join(c.workDir, "pki")
	etcdDir := filepath.Join(c.workDir, "etcd")
	for _, d := range []string{pkiDir, etcdDir} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("devcluster: cleaning %s: %w", d, err)
		}
		// 0700: pki holds private keys, and etcd warns about wider data dirs.
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("devcluster: %w", err)
		}
	}
	for _, name := range []string{Etcd, KubeAPIServer, KubeControllerManager} {
		_ = os.Remove(c.LogPath(name)) // a fresh cluster gets fresh logs
	}

	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	apiPort, kcmPort := ports[2], ports[3]
	c.host = fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	ca, err := newCA("devcluster-ca")
	if err != nil {
		return err
	}
	c.ca = ca
	caPath := filepath.Join(pkiDir, "ca.crt")
	if err := writePrivateFile(caPath, ca.certPEM); err != nil {
		return err
	}
	serving, err := ca.issue(KubeAPIServer, nil, x509.ExtKeyUsageServerAuth,
		"127.0.0.1", "localhost", "10.0.0.1", // 10.0.0.1: the kubernetes Service's IP in serviceCIDR
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	if err != nil {
		return err
	}
	servingCert, servingKey, err := serving.write(pkiDir, "apiserver")
	if err != nil {
		return err
	}
	saKey, saPub, err := writeServiceAccountKeys(pkiDir)
	if err != nil {
		return err
	}
	admin, err := ca.issue("devcluster-admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return err
	}
	c.admin = &rest.Config{
		Host: c.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   ca.certPEM,
			CertData: admin.certPEM,
			KeyData:  admin.keyPEM,
		},
	}

	etcd, err := StartProcess(ctx, Etcd, c.LogPath(Etcd), nil, filepath.Join(o.BinDir, Etcd),
		"--name=devcluster",
		"--data-dir="+etcdDir,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=devcluster="+peerURL,
		// The data is thrown away at the next Start; fsync would only slow
		// every write down, badly so on CI disks.
		"--unsafe-no-fsync=true",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, etcd)
	c.logf("etcd started on %s (log: %s)", etcdURL, etcd.LogPath())

	// The API server retries its etcd connection, so it starts right away
	// rather than after etcd reports healthy: that saves a round of polling.
	apiserver, err := StartProcess(ctx, KubeAPIServer, c.LogPath(KubeAPIServer), nil, filepath.Join(o.BinDir, KubeAPIServer),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		// Loopback only. 1.37 refuses a loopback advertise address when it
		// maintains the kubernetes Service's endpoints, which only matter to
		// Pods (none run here), so that reconciler is off.
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+servingCert,
		"--tls-private-key-file="+servingKey,
		"--client-ca-file="+caPath,
		"--authorization-mode=RBAC",
		"--service-account-issuer="+c.host,
		"--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range="+serviceCIDR,
		"--allow-privileged=true",
		// This admission plugin only matters for Pods (no kubelet runs them
		// here) and would reject every Pod while no controller creates the
		// namespaces' default ServiceAccounts.
		"--disable-admission-plugins=ServiceAccount",
		// As hardened clusters (OpenShift among them) do: an owner reference that blocks the
		// owner's deletion needs update on the owner's finalizers, so the operator's RBAC is
		// checked against it too.
		"--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, apiserver)
	c.logf("kube-apiserver starting on %s (log: %s)", c.host, apiserver.LogPath())

	adminCert, err := tls.X509KeyPair(admin.certPEM, admin.keyPEM)
	if err != nil {
		return err
	}
	apiClient := pollClient(ca, &adminCert)
	err = c.waitUntil(ctx, timeout, apiserver, "did not become ready", func(ctx context.Context) (bool, string) {
		code, body, err := get(ctx, apiClient, c.host+"/readyz")
		if err != nil {
			return false, err.Error()
		}
		if code != http.StatusOK {
			return false, failingChecks(body)
		}
		// The default namespace is made by a loop in the API server that may
		// trail /readyz a little; manifests without a namespace land there.
		code, _, err = get(ctx, apiClient, c.host+"/api/v1/namespaces/default")
		if err != nil {
			return false, err.Error()
		}
		if code != http.StatusOK {
			return false, "namespace default does not exist yet"
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	c.logf("kube-apiserver ready after %s", time.Since(began).Round(100*time.Millisecond))

	if len(o.Manifests) > 0 {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := ServerSideApply(actx, c.admin, o.Manifests, "devcluster")
		cancel()
		if err != nil {
			return fmt.Errorf("devcluster: applying Options.Manifests: %w", err)
		}
		c.logf("applied %d manifests", len(o.Manifests))
	}
	if !o.WithControllerManager {
		return nil
	}
	kubeconfig := filepath.Join(pkiDir, "admin.kubeconfig")
	if err := c.WriteKubeconfig(kubeconfig, c.admin); err != nil {
		return err
	}
	kcmServing, err := ca.issue(KubeControllerManager, nil, x509.ExtKeyUsageServerAuth, "127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	kcmCert, kcmKey, err := kcmServing.write(pkiDir, "controller-manager")
	if err != nil {
		return err
	}
	kcm, err := StartProcess(ctx, KubeControllerManager, c.LogPath(KubeControllerManager), nil, filepath.Join(o.BinDir, KubeControllerManager),
		"--kubeconfig="+kubeconfig,
		"--controllers="+controllers,
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(kcmPort),
		"--tls-cert-file="+kcmCert,
		"--tls-private-key-file="+kcmKey,
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kcm)
	c.logf("kube-controller-manager starting (log: %s)", kcm.LogPath())

	kcmClient := pollClient(ca, nil)
	err = c.waitUntil(ctx, timeout, kcm, "did not become healthy", func(ctx context.Context) (bool, string) {
		code, body, err := get(ctx, kcmClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort))
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, failingChecks(body)
	})
	if err != nil {
		return err
	}
	c.logf("kube-controller-manager healthy after %s", time.Since(began).Round(100*time.Millisecond))
	return nil
}

// waitUntil polls ready until it reports true, failing early if any started
// process exits (blaming that one) and after timeout (blaming subject).
func (c *Cluster) waitUntil(parent context.Context, timeout time.Duration, subject *Process, what string, ready func(context.Context) (bool, string)) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	detail := ""
	lastReport := time.Now()
	for {
		for _, p := range c.procs {
			if p.Exited() {
				return componentError(p, "exited during start-up ("+exitStatus(p.Wait())+")")
			}
		}
		ok, d := ready(ctx)
		if ok {
			return nil
		}
		if d != "" {
			detail = d
		}
		// A slow start says what it waits for, without a wall of lines.
		if time.Since(lastReport) >= 5*time.Second {
			c.logf("still waiting for %s (%s)", subject.Name(), detail)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("devcluster: start interrupted while waiting for %s: %w", subject.Name(), parent.Err())
			}
			msg := fmt.Sprintf("%s within %s", what, timeout)
			if detail != "" {
				msg += " (last check: " + detail + ")"
			}
			return componentError(subject, msg)
		case <-tick.C:
		}
	}
}

// pollClient is for readiness polling: a new connection per request and a
// short timeout, so that a request stuck on a component still starting up
// costs one poll interval rather than stalling the wait.
func pollClient(ca *certKey, clientCert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
}

func get(ctx context.Context, client *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body), nil
}

// failingChecks picks the "[-]name failed" lines out of a /readyz or /healthz
// body, which is what says why a component is not ready yet.
func failingChecks(body string) string {
	var failed []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "[-]") {
			failed = append(failed, strings.TrimPrefix(strings.Fields(l)[0], "[-]"))
		}
	}
	if len(failed) > 0 {
		return "failing checks: " + strings.Join(failed, ", ")
	}
	return strings.TrimSpace(body)
}

// Stop stops the components in reverse start order (SIGTERM, then SIGKILL
// after 10 s each) and releases WorkDir. Its error also reports a component
// that had died before Stop. It is idempotent; data and logs stay in WorkDir
// for inspection until the next Start.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.stopErr = c.stopProcesses(componentStopMax)
		c.unlock()
		c.logf("stopped")
	})
	return c.stopErr
}

func (c *Cluster) stopProcesses(timeout time.Duration) error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		if p.Exited() {
			// A control plane that lost a component mid-run explains failures
			// seen by whoever used it, so say so rather than stopping quietly.
			errs = append(errs, fmt.Errorf("devcluster: %s had exited on its own (%s) before Stop; see %s", p.Name(), exitStatus(p.Wait()), p.LogPath()))
		}
		if err := p.Stop(timeout); err != nil {
			errs = append(errs, err)
		}
	}
	c.procs = nil
	return errors.Join(errs...)
}

// Process returns the running component (Etcd, KubeAPIServer or
// KubeControllerManager), or nil if it is not running. Benchmarks read its
// CPU time and memory from /proc by its Pid.
func (c *Cluster) Process(component string) *Process {
	for _, p := range c.procs {
		if p.Name() == component {
			return p
		}
	}
	return nil
}

// AdminConfig returns a fresh copy of the cluster-admin (system:masters) client
// configuration.
func (c *Cluster) AdminConfig() *rest.Config {
	return rest.CopyConfig(c.admin)
}

// UserConfig returns a client configuration that authenticates as username
// with the given groups, through a client certificate (CN=username, O=groups)
// signed by the cluster CA, so requests get exactly the RBAC bound to that
// user and those groups. The key stays in memory; WriteKubeconfig stores it.
func (c *Cluster) UserConfig(username string, groups ...string) (*rest.Config, error) {
	if username == "" {
		return nil, errors.New("devcluster: UserConfig needs a user name")
	}
	cert, err := c.ca.issue(username, groups, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: c.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.ca.certPEM,
			CertData: cert.certPEM,
			KeyData:  cert.keyPEM,
		},
	}, nil
}

// ServiceAccountConfig is UserConfig for the ServiceAccount namespace/name: the
// user name and groups its tokens carry in a real cluster. The ServiceAccount
// object itself need not exist, as with RBAC bindings.
func (c *Cluster) ServiceAccountConfig(namespace, name string) (*rest.Config, error) {
	return c.UserConfig("system:serviceaccount:"+namespace+":"+name,
		"system:serviceaccounts", "system:serviceaccounts:"+namespace, "system:authenticated")
}

// WriteAdminKubeconfig writes a kubeconfig (mode 0600, credentials embedded)
// for the cluster admin, usable by kubectl and by other processes.
func (c *Cluster) WriteAdminKubeconfig(path string) error {
	return c.WriteKubeconfig(path, c.admin)
}

// WriteKubeconfig writes cfg as a kubeconfig file with mode 0600, for handing
// credentials to another process (--kubeconfig or KUBECONFIG). Certificates,
// keys and tokens given as data are embedded; ones given as file paths are
// referenced.
func (c *Cluster) WriteKubeconfig(path string, cfg *rest.Config) error {
	if cfg == nil || cfg.Host == "" {
		return errors.New("devcluster: WriteKubeconfig needs a config with a Host")
	}
	if cfg.ExecProvider != nil || cfg.AuthProvider != nil {
		return errors.New("devcluster: WriteKubeconfig does not support exec or auth-provider credentials")
	}
	const name = "devcluster"
	cluster := clientcmdapi.NewCluster()
	cluster.Server = cfg.Host
	cluster.CertificateAuthority = cfg.CAFile
	cluster.CertificateAuthorityData = cfg.CAData
	cluster.InsecureSkipTLSVerify = cfg.Insecure
	cluster.TLSServerName = cfg.ServerName
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificate = cfg.CertFile
	user.ClientCertificateData = cfg.CertData
	user.ClientKey = cfg.KeyFile
	user.ClientKeyData = cfg.KeyData
	user.Token = cfg.BearerToken
	user.TokenFile = cfg.BearerTokenFile
	user.Username = cfg.Username
	user.Password = cfg.Password
	user.Impersonate = cfg.Impersonate.UserName
	user.ImpersonateUID = cfg.Impersonate.UID
	user.ImpersonateGroups = cfg.Impersonate.Groups
	kcontext := clientcmdapi.NewContext()
	kcontext.Cluster = name
	kcontext.AuthInfo = name
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = cluster
	kc.AuthInfos[name] = user
	kc.Contexts[name] = kcontext
	kc.CurrentContext = name
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("devcluster: encoding kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if err := writePrivateFile(path, data); err != nil {
		return fmt.Errorf("devcluster: writing kubeconfig: %w", err)
	}
	return nil
}
