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

// Package logsafe keeps Secret contents out of the manager's log whatever the log level. The
// operator's own code never logs token material; what remains are the libraries below it:
//
//   - client-go logs request and response bodies (Secrets included, as JSON or as a hex dump of
//     protobuf) from verbosity 8, and response headers, where API warnings travel, from 8 too.
//     Wrap caps every verbosity at MaxVerbosity, whatever --zap-log-level or klog's -v say.
//   - API errors and warnings may quote the object they concern (an admission policy's message,
//     a webhook's denial), and that object may be a token Secret. Wrap logs API errors as their
//     reason and HTTP code only, and WarningHandler never logs a warning's text.
package logsafe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
)

// MaxVerbosity is the highest V level that is ever logged. client-go logs request and response
// headers at 8 and bodies from 8 on; 7 still shows every API request's verb, URL and status.
const MaxVerbosity = 7

// Wrap returns a logger that never logs above MaxVerbosity and logs API errors (also when wrapped,
// and also as key/value values) as their reason and code, not their text.
func Wrap(l logr.Logger) logr.Logger {
	return logr.New(&sink{next: l.GetSink()})
}

type sink struct {
	next logr.LogSink
}

var (
	_ logr.LogSink          = &sink{}
	_ logr.CallDepthLogSink = &sink{}
)

func (s *sink) Init(info logr.RuntimeInfo) {
	info.CallDepth++
	s.next.Init(info)
}

func (s *sink) Enabled(level int) bool {
	return level <= MaxVerbosity && s.next.Enabled(level)
}

func (s *sink) Info(level int, msg string, kv ...any) {
	if level > MaxVerbosity {
		return
	}
	s.next.Info(level, msg, redactValues(kv)...)
}

func (s *sink) Error(err error, msg string, kv ...any) {
	s.next.Error(RedactError(err), msg, redactValues(kv)...)
}

func (s *sink) WithValues(kv ...any) logr.LogSink {
	return &sink{next: s.next.WithValues(redactValues(kv)...)}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{next: s.next.WithName(name)}
}

func (s *sink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.next.(logr.CallDepthLogSink); ok {
		return &sink{next: cd.WithCallDepth(depth)}
	}
	return s
}

func redactValues(kv []any) []any {
	var out []any
	for i, v := range kv {
		err, ok := v.(error)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]any(nil), kv...)
		}
		out[i] = RedactError(err)
	}
	if out == nil {
		return kv
	}
	return out
}

// RedactError returns err with the text of any Kubernetes API error in it replaced by that error's
// reason and HTTP code: the message of a denial or conflict may quote the object, a Secret's data
// included. Other errors are returned as they are.
func RedactError(err error) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return err
	}
	inner, _ := status.(error)
	st := status.Status()
	short := fmt.Sprintf("API error %s (HTTP %d; message withheld: it may quote a Secret)", st.Reason, st.Code)
	text := err.Error()
	if inner != nil && strings.Contains(text, inner.Error()) {
		text = strings.ReplaceAll(text, inner.Error(), short)
	} else {
		text = short
	}
	return redacted{text: text}
}

// redacted carries only the safe text: no Unwrap, so nothing can reach the original message.
type redacted struct{ text string }

func (r redacted) Error() string { return r.text }

// WarningHandler handles the API server's warnings without logging their text, which may quote
// the object a request wrote (for example an admission policy's warning about a token Secret).
type WarningHandler struct {
	Log logr.Logger
}

var _ rest.WarningHandlerWithContext = WarningHandler{}

// HandleWarningHeaderWithContext logs that a warning arrived, with its code and agent only.
func (h WarningHandler) HandleWarningHeaderWithContext(_ context.Context, code int, agent string, _ string) {
	if code != 299 {
		return // only 299 is a warning by RFC 7234; others are not meant for people
	}
	h.Log.Info("The API server returned a warning; its text is not logged because it may quote a Secret", "code", code, "agent", agent)
}

// Harden sets the warning handler on a REST config before any client is built from it.
func Harden(cfg *rest.Config, log logr.Logger) *rest.Config {
	cfg.WarningHandler = nil
	cfg.WarningHandlerWithContext = WarningHandler{Log: log}
	return cfg
}
