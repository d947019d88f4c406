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

// Package kubectlfinx is the `kubectl finx` plugin: status, list, link, refresh, relink and check
// for BankConnections. It only reads objects and sets the operator's one-off action annotations;
// it never reads a token Secret, so it needs no more than the tenant role.
package kubectlfinx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
	"github.com/finx-operator/finx-operator/internal/version"
)

// Options is what every command shares: the kubeconfig flags, the streams and the clock.
type Options struct {
	Flags   *genericclioptions.ConfigFlags
	Streams genericiooptions.IOStreams
	// Now is the clock used for relative times and action annotation values.
	Now func() time.Time
	// HTTPClient is used by `check` to reach the callback endpoint.
	HTTPClient *http.Client
}

// NewCommand returns the root command, named as kubectl shows it ("kubectl finx").
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{
		Flags:      genericclioptions.NewConfigFlags(true),
		Streams:    streams,
		Now:        time.Now,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}
	return o.Command()
}

// Command builds the command tree around o.
func (o *Options) Command() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-finx",
		Short: "Inspect and act on finx-operator BankConnections",
		Long: "kubectl finx shows BankConnections in one screen, lists them by phase or expiry, prints " +
			"widget links, asks the operator for a refresh or a new link, and checks an installation.",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl finx"},
	}
	root.SetVersionTemplate("kubectl-finx {{.Version}}\n")
	root.SetOut(o.Streams.Out)
	root.SetErr(o.Streams.ErrOut)
	o.Flags.AddFlags(root.PersistentFlags())
	root.AddCommand(o.statusCommand(), o.listCommand(), o.linkCommand(),
		o.annotateCommand("refresh", v1.AnnotationRefresh, "Ask the operator to refresh the tokens now"),
		o.annotateCommand("relink", v1.AnnotationRelink, "Ask the operator for a new widget link now"),
		o.checkCommand())
	return root
}

// Scheme knows the core types, CRDs (for `check`) and the operator's API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	_ = v1.AddToScheme(s)
	return s
}

func (o *Options) client() (client.Client, error) {
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: Scheme()})
}

// clientIn returns a client and the namespace commands act in.
func (o *Options) clientIn() (client.Client, string, error) {
	c, err := o.client()
	if err != nil {
		return nil, "", err
	}
	ns, err := o.namespace()
	return c, ns, err
}

// connection reads the named BankConnection in the namespace commands act in.
func (o *Options) connection(ctx context.Context, name string) (client.Client, *v1.BankConnection, error) {
	c, ns, err := o.clientIn()
	if err != nil {
		return nil, nil, err
	}
	var b v1.BankConnection
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
		return nil, nil, err
	}
	return c, &b, nil
}

// namespace is -n, else the kubeconfig context's namespace, else "default", as kubectl does.
func (o *Options) namespace() (string, error) {
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// printer writes objects as -o json or -o yaml; "" means the command's own human output.
type printer string

func addOutputFlag(cmd *cobra.Command, p *printer) {
	cmd.Flags().StringVarP((*string)(p), "output", "o", "", "Output format: json or yaml (default: a human-readable view)")
}

func (p printer) validate() error {
	switch p {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use json or yaml", string(p))
}

// print writes obj with its apiVersion and kind set, as kubectl get -o does.
func (p printer) print(w io.Writer, obj runtime.Object, gvk schema.GroupVersionKind) error {
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	switch p {
	case "json":
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return errors.New("no output format")
}

func gvkOf(kind string) schema.GroupVersionKind { return v1.GroupVersion.WithKind(kind) }

// age formats the time between t and now as kubectl does (5s, 3m, 2h, 4d), with "in " for the future.
func age(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + shortDuration(-d)
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// parseWindow reads a look-ahead window: a Go duration (36h, 90m) or a number of days (7d).
func parseWindow(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == days {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 7d or 36h", s)
	}
	return d, nil
}
