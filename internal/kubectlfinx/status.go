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
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// maxEvents bounds the events `status` shows, newest first.
const maxEvents = 10

func (o *Options) statusCommand() *cobra.Command {
	var out printer
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a BankConnection in one screen: phase, conditions, expiries, the last error and recent events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c, b, err := o.connection(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out != "" {
				return out.print(o.Streams.Out, b, gvkOf("BankConnection"))
			}
			var events corev1.EventList
			// Events are a convenience here: a user allowed to read the connection but not events still
			// gets the rest of the screen.
			evErr := c.List(cmd.Context(), &events, client.InNamespace(b.Namespace),
				client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("involvedObject.uid", string(b.UID))})
			return writeStatus(o.Streams.Out, o.Now(), b, events.Items, evErr)
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func writeStatus(w io.Writer, now time.Time, b *v1.BankConnection, events []corev1.Event, evErr error) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s:\t%s\n", k, fmt.Sprintf(format, args...)) }
	when := func(t *metav1.Time) string {
		if t == nil {
			return "-"
		}
		return fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), age(now, t.Time))
	}
	kind := b.Spec.ClientRef.Kind
	if kind == "" {
		kind = v1.ClientKindFinXClient
	}
	line("Name", "%s", b.Name)
	line("Namespace", "%s", b.Namespace)
	line("Client", "%s/%s", kind, b.Spec.ClientRef.Name)
	line("User", "%s", b.Spec.UserID)
	if b.Status.FinXUserID != "" {
		line("finX user", "%s", b.Status.FinXUserID)
	}
	phase := string(b.Status.Phase)
	if phase == "" {
		phase = "(not reconciled yet)"
	}
	if b.Spec.Suspend {
		phase += ", suspended"
	}
	line("Phase", "%s", phase)
	line("Ready", "%s", readyText(b))
	line("Authorized", "%s", when(b.Status.AuthorizedAt))
	if rt := b.Status.RefreshToken; rt != nil {
		line("Next refresh", "%s", when(rt.NextRefreshAt))
		line("Refresh token", "expires %s; %d rotations; Secret %s", when(rt.ExpiresAt), rt.Rotations, rt.SecretName)
	} else {
		line("Refresh token", "none")
	}
	if at := b.Status.AccessToken; at != nil {
		line("Access token", "expires %s; Secret %s", when(at.ExpiresAt), at.SecretName)
	}
	if l := b.Status.Link; l != nil {
		line("Widget link", "%s", l.URL)
		line("Link expires", "%s", when(l.ExpiresAt))
	}
	if cs := b.Status.Consent; cs != nil {
		line("Consent", "given %s; renewal due %s; expires %s", when(&cs.GivenAt), when(&cs.RenewalDueAt), when(&cs.ExpiresAt))
		if r := cs.LastRenewal; r != nil {
			line("Last re-consent", "%s (%s): %s", r.Result, age(now, r.Time.Time), r.Message)
		}
	}
	if l := b.Status.ConsentLink; l != nil {
		line("Re-consent link", "%s", l.URL)
		line("Re-consent expires", "%s", when(l.ExpiresAt))
	}
	if a := b.Status.Accounts; a != nil {
		line("Accounts", "%d, read %s; next read %s", a.Count, when(a.ReadAt), when(a.NextReadAt))
		if e := a.LastReadError; e != nil {
			line("Accounts read error", "%s: %s (%s)", e.Reason, e.Message, age(now, e.Time.Time))
		}
	}
	if e := b.Status.LastError; e != nil {
		msg := fmt.Sprintf("%s %s: %s (%s)", e.Operation, e.Reason, e.Message, age(now, e.Time.Time))
		if e.NextAttemptAt != nil {
			msg += "; next attempt " + age(now, e.NextAttemptAt.Time)
		}
		if b.Status.FailedAttempts > 0 {
			msg += fmt.Sprintf("; %d failed attempts in a row", b.Status.FailedAttempts)
		}
		line("Last error", "%s", msg)
	} else {
		line("Last error", "none")
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nConditions:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tSINCE\tMESSAGE")
	for _, c := range b.Status.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, age(now, c.LastTransitionTime.Time), c.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nEvents:")
	if evErr != nil {
		fmt.Fprintf(w, "  (cannot list events: %v)\n", evErr)
		return nil
	}
	if len(events) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	sort.Slice(events, func(i, j int) bool { return eventTime(events[i]).After(eventTime(events[j])) })
	if len(events) > maxEvents {
		events = events[:maxEvents]
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  LAST SEEN\tTYPE\tREASON\tMESSAGE")
	for _, e := range events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", age(now, eventTime(e)), e.Type, e.Reason, strings.TrimSpace(e.Message))
	}
	return tw.Flush()
}

// eventTime is when an event last happened, whichever API (core or events.k8s.io) wrote it.
func eventTime(e corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return e.CreationTimestamp.Time
}

func readyText(b *v1.BankConnection) string {
	for _, c := range b.Status.Conditions {
		if c.Type == v1.ConditionReady {
			if c.Reason == "" {
				return string(c.Status)
			}
			return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
		}
	}
	return "Unknown"
}
