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

package kubectlfinx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// LeaseName is the manager's leader-election Lease (its LeaderElectionID in cmd/main.go).
const LeaseName = "finx-operator.banking.finx-operator.io"

// crdNames are the CustomResourceDefinitions the operator installs.
var crdNames = []string{
	"bankconnections." + v1.GroupVersion.Group,
	"finxclients." + v1.GroupVersion.Group,
	"clusterfinxclients." + v1.GroupVersion.Group,
}

type checkOptions struct {
	operatorNamespace string
	callbackURL       string
	allNamespaces     bool
}

// checkResult is one line of `check`: ok, failed, or skipped (nothing to check).
type checkResult struct {
	name, detail string
	ok, skipped  bool
}

func (o *Options) checkCommand() *cobra.Command {
	var co checkOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check an installation: CRDs, the operator running and elected, clients Ready, the callback reachable",
		Long: "check exits non-zero when something is wrong. The operator is found through its leader-election " +
			"Lease; the callback endpoint is checked only with --callback-url (the URL finX redirects browsers to).",
		Example: "  kubectl finx check -A --callback-url https://bank.example.com/callback",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := o.clientIn()
			if err != nil {
				return err
			}
			if co.allNamespaces {
				ns = ""
			}
			ctx := cmd.Context()
			results := []checkResult{
				checkCRDs(ctx, c),
				checkOperator(ctx, c, co.operatorNamespace, o.Now()),
				checkClients(ctx, c, ns),
				o.checkCallback(ctx, co.callbackURL),
			}
			return report(o.Streams.Out, results)
		},
	}
	cmd.Flags().StringVar(&co.operatorNamespace, "operator-namespace", "",
		"Namespace the operator runs in (default: wherever its Lease is found)")
	cmd.Flags().StringVar(&co.callbackURL, "callback-url", "", "The callback URL to probe, e.g. https://bank.example.com/callback")
	cmd.Flags().BoolVarP(&co.allNamespaces, "all-namespaces", "A", false, "Check FinXClients in every namespace, not only the current one")
	return cmd
}

func report(w io.Writer, results []checkResult) error {
	failed := 0
	for _, r := range results {
		mark := "[ok]  "
		switch {
		case r.skipped:
			mark = "[skip]"
		case !r.ok:
			mark = "[FAIL]"
			failed++
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, r.name, r.detail)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(results))
	}
	return nil
}

func checkCRDs(ctx context.Context, c client.Client) checkResult {
	r := checkResult{name: "CRDs"}
	for _, name := range crdNames {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			if apierrors.IsNotFound(err) {
				r.detail = name + " is not installed"
			} else {
				r.detail = fmt.Sprintf("reading %s: %v", name, err)
			}
			return r
		}
		established := false
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				established = true
			}
		}
		if !established {
			r.detail = name + " is not Established"
			return r
		}
		served := false
		for _, ver := range crd.Spec.Versions {
			served = served || (ver.Name == v1.GroupVersion.Version && ver.Served)
		}
		if !served {
			r.detail = fmt.Sprintf("%s does not serve %s (this kubectl-finx is for that version)", name, v1.GroupVersion.Version)
			return r
		}
	}
	r.ok, r.detail = true, fmt.Sprintf("%d installed and established, serving %s", len(crdNames), v1.GroupVersion)
	return r
}

