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

package logsafe

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

const secret = "refresh-token-7f3c9a"

// verbose returns a zap logger at the highest level there is, wrapped, and what it writes.
func verbose() (*bytes.Buffer, func(string, ...any), func(error, string, ...any), func(int) bool) {
	buf := &bytes.Buffer{}
	l := Wrap(zap.New(zap.WriteTo(buf), zap.Level(zapcore.Level(-127))))
	return buf, func(msg string, kv ...any) { l.V(10).Info(msg, kv...) }, l.Error, func(v int) bool { return l.V(v).Enabled() }
}

func TestVerbosityIsCapped(t *testing.T) {
	buf, infoV10, _, enabled := verbose()
	infoV10("Response Body", "body", secret)
	if strings.Contains(buf.String(), secret) {
		t.Fatal("a V(10) line was logged")
	}
	if !enabled(MaxVerbosity) || enabled(MaxVerbosity+1) || enabled(8) {
		t.Fatalf("Enabled: V(%d)=%v V(8)=%v", MaxVerbosity, enabled(MaxVerbosity), enabled(8))
	}
}

func TestAPIErrorsAreLoggedWithoutTheirText(t *testing.T) {
	buf, _, logError, _ := verbose()
	denied := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "alice-finx-refresh",
		fmt.Errorf("policy says no to data.refresh_token=%s", secret))
	wrapped := fmt.Errorf("committing the refresh: %w", denied)
	logError(wrapped, "Reconciler error", "cause", denied)
	out := buf.String()
	if strings.Contains(out, secret) || strings.Contains(out, "policy says no") {
		t.Fatalf("the API error's text reached the log: %s", out)
	}
	for _, want := range []string{"committing the refresh: API error Forbidden (HTTP 403", "Reconciler error"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
	plain := fmt.Errorf("finx: token endpoint answered 500")
	if RedactError(plain) != plain {
		t.Error("errors that are not API errors are kept as they are")
	}
}

func TestWarningTextIsNotLogged(t *testing.T) {
	buf := &bytes.Buffer{}
	h := WarningHandler{Log: Wrap(zap.New(zap.WriteTo(buf)))}
	h.HandleWarningHeaderWithContext(context.Background(), 299, "-", "the Secret holds "+secret)
	if strings.Contains(buf.String(), secret) || !strings.Contains(buf.String(), "warning") {
		t.Fatalf("log: %s", buf.String())
	}
}
