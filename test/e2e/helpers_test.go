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

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/devstack"
	"github.com/finx-operator/finx-operator/internal/finx"
	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

const (
	primaryReplica   = "manager-a"
	secondaryReplica = "manager-b"
	// leaseName is the manager's LeaderElectionID (cmd/main.go).
	leaseName = "finx-operator.banking.finx-operator.io"
	// leaderLogLine is what client-go's leader election logs once a replica holds the Lease. A
	// replica that loses the Lease exits, so a running replica whose current run logged it leads.
	leaderLogLine = "Successfully acquired lease"

	// The sandbox's default client credentials (config/samples uses the same).
	sandboxClientID     = "sandbox-client"
	sandboxClientSecret = "sandbox-secret"
	finxClientName      = "finx-sandbox"
	credentialsName     = "finx-credentials"

	// Keys of the private Secret that tokenstore keeps unexported.
	keyRefreshIssuedAt  = "refresh_token_issued_at"
	keyRefreshExpiresAt = "refresh_token_expires_at"
	keyRotations        = "rotations"
)

// httpClient is what the tests use as "the browser" for plain form posts and callbacks.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// ---------------------------------------------------------------------------------------------
// Manager replicas

// replicaSet tracks the manager processes by replica name. Every replica listens for callbacks
// on its own fixed address, and a restarted replica gets the same one.
type replicaSet struct {
	procs map[string]*devcluster.Process
	addrs map[string]string
}

func (r *replicaSet) start(ctx context.Context, name string, extraArgs ...string) *devcluster.Process {
	GinkgoHelper()
	startCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	p, err := stack.StartManager(startCtx, name, r.addrs[name], extraArgs...)
	if p != nil {
		r.procs[name] = p
	}
	Expect(err).NotTo(HaveOccurred(), "starting replica %s%s", name, logTails())
	return p
}

func (r *replicaSet) running(name string) bool {
	p := r.procs[name]
	return p != nil && !p.Exited()
}

// kill ends a replica with SIGKILL, as a crash or an OOM kill would.
func (r *replicaSet) kill(name string) {
	GinkgoHelper()
	Expect(r.procs[name].Kill()).To(Succeed())
}

// isLeader reports whether the replica is running and its current run acquired the Lease.
func (r *replicaSet) isLeader(name string) bool {
	if !r.running(name) {
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // WaitForLogLine scans once before it looks at ctx
	return r.procs[name].WaitForLogLine(ctx, leaderLogLine) == nil
}

func (r *replicaSet) waitLeader(ctx context.Context, name string, timeout time.Duration) {
	GinkgoHelper()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	Expect(r.procs[name].WaitForLogLine(wctx, leaderLogLine)).To(Succeed(), "replica %s never became leader%s", name, logTails())
}

// ensureOnlyPrimary leaves exactly one replica running, the primary, as leader. Specs start from
// this state whatever an earlier spec (or its failure) left behind.
func (r *replicaSet) ensureOnlyPrimary(ctx context.Context) {
	GinkgoHelper()
	for name, p := range r.procs {
		if name != primaryReplica && !p.Exited() {
			// A clean stop releases the Lease (LeaderElectionReleaseOnCancel).
			Expect(p.Stop(15 * time.Second)).To(Succeed())
		}
	}
	if !r.running(primaryReplica) {
		r.start(ctx, primaryReplica)
	}
	r.waitLeader(ctx, primaryReplica, 60*time.Second)
}

func leaseHolder(ctx context.Context) (string, int32) {
	GinkgoHelper()
	l := &coordinationv1.Lease{}
	Expect(stack.Admin.Get(ctx, types.NamespacedName{Namespace: devstack.OperatorNamespace, Name: leaseName}, l)).To(Succeed())
	var holder string
	var transitions int32
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if l.Spec.LeaseTransitions != nil {
		transitions = *l.Spec.LeaseTransitions
	}
	return holder, transitions
}

// deleteLease removes the Lease of a replica that is known to be dead, so that its successor need
// not wait out the lease duration (15s). Only ever call it after the holder has been reaped.
func deleteLease(ctx context.Context) {
	GinkgoHelper()
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: devstack.OperatorNamespace, Name: leaseName}}
	Expect(client.IgnoreNotFound(stack.Admin.Delete(ctx, l))).To(Succeed())
}

// expectNoForbidden checks that a replica's log shows no RBAC denial: the manager runs with
// exactly the permissions of config/rbac, so a missing rule shows up here.
func expectNoForbidden(name string) {
	GinkgoHelper()
	data, err := os.ReadFile(stack.LogPath(name))
	Expect(err).NotTo(HaveOccurred())
	Expect(forbiddenLines(string(data))).To(BeEmpty(), "the manager was denied API access; config/rbac misses a rule")
}