// checkOperator finds the leader-election Lease: a holder that renewed it within its duration is a
// running, elected manager.
func checkOperator(ctx context.Context, c client.Client, ns string, now time.Time) checkResult {
	r := checkResult{name: "operator"}
	var leases []coordinationv1.Lease
	if ns != "" {
		var l coordinationv1.Lease
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: LeaseName}, &l)
		if err != nil && !apierrors.IsNotFound(err) {
			r.detail = fmt.Sprintf("reading Lease %s/%s: %v", ns, LeaseName, err)
			return r
		}
		if err == nil {
			leases = append(leases, l)
		}
	} else {
		var list coordinationv1.LeaseList
		err := c.List(ctx, &list, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", LeaseName)})
		if err != nil {
			r.detail = fmt.Sprintf("listing Leases named %s (pass --operator-namespace if you may not list them cluster-wide): %v", LeaseName, err)
			return r
		}
		leases = list.Items
	}
	if len(leases) == 0 {
		r.detail = "no leader-election Lease " + LeaseName + " found: the operator is not running (or runs without --leader-elect)"
		return r
	}
	for _, l := range leases {
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		if holder == "" || l.Spec.RenewTime == nil {
			r.detail = fmt.Sprintf("Lease %s/%s has no holder: no replica is elected", l.Namespace, l.Name)
			continue
		}
		duration := 15 * time.Second
		if l.Spec.LeaseDurationSeconds != nil {
			duration = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
		}
		renewed := l.Spec.RenewTime.Time
		if now.Sub(renewed) > duration {
			r.detail = fmt.Sprintf("Lease %s/%s was last renewed by %s %s, longer ago than its %s: the leader is gone",
				l.Namespace, l.Name, holder, age(now, renewed), duration)
			continue
		}
		r.ok = true
		r.detail = fmt.Sprintf("elected leader %s in namespace %s (Lease renewed %s)", holder, l.Namespace, age(now, renewed))
		return r
	}
	return r
}

func checkClients(ctx context.Context, c client.Client, ns string) checkResult {
	r := checkResult{name: "finX clients"}
	var notReady []string
	total := 0
	var nsClients v1.FinXClientList
	if err := c.List(ctx, &nsClients, client.InNamespace(ns)); err != nil {
		r.detail = fmt.Sprintf("listing FinXClients: %v", err)
		return r
	}
	for _, fc := range nsClients.Items {
		total++
		if !meta.IsStatusConditionTrue(fc.Status.Conditions, v1.ConditionReady) {
			notReady = append(notReady, fmt.Sprintf("FinXClient %s/%s (%s)", fc.Namespace, fc.Name, reason(fc.Status.Conditions)))
		}
	}
	var clusterClients v1.ClusterFinXClientList
	err := c.List(ctx, &clusterClients)
	switch {
	case apierrors.IsForbidden(err):
		// Tenants usually may not list cluster-scoped clients; that is not a fault of the installation.
	case err != nil:
		r.detail = fmt.Sprintf("listing ClusterFinXClients: %v", err)
		return r
	}
	for _, cc := range clusterClients.Items {
		total++
		if !meta.IsStatusConditionTrue(cc.Status.Conditions, v1.ConditionReady) {
			notReady = append(notReady, fmt.Sprintf("ClusterFinXClient %s (%s)", cc.Name, reason(cc.Status.Conditions)))
		}
	}
	switch {
	case total == 0:
		r.detail = "no FinXClient or ClusterFinXClient found: BankConnections need one"
	case len(notReady) > 0:
		r.detail = fmt.Sprintf("%d of %d not Ready: %v", len(notReady), total, notReady)
	default:
		r.ok, r.detail = true, fmt.Sprintf("%d of %d Ready", total, total)
	}
	return r
}

func reason(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, v1.ConditionReady); c != nil {
		return c.Reason
	}
	return "not reconciled yet"
}

// checkCallback probes the callback URL without parameters. The operator answers that with its own
// 400 page; anything else (a refused connection, a 404 or 502 from an ingress) means the browser
// would not reach it.
func (o *Options) checkCallback(ctx context.Context, url string) checkResult {
	r := checkResult{name: "callback endpoint"}
	if url == "" {
		r.skipped, r.detail = true, "pass --callback-url to probe the URL finX redirects browsers to"
		return r
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		r.detail = err.Error()
		return r
	}
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		var netErr interface{ Timeout() bool }
		if errors.As(err, &netErr) && netErr.Timeout() {
			r.detail = "GET " + url + ": timed out"
		} else {
			r.detail = fmt.Sprintf("GET %s: %v", url, err)
		}
		return r
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		r.detail = fmt.Sprintf("GET %s answered HTTP %d; the operator answers a request without parameters with 400", url, resp.StatusCode)
		return r
	}
	r.ok, r.detail = true, "GET "+url+" reached the operator"
	return r
}
