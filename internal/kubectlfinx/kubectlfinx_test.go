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

package kubectlfinx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/kubectlfinx"
	"github.com/finx-operator/finx-operator/internal/testenv"
)

// The plugin runs against a real API server. No operator runs: the specs write the status an
// operator would have written, and read back what the plugin changed.

var (
	admin      client.Client
	kubeconfig string
	// now is the plugin's clock; statuses are written relative to it.
	now = time.Now().UTC().Truncate(time.Second)
)

func TestMain(m *testing.M) {
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		admin, err = client.New(cfg, client.Options{Scheme: kubectlfinx.Scheme()})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		user, err := env.ControlPlane.AddUser(envtest.User{Name: "plugin-user", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		kc, err := user.KubeConfig()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "kubectl-finx-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		kubeconfig = filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := seed(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "seeding:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// run executes `kubectl finx args...` with the test kubeconfig and returns its output.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o := &kubectlfinx.Options{
		Flags:      genericclioptions.NewConfigFlags(true),
		Streams:    genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Now:        func() time.Time { return now },
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	}
	cmd := o.Command()
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig}, args...))
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, args...)
	if err != nil {
		t.Fatalf("kubectl finx %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func at(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(d)} }

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason + " message",
		LastTransitionTime: metav1.Time{Time: now.Add(-time.Hour)}}
}

