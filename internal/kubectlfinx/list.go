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
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

var phases = []v1.Phase{v1.PhasePending, v1.PhaseAwaitingAuthorization, v1.PhaseConnected,
	v1.PhaseReauthorizationRequired, v1.PhaseCancelled, v1.PhaseFailed}

type listOptions struct {
	allNamespaces bool
	expiring      string
	phases        []string
	selector      string
	out           printer
}

func (o *Options) listCommand() *cobra.Command {
	var lo listOptions
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List BankConnections, optionally only those in some phases or whose refresh token expires soon",
		Example: "  kubectl finx list -A --expiring 7d\n  kubectl finx list --phase ReauthorizationRequired,Cancelled",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lo.out.validate(); err != nil {
				return err
			}
			var window time.Duration
			if lo.expiring != "" {
				w, err := parseWindow(lo.expiring)
				if err != nil {
					return fmt.Errorf("--expiring: %w", err)
				}
				window = w
			}
			for _, p := range lo.phases {
				if !slices.Contains(phases, v1.Phase(p)) {
					return fmt.Errorf("--phase: unknown phase %q (one of %s)", p, phaseNames())
				}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			opts, err := o.listScope(lo.allNamespaces, lo.selector)
			if err != nil {
				return err
			}
			var list v1.BankConnectionList
			if err := c.List(cmd.Context(), &list, opts...); err != nil {
				return err
			}
			now := o.Now()
			list.Items = slices.DeleteFunc(list.Items, func(b v1.BankConnection) bool {
				if len(lo.phases) > 0 && !slices.Contains(lo.phases, string(b.Status.Phase)) {
					return true
				}
				return lo.expiring != "" && !expiresWithin(&b, now, window)
			})
			if lo.out != "" {
				return lo.out.print(o.Streams.Out, &list, gvkOf("BankConnectionList"))
			}
			if len(list.Items) == 0 {
				fmt.Fprintln(o.Streams.ErrOut, "No BankConnections found.")
				return nil
			}
			return writeList(o.Streams.Out, now, list.Items, lo.allNamespaces)
		},
	}
	cmd.Flags().BoolVarP(&lo.allNamespaces, "all-namespaces", "A", false, "List across all namespaces")
	cmd.Flags().StringVar(&lo.expiring, "expiring", "", "Only connections whose refresh token expires within this window (7d, 36h)")
	cmd.Flags().StringSliceVar(&lo.phases, "phase", nil, "Only connections in these phases ("+phaseNames()+")")
	cmd.Flags().StringVarP(&lo.selector, "selector", "l", "", "Label selector, as in kubectl get -l")
	addOutputFlag(cmd, &lo.out)
	return cmd
}

func phaseNames() string {
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// listScope turns -A, -n and -l into list options.
func (o *Options) listScope(all bool, selector string) ([]client.ListOption, error) {
	var opts []client.ListOption
	if !all {
		ns, err := o.namespace()
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.InNamespace(ns))
	}
	if selector != "" {
		sel, err := parseSelector(selector)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	return opts, nil
}

// expiresWithin reports whether the connection's refresh token expires before now+window. A
// connection without a refresh token has nothing to expire.
func expiresWithin(b *v1.BankConnection, now time.Time, window time.Duration) bool {
	rt := b.Status.RefreshToken
	return rt != nil && rt.ExpiresAt != nil && rt.ExpiresAt.Time.Before(now.Add(window))
}

func writeList(w io.Writer, now time.Time, items []v1.BankConnection, withNamespace bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tPHASE\tREADY\tREFRESH TOKEN EXPIRES\tNEXT REFRESH\tLAST ERROR\tAGE"
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for _, b := range items {
		expires, next := "-", "-"
		if rt := b.Status.RefreshToken; rt != nil {
			if rt.ExpiresAt != nil {
				expires = age(now, rt.ExpiresAt.Time)
			}
			if rt.NextRefreshAt != nil {
				next = age(now, rt.NextRefreshAt.Time)
			}
		}
		lastErr := "-"
		if e := b.Status.LastError; e != nil {
			lastErr = e.Reason
		}
		phase := string(b.Status.Phase)
		if phase == "" {
			phase = "-"
		}
		ready := "Unknown"
		for _, c := range b.Status.Conditions {
			if c.Type == v1.ConditionReady {
				ready = string(c.Status)
			}
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", b.Name, phase, ready, expires, next, lastErr,
			shortDuration(max(now.Sub(b.CreationTimestamp.Time), 0)))
		if withNamespace {
			row = b.Namespace + "\t" + row
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}