// forbiddenLines returns the log lines that show a request refused as Forbidden, except the
// refusals of the NamespaceLifecycle admission plugin: a write into a namespace being deleted (an
// Event about a connection a finished scenario is tearing down) is refused with 403 as well, and
// says nothing about RBAC.
func forbiddenLines(log string) []string {
	var denied []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "because it is being terminated") {
			continue
		}
		// The API's own text, or as internal/logsafe logs an API error (reason and code only).
		if strings.Contains(l, "is forbidden") || strings.Contains(l, "API error Forbidden") {
			denied = append(denied, l)
		}
	}
	return denied
}

// ---------------------------------------------------------------------------------------------
// Objects

// newTenant creates a namespace with the sandbox's credentials and a FinXClient pointing at it.
func newTenant(ctx context.Context, ns string) { newTenantOn(ctx, ns, sandboxURL) }

// newTenantOn creates a namespace whose FinXClient points at the sandbox at baseURL.
func newTenantOn(ctx context.Context, ns, baseURL string) {
	GinkgoHelper()
	Expect(stack.Admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		_ = stack.Admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	Expect(stack.Admin.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: credentialsName},
		Type:       v1.SecretTypeClientCredentials,
		StringData: map[string]string{"client_id": sandboxClientID, "client_secret": sandboxClientSecret},
	})).To(Succeed())
	Expect(stack.Admin.Create(ctx, &v1.FinXClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: finxClientName},
		Spec: v1.FinXClientSpec{
			BaseURL:              baseURL,
			CredentialsSecretRef: v1.CredentialsSecretReference{Name: credentialsName},
		},
	})).To(Succeed())
}

// newConnection creates a BankConnection whose redirectURI is the callback at callbackAddr. The
// connection is deleted after the spec, so that its refreshes stop with it.
func newConnection(ctx context.Context, ns, name, callbackAddr string, mutate ...func(*v1.BankConnection)) types.NamespacedName {
	GinkgoHelper()
	b := &v1.BankConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.BankConnectionSpec{
			ClientRef:   v1.ClientReference{Kind: v1.ClientKindFinXClient, Name: finxClientName},
			UserID:      name + "@" + ns + ".example.com",
			RedirectURI: callbackURL(callbackAddr),
			Language:    "en",
		},
	}
	for _, m := range mutate {
		m(b)
	}
	Expect(stack.Admin.Create(ctx, b)).To(Succeed())
	key := client.ObjectKeyFromObject(b)
	DeferCleanup(func(ctx SpecContext) { deleteConnection(ctx, key) })
	return key
}

func deleteConnection(ctx context.Context, key types.NamespacedName) {
	b := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	_ = client.IgnoreNotFound(stack.Admin.Delete(ctx, b))
}

func callbackURL(addr string) string { return "http://" + addr + "/callback" }

// ---------------------------------------------------------------------------------------------
// Waiting and connecting

func getConnection(ctx context.Context, key types.NamespacedName) *v1.BankConnection {
	GinkgoHelper()
	b := &v1.BankConnection{}
	Expect(stack.Admin.Get(ctx, key, b)).To(Succeed())
	return b
}

