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
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

func (o *Options) linkCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "link NAME",
		Short: "Print the widget link the end user must open",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, b, err := o.connection(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if b.Status.Link == nil || b.Status.Link.URL == "" {
				hint := "the operator has not issued one yet"
				if b.Status.Phase == v1.PhaseConnected {
					hint = "it is Connected; `kubectl finx relink " + b.Name + "` asks for a new link"
				}
				return fmt.Errorf("BankConnection %s/%s has no widget link: %s", b.Namespace, b.Name, hint)
			}
			_, err = fmt.Fprintln(o.Streams.Out, b.Status.Link.URL)
			return err
		},
	}
}

// annotateCommand sets one of the operator's action annotations to a new value; the operator acts
// on each new value once.
func (o *Options) annotateCommand(name, annotation, short string) *cobra.Command {
	var all, allNamespaces bool
	var selector string
	cmd := &cobra.Command{
		Use:   name + " (NAME... | --all | -l SELECTOR)",
		Short: short + " (sets the " + annotation + " annotation)",
		RunE: func(cmd *cobra.Command, args []string) error {
			byName := len(args) > 0
			if n := count(byName, all, selector != ""); n != 1 {
				return errors.New("name the connections, or pass --all or -l SELECTOR (exactly one of these)")
			}
			if allNamespaces && byName {
				return errors.New("-A selects connections with --all or -l, not by name")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var targets []v1.BankConnection
			if byName {
				ns, err := o.namespace()
				if err != nil {
					return err
				}
				for _, n := range args {
					targets = append(targets, v1.BankConnection{})
					t := &targets[len(targets)-1]
					t.Namespace, t.Name = ns, n
				}
			} else {
				opts, err := o.listScope(allNamespaces, selector)
				if err != nil {
					return err
				}
				var list v1.BankConnectionList
				if err := c.List(cmd.Context(), &list, opts...); err != nil {
					return err
				}
				targets = list.Items
				if len(targets) == 0 {
					fmt.Fprintln(o.Streams.ErrOut, "No BankConnections found.")
					return nil
				}
			}
			// A fresh value each time: the operator remembers the last value it handled.
			value := o.Now().UTC().Format(time.RFC3339Nano)
			var failed int
			for i := range targets {
				t := &targets[i]
				patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, annotation, value)
				err := c.Patch(cmd.Context(), t, client.RawPatch("application/merge-patch+json", patch))
				if err != nil {
					failed++
					fmt.Fprintf(o.Streams.ErrOut, "bankconnection %s/%s: %v\n", t.Namespace, t.Name, err)
					continue
				}
				fmt.Fprintf(o.Streams.Out, "bankconnection %s/%s: %s requested\n", t.Namespace, t.Name, name)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d connections could not be annotated", failed, len(targets))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "Every connection in the namespace (or, with -A, in every namespace)")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Connections matching this label selector")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "With --all or -l: across all namespaces")
	return cmd
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func parseSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("label selector %q: %w", s, err)
	}
	return sel, nil
}