// seed creates two tenant namespaces, a Ready FinXClient and three connections in different phases.
func seed(ctx context.Context) error {
	for _, ns := range []string{"bank-a", "bank-b"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	fc := &v1.FinXClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bank-a", Name: "finx"},
		Spec:       v1.FinXClientSpec{BaseURL: "https://finx.example.com", CredentialsSecretRef: v1.CredentialsSecretReference{Name: "creds"}},
	}
	if err := admin.Create(ctx, fc); err != nil {
		return err
	}
	fc.Status.Conditions = []metav1.Condition{cond(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonCredentialsFound)}
	if err := admin.Status().Update(ctx, fc); err != nil {
		return err
	}
	conns := []struct {
		ns, name string
		labels   map[string]string
		status   v1.BankConnectionStatus
	}{
		{"bank-a", "alice", map[string]string{"team": "retail"}, v1.BankConnectionStatus{
			Phase:      v1.PhaseConnected,
			FinXUserID: "3f2a-uid/alice@example.com",
			Conditions: []metav1.Condition{
				cond(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonConnected),
				cond(v1.ConditionTokensValid, metav1.ConditionTrue, v1.ReasonTokensValid),
			},
			AuthorizedAt: at(-48 * time.Hour),
			RefreshToken: &v1.RefreshTokenStatus{SecretName: "alice-finx-refresh", ExpiresAt: at(3*24*time.Hour + time.Hour),
				NextRefreshAt: at(30 * time.Minute), Rotations: 7},
			AccessToken: &v1.AccessTokenStatus{SecretName: "alice-finx-access", ExpiresAt: at(40 * time.Minute)},
			LastError: &v1.LastError{Operation: v1.OperationRefresh, Reason: v1.ReasonFinXUnavailable,
				Message: "finX answered 503", Time: metav1.Time{Time: now.Add(-2 * time.Minute)}, NextAttemptAt: at(time.Minute)},
			FailedAttempts: 2,
			Consent: &v1.ConsentStatus{GivenAt: metav1.Time{Time: now.Add(-170 * 24 * time.Hour)}, ExpiresAt: metav1.Time{Time: now.Add(10 * 24 * time.Hour)},
				RenewalDueAt: metav1.Time{Time: now.Add(-4 * 24 * time.Hour)},
				LastRenewal: &v1.ConsentRenewalStatus{Result: v1.ConsentRenewalCancelled, Time: metav1.Time{Time: now.Add(-time.Hour)},
					Message: "The user cancelled the re-consent"}},
			ConsentLink: &v1.LinkStatus{URL: "https://finx.example.com/widget/sync-alice", IssuedAt: metav1.Time{Time: now}, ExpiresAt: at(time.Hour)},
			Accounts: &v1.AccountsStatus{Count: 2, ReadAt: at(-time.Hour), NextReadAt: at(5 * time.Hour),
				Items: []v1.BankAccountStatus{{ID: "A1", IBAN: "****3000"}, {ID: "A2", IBAN: "****2051"}}},
		}},
		{"bank-a", "bob", map[string]string{"team": "business"}, v1.BankConnectionStatus{
			Phase:      v1.PhaseAwaitingAuthorization,
			Conditions: []metav1.Condition{cond(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonAwaitingUser)},
			Link:       &v1.LinkStatus{URL: "https://finx.example.com/widget/flow-bob", IssuedAt: metav1.Time{Time: now}, ExpiresAt: at(time.Hour)},
		}},
		{"bank-b", "carol", map[string]string{"team": "retail"}, v1.BankConnectionStatus{
			Phase:        v1.PhaseReauthorizationRequired,
			Conditions:   []metav1.Condition{cond(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonReauthorizationRequired)},
			RefreshToken: &v1.RefreshTokenStatus{SecretName: "carol-finx-refresh", ExpiresAt: at(60 * 24 * time.Hour)},
		}},
	}
	for _, c := range conns {
		b := &v1.BankConnection{
			ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: c.name, Labels: c.labels},
			Spec: v1.BankConnectionSpec{ClientRef: v1.ClientReference{Name: "finx"}, UserID: c.name + "@example.com",
				RedirectURI: "https://bank.example.com/callback"},
		}
		if err := admin.Create(ctx, b); err != nil {
			return err
		}
		b.Status = c.status
		if err := admin.Status().Update(ctx, b); err != nil {
			return err
		}
		if c.name == "alice" {
			ev := &corev1.Event{
				ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "alice.refreshed"},
				InvolvedObject: corev1.ObjectReference{Kind: "BankConnection", APIVersion: v1.GroupVersion.String(),
					Namespace: c.ns, Name: c.name, UID: b.UID},
				Type: corev1.EventTypeWarning, Reason: v1.ReasonRefreshFailed, Message: "finX unavailable; retrying",
				LastTimestamp: metav1.Time{Time: now.Add(-2 * time.Minute)},
			}
			if err := admin.Create(ctx, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestStatus(t *testing.T) {
	out := mustRun(t, "status", "alice", "-n", "bank-a")
	for _, want := range []string{
		"Phase:", "Connected",
		"Ready:", "True (Connected)",
		"Client:", "FinXClient/finx",
		"finX user:", "3f2a-uid/alice@example.com",
		"Next refresh:", "(in 30m)",
		"expires " + now.Add(3*24*time.Hour+time.Hour).Format(time.RFC3339) + " (in 3d); 7 rotations; Secret alice-finx-refresh",
		"Refresh FinXUnavailable: finX answered 503 (2m ago); next attempt in 1m; 2 failed attempts in a row",
		"TokensValid", "RefreshFailed", "finX unavailable; retrying",
		"Consent:", "expires " + now.Add(10*24*time.Hour).Format(time.RFC3339) + " (in 10d)",
		"Last re-consent:", "Cancelled (1h ago): The user cancelled the re-consent",
		"Re-consent link:", "https://finx.example.com/widget/sync-alice",
		"Accounts:", "2, read ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Widget link") {
		t.Errorf("a connected connection shows a widget link:\n%s", out)
	}

	out = mustRun(t, "status", "bob", "-n", "bank-a")
	if !strings.Contains(out, "https://finx.example.com/widget/flow-bob") || !strings.Contains(out, "AwaitingAuthorization") {
		t.Errorf("status of an awaiting connection:\n%s", out)
	}

	var b v1.BankConnection
	if err := json.Unmarshal([]byte(mustRun(t, "status", "alice", "-n", "bank-a", "-o", "json")), &b); err != nil {
		t.Fatal(err)
	}
	if b.Kind != "BankConnection" || b.APIVersion != v1.GroupVersion.String() || b.Status.RefreshToken.Rotations != 7 {
		t.Errorf("-o json: %+v", b.TypeMeta)
	}
	if _, _, err := run(t, "status", "nobody", "-n", "bank-a"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("status of a missing connection: %v", err)
	}
	if _, _, err := run(t, "status", "alice", "-n", "bank-a", "-o", "wide"); err == nil {
		t.Error("-o wide was accepted")
	}
}

func TestList(t *testing.T) {
	out := mustRun(t, "list", "-A")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAMESPACE") {
		t.Fatalf("list -A:\n%s", out)
	}
	if !strings.Contains(out, "bank-b") || !strings.Contains(out, "ReauthorizationRequired") {
		t.Errorf("list -A misses carol:\n%s", out)
	}

	out = mustRun(t, "list", "-A", "--expiring", "7d")
	if !strings.Contains(out, "alice") || strings.Contains(out, "carol") || strings.Contains(out, "bob") {
		t.Errorf("--expiring 7d should list only alice:\n%s", out)
	}
	out = mustRun(t, "list", "-A", "--expiring", "90d")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "carol") || strings.Contains(out, "bob") {
		t.Errorf("--expiring 90d should list alice and carol (bob holds no token):\n%s", out)
	}

	out = mustRun(t, "list", "-n", "bank-a", "--phase", "AwaitingAuthorization")
	if !strings.Contains(out, "bob") || strings.Contains(out, "alice") || strings.HasPrefix(out, "NAMESPACE") {
		t.Errorf("--phase AwaitingAuthorization in bank-a:\n%s", out)
	}
	out = mustRun(t, "list", "-A", "--phase", "Connected,ReauthorizationRequired", "-l", "team=retail", "-o", "yaml")
	var list v1.BankConnectionList
	if err := yaml.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "BankConnectionList" || len(list.Items) != 2 {
		t.Errorf("-o yaml: kind %q, %d items", list.Kind, len(list.Items))
	}
	if _, _, err := run(t, "list", "--phase", "Sleeping"); err == nil || !strings.Contains(err.Error(), "unknown phase") {
		t.Errorf("unknown phase: %v", err)
	}
	if _, _, err := run(t, "list", "--expiring", "soon"); err == nil {
		t.Error("--expiring soon was accepted")
	}
	_, errOut, err := run(t, "list", "-n", "default")
	if err != nil || !strings.Contains(errOut, "No BankConnections found") {
		t.Errorf("empty namespace: %v %q", err, errOut)
	}
}