// waitFor polls the connection (straight from the API server) until done holds.
func waitFor(ctx context.Context, key types.NamespacedName, timeout time.Duration, what string, done func(*v1.BankConnection) bool) *v1.BankConnection {
	GinkgoHelper()
	deadline := time.Now().Add(timeout)
	for {
		b := &v1.BankConnection{}
		err := stack.Admin.Get(ctx, key, b)
		if err == nil && done(b) {
			return b
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			Fail(fmt.Sprintf("waited %s for %s of %s; last read error: %v; last status: %s", timeout, what, key, err, summary(b)))
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func hasLink(b *v1.BankConnection) bool { return b.Status.Link != nil && b.Status.Link.URL != "" }

func isConnected(b *v1.BankConnection) bool {
	return b.Status.Phase == v1.PhaseConnected && conditionIs(b, v1.ConditionReady, metav1.ConditionTrue)
}

func rotations(b *v1.BankConnection) int64 {
	if b.Status.RefreshToken == nil {
		return 0
	}
	return b.Status.RefreshToken.Rotations
}

func conditionIs(b *v1.BankConnection, typ string, status metav1.ConditionStatus) bool {
	for _, c := range b.Status.Conditions {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}

func conditionReason(b *v1.BankConnection, typ string) string {
	for _, c := range b.Status.Conditions {
		if c.Type == typ {
			return c.Reason
		}
	}
	return ""
}

// summary describes a connection's status without any secret (the link URL carries a widget token).
func summary(b *v1.BankConnection) string {
	var s strings.Builder
	fmt.Fprintf(&s, "phase=%q link=%t rotations=%d", b.Status.Phase, hasLink(b), rotations(b))
	if rt := b.Status.RefreshToken; rt != nil && rt.NextRefreshAt != nil {
		fmt.Fprintf(&s, " nextRefreshAt=%s", rt.NextRefreshAt.UTC().Format(time.RFC3339))
	}
	for _, c := range b.Status.Conditions {
		fmt.Fprintf(&s, " %s=%s/%s", c.Type, c.Status, c.Reason)
	}
	if le := b.Status.LastError; le != nil {
		fmt.Fprintf(&s, " lastError=%s: %s", le.Reason, le.Message)
	}
	return s.String()
}

// completeWidget does what the user does: go through the sandbox's widget pages with plain form
// posts, then follow finX's redirect to the operator's callback endpoint at wantCallback. It
// returns the redirect URL (it carries the code and state: never print it).
func completeWidget(ctx context.Context, b *v1.BankConnection, wantCallback string) string {
	GinkgoHelper()
	Expect(hasLink(b)).To(BeTrue(), "no link in status: %s", summary(b))
	redirect, err := sandbox.DriveWidget(ctx, httpClient, b.Status.Link.URL, sandbox.DriveOptions{})
	Expect(err).NotTo(HaveOccurred())
	u, err := url.Parse(redirect)
	Expect(err).NotTo(HaveOccurred())
	Expect(u.Host).To(Equal(wantCallback), "finX redirects to the connection's redirectURI")
	Expect(u.Path).To(Equal("/callback"))
	Expect(u.Query().Get("success")).To(Equal("true"))
	seen.Add("authorisation code", u.Query().Get("code"))
	seen.Add("state", u.Query().Get("state"))
	status, body := get(ctx, redirect)
	Expect(status).To(Equal(http.StatusOK), "the callback endpoint at %s answered: %s", wantCallback, body)
	Expect(body).To(ContainSubstring(`<h1 id="callback-title">Bank connected</h1>`))
	return redirect
}

// connect waits for the link, completes the widget and waits until the connection is Connected.
func connect(ctx context.Context, key types.NamespacedName, callbackAddr string) *v1.BankConnection {
	GinkgoHelper()
	b := waitFor(ctx, key, 30*time.Second, "a widget link", hasLink)
	Expect(b.Status.Phase).To(Equal(v1.PhaseAwaitingAuthorization))
	completeWidget(ctx, b, callbackAddr)
	return waitFor(ctx, key, 30*time.Second, "phase Connected", isConnected)
}

func get(ctx context.Context, target string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

// forceRefresh sets the refresh annotation to a new value and returns it.
func forceRefresh(ctx context.Context, key types.NamespacedName) string {
	GinkgoHelper()
	value := strconv.FormatInt(time.Now().UnixNano(), 10)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1.AnnotationRefresh, value)
	b := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	Expect(stack.Admin.Patch(ctx, b, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
	return value
}

// ---------------------------------------------------------------------------------------------
// Secrets and tokens

func secretOf(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := stack.Admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s)
	// Every token a scenario sees is searched for in the managers' logs at the end (trust_test.go).
	seen.Add("refresh token", string(s.Data[tokenstore.KeyRefreshToken]))
	seen.Add("access token", string(s.Data[tokenstore.KeyAccessToken]))
	return s, err
}

func privateSecret(ctx context.Context, key types.NamespacedName) *corev1.Secret {
	GinkgoHelper()
	s, err := secretOf(ctx, key.Namespace, key.Name+"-finx-refresh")
	Expect(err).NotTo(HaveOccurred())
	return s
}

func keysOf(s *corev1.Secret) []string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func inFlight(s *corev1.Secret) bool {
	_, ok := s.Annotations[tokenstore.AnnotationInFlight]
	return ok
}

// expectOwnedSecrets checks both Secrets of a Connected connection: types, keys, labels and the
// owner reference that lets the garbage collector remove them with the connection.
func expectOwnedSecrets(ctx context.Context, b *v1.BankConnection) (refresh, access *corev1.Secret) {
	GinkgoHelper()
	Expect(b.Status.RefreshToken).NotTo(BeNil())
	Expect(b.Status.RefreshToken.SecretName).To(Equal(b.Name + "-finx-refresh"))
	Expect(b.Status.AccessToken).NotTo(BeNil())
	Expect(b.Status.AccessToken.SecretName).To(Equal(b.Name + "-finx-access"))

	refresh, err := secretOf(ctx, b.Namespace, b.Name+"-finx-refresh")
	Expect(err).NotTo(HaveOccurred())
	Expect(refresh.Type).To(Equal(tokenstore.TypeRefreshToken))
	// The token and its bookkeeping; the callback hand-off has been consumed.
	Expect(keysOf(refresh)).To(ConsistOf(tokenstore.KeyRefreshToken, keyRefreshIssuedAt, keyRefreshExpiresAt, keyRotations))
	Expect(refresh.Data[tokenstore.KeyRefreshToken]).NotTo(BeEmpty())
	Expect(refresh.Annotations).NotTo(HaveKey(tokenstore.AnnotationInFlight))

	access, err = secretOf(ctx, b.Namespace, b.Name+"-finx-access")
	Expect(err).NotTo(HaveOccurred())
	Expect(access.Type).To(Equal(tokenstore.TypeAccessToken))
	// The workload contract, and nothing else: never the refresh token.
	Expect(keysOf(access)).To(ConsistOf(tokenstore.KeyAccessToken, tokenstore.KeyTokenType, tokenstore.KeyExpiresAt))
	Expect(access.Data[tokenstore.KeyAccessToken]).NotTo(BeEmpty())
	Expect(string(access.Data[tokenstore.KeyTokenType])).To(Equal("Bearer"))
	exp, err := time.Parse(time.RFC3339, string(access.Data[tokenstore.KeyExpiresAt]))
	Expect(err).NotTo(HaveOccurred())
	Expect(exp).To(BeTemporally(">", time.Now().Add(-time.Second)))

	for _, s := range []*corev1.Secret{refresh, access} {
		Expect(s.Labels).To(HaveKeyWithValue(tokenstore.LabelManagedBy, tokenstore.ManagedByValue))
		Expect(s.Labels).To(HaveKeyWithValue(tokenstore.LabelConnection, b.Name))
		owner := metav1.GetControllerOf(s)
		Expect(owner).NotTo(BeNil(), "Secret %s has no controller reference", s.Name)
		Expect(owner.Kind).To(Equal("BankConnection"))
		Expect(owner.UID).To(Equal(b.UID))
	}
	return refresh, access
}

func finxClient() *finx.Client { return finxClientAt(sandboxURL) }

func finxClientAt(baseURL string) *finx.Client {
	GinkgoHelper()
	c, err := finx.New(finx.Config{BaseURL: baseURL, ClientID: sandboxClientID, ClientSecret: sandboxClientSecret, Timeout: 10 * time.Second})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// expectSpent presents a refresh token that the operator has already replaced in its Secret and
// expects finX to reject it: it was spent by the rotation. Never pass a token that may still be
// live: a successful refresh here would rotate the chain behind the operator's back.
func expectSpent(ctx context.Context, token, what string) {
	expectSpentAt(ctx, sandboxURL, token, what)
}

func expectSpentAt(ctx context.Context, baseURL, token, what string) {
	GinkgoHelper()
	_, err := finxClientAt(baseURL).Refresh(ctx, token)
	Expect(err).To(HaveOccurred(), "%s: finX accepted a refresh token that the operator had replaced", what)
	Expect(finx.IsGrantRejected(err)).To(BeTrue(), "%s: want invalid_grant, got %v", what, err)
}

// ---------------------------------------------------------------------------------------------
// Sandbox test controls

type sandboxStats struct {
	Endpoints map[string]struct {
		Calls    int            `json:"calls"`
		ByStatus map[string]int `json:"by_status"`
		Faulted  int            `json:"faulted"`
		Dropped  int            `json:"dropped"`
	} `json:"endpoints"`
}

func getSandboxStats(ctx context.Context) sandboxStats { return getSandboxStatsAt(ctx, sandboxURL) }

func getSandboxStatsAt(ctx context.Context, baseURL string) sandboxStats {
	GinkgoHelper()
	status, body := get(ctx, baseURL+"/_sandbox/stats")
	Expect(status).To(Equal(http.StatusOK), body)
	var s sandboxStats
	Expect(json.Unmarshal([]byte(body), &s)).To(Succeed())
	return s
}

// statusDelta returns, per HTTP status, how many more responses the endpoint gave in after than in
// before, plus the change in dropped connections under the key "dropped".
func statusDelta(before, after sandboxStats, endpoint string) map[string]int {
	out := map[string]int{}
	b, a := before.Endpoints[endpoint], after.Endpoints[endpoint]
	for code, n := range a.ByStatus {
		if d := n - b.ByStatus[code]; d != 0 {
			out[code] = d
		}
	}
	if d := a.Dropped - b.Dropped; d != 0 {
		out["dropped"] = d
	}
	return out
}

func sandboxControl(ctx context.Context, method, path string, body any) {
	sandboxControlAt(ctx, sandboxURL, method, path, body)
}

func sandboxControlAt(ctx context.Context, baseURL, method, path string, body any) {
	GinkgoHelper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, r)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	Expect(resp.StatusCode).To(BeNumerically("<", 300), "%s %s: %s", method, path, msg)
}

func nonOK(delta map[string]int) map[string]int {
	out := map[string]int{}
	for code, n := range delta {
		if code != "200" {
			out[code] = n
		}
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