func TestLink(t *testing.T) {
	if out := mustRun(t, "link", "bob", "-n", "bank-a"); out != "https://finx.example.com/widget/flow-bob\n" {
		t.Errorf("link bob: %q", out)
	}
	_, _, err := run(t, "link", "alice", "-n", "bank-a")
	if err == nil || !strings.Contains(err.Error(), "kubectl finx relink alice") {
		t.Errorf("link of a connected connection: %v", err)
	}
}

func annotation(t *testing.T, ns, name, key string) string {
	t.Helper()
	var b v1.BankConnection
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
		t.Fatal(err)
	}
	return b.Annotations[key]
}

func TestRefreshAndRelink(t *testing.T) {
	// The specs share one cluster: start from no annotations.
	for _, k := range []struct{ ns, name string }{{"bank-a", "alice"}, {"bank-a", "bob"}, {"bank-b", "carol"}} {
		patch := []byte(`{"metadata":{"annotations":null}}`)
		b := &v1.BankConnection{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: k.name}}
		if err := admin.Patch(context.Background(), b, client.RawPatch("application/merge-patch+json", patch)); err != nil {
			t.Fatal(err)
		}
	}
	want := now.Format(time.RFC3339Nano)

	out := mustRun(t, "refresh", "alice", "-n", "bank-a")
	if !strings.Contains(out, "bankconnection bank-a/alice: refresh requested") {
		t.Errorf("refresh alice: %q", out)
	}
	if got := annotation(t, "bank-a", "alice", v1.AnnotationRefresh); got != want {
		t.Errorf("refresh annotation %q, want %q", got, want)
	}
	if got := annotation(t, "bank-a", "bob", v1.AnnotationRefresh); got != "" {
		t.Errorf("bob was annotated too: %q", got)
	}

	mustRun(t, "refresh", "-A", "-l", "team=retail")
	if annotation(t, "bank-b", "carol", v1.AnnotationRefresh) != want || annotation(t, "bank-a", "bob", v1.AnnotationRefresh) != "" {
		t.Error("refresh -A -l team=retail did not annotate exactly the retail connections")
	}
	mustRun(t, "refresh", "--all", "-n", "bank-a")
	if annotation(t, "bank-a", "bob", v1.AnnotationRefresh) != want {
		t.Error("refresh --all did not annotate bob")
	}

	mustRun(t, "relink", "bob", "-n", "bank-a")
	if annotation(t, "bank-a", "bob", v1.AnnotationRelink) != want || annotation(t, "bank-a", "alice", v1.AnnotationRelink) != "" {
		t.Error("relink bob did not set exactly bob's relink annotation")
	}

	for _, args := range [][]string{{"refresh"}, {"refresh", "alice", "--all"}, {"relink", "alice", "-A"}} {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("%v was accepted", args)
		}
	}
	_, errOut, err := run(t, "refresh", "ghost", "-n", "bank-a")
	if err == nil || !strings.Contains(errOut, "not found") {
		t.Errorf("refresh of a missing connection: %v %q", err, errOut)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "This request cannot be processed", http.StatusBadRequest)
	}))
	defer callback.Close()

	out, _, err := run(t, "check", "-n", "bank-a")
	if err == nil || !strings.Contains(out, "[FAIL] operator: no leader-election Lease") || !strings.Contains(out, "[ok]   CRDs") {
		t.Errorf("check without an operator: %v\n%s", err, out)
	}
	if !strings.Contains(out, "[skip] callback endpoint") || !strings.Contains(out, "[ok]   finX clients: 1 of 1 Ready") {
		t.Errorf("check without an operator:\n%s", out)
	}

	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "finx-system"}}); err != nil {
		t.Fatal(err)
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "finx-system", Name: kubectlfinx.LeaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("manager-7c9d_1234"), LeaseDurationSeconds: ptr.To[int32](15),
			RenewTime: &metav1.MicroTime{Time: now.Add(-3 * time.Second)}},
	}
	if err := admin.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "check", "-n", "bank-a", "--callback-url", callback.URL+"/callback")
	for _, want := range []string{"[ok]   operator: elected leader manager-7c9d_1234 in namespace finx-system",
		"[ok]   callback endpoint: GET " + callback.URL + "/callback reached the operator"} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, "check", "-n", "bank-a", "--operator-namespace", "finx-system")

	out, _, err = run(t, "check", "-n", "bank-a", "--callback-url", callback.URL+"/elsewhere")
	if err == nil || !strings.Contains(out, "[FAIL] callback endpoint: GET "+callback.URL+"/elsewhere answered HTTP 404") {
		t.Errorf("check with a misrouted callback: %v\n%s", err, out)
	}

	// A leader that stopped renewing is gone.
	lease.Spec.RenewTime = &metav1.MicroTime{Time: now.Add(-time.Minute)}
	if err := admin.Update(ctx, lease); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, "check", "-n", "bank-a")
	if err == nil || !strings.Contains(out, "the leader is gone") {
		t.Errorf("check with a stale Lease: %v\n%s", err, out)
	}

	// A client that is not Ready fails the check.
	var fc v1.FinXClient
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "bank-a", Name: "finx"}, &fc); err != nil {
		t.Fatal(err)
	}
	apimeta.SetStatusCondition(&fc.Status.Conditions, cond(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonCredentialsMissing))
	if err := admin.Status().Update(ctx, &fc); err != nil {
		t.Fatal(err)
	}
	out, _, _ = run(t, "check", "-n", "bank-a")
	if !strings.Contains(out, "[FAIL] finX clients: 1 of 1 not Ready: [FinXClient bank-a/finx (CredentialsMissing)]") {
		t.Errorf("check with a client not Ready:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	out := mustRun(t, "--version")
	if !strings.HasPrefix(out, "kubectl-finx ") {
		t.Errorf("--version: %q", out)
	}
}

// The krew manifest, with make dist's placeholders filled in, installs this binary on each platform.
func TestKrewManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "plugins", "finx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	filled := strings.ReplaceAll(string(raw), "@VERSION@", "v1.2.3")
	for _, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
		filled = strings.ReplaceAll(filled, "@SHA256_"+p+"@", strings.Repeat("a", 64))
	}
	if strings.Contains(filled, "@") {
		t.Fatalf("placeholders left after filling in: %s", filled)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"`
				Bin    string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict([]byte(filled), &m); err != nil {
		t.Fatal(err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "finx" || m.Spec.Version != "v1.2.3" || len(m.Spec.Platforms) != 4 {
		t.Errorf("manifest: %+v", m)
	}
	for _, p := range m.Spec.Platforms {
		l := p.Selector.MatchLabels
		archive := fmt.Sprintf("/v1.2.3/kubectl-finx_v1.2.3_%s_%s.tar.gz", l["os"], l["arch"])
		if p.Bin != "kubectl-finx" || !strings.HasSuffix(p.URI, archive) || len(p.Sha256) != 64 {
			t.Errorf("platform %v: %+v (want an archive ending %s)", l, p, archive)
		}
	}
}
