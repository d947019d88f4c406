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

package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// apiHandler handles one API request whose body (if any) was already read.
type apiHandler func(w http.ResponseWriter, r *http.Request, body []byte)

// api wraps an endpoint with method checking, the body limit, fault injection
// and stats. Faults are applied before client authentication, the way a
// gateway or overloaded backend in front of finX would behave.
func (s *Server) api(endpoint, method string, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		var grant string
		var faulted, dropped, recorded bool
		defer func() {
			if !recorded {
				s.record(endpoint, grant, sw.status, faulted, dropped)
			}
		}()

		if r.Method != method {
			writeError(sw, errMethod(method))
			return
		}
		var body []byte
		if method == http.MethodPost {
			b, err := io.ReadAll(http.MaxBytesReader(sw, r.Body, maxBodyBytes))
			if err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					writeError(sw, errTooLarge())
				} else {
					writeError(sw, errBadRequest("the request body could not be read"))
				}
				return
			}
			body = b
			if endpoint == EndpointToken {
				grant = peekGrant(body)
			}
		}

		f, ok := s.takeFault(endpoint, grant)
		if !ok {
			h(sw, r, body)
			return
		}
		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				dropped = true // the client went away; nothing is sent
				return
			}
		}
		if f.Hold != nil {
			select {
			case <-f.Hold:
			case <-r.Context().Done():
				dropped = true
				return
			}
		}
		if f.RetryAfter > 0 {
			sw.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(f.RetryAfter), 10))
		}
		switch {
		case f.DropAfterRotation:
			h(&discardWriter{header: http.Header{}}, r, body)
			// Counted before the connection closes: the client sees the drop at once and may
			// read the counters straight away.
			s.record(endpoint, grant, sw.status, faulted, true)
			recorded = true
			dropConnection(sw)
		case f.Status != 0 && f.StatusAfterWork:
			h(&discardWriter{header: http.Header{}}, r, body)
			faulted = true
			writeError(sw, errFault(endpoint, grant, f.Status))
		case f.Status != 0:
			faulted = true
			writeError(sw, errFault(endpoint, grant, f.Status))
		case f.AnswerLatency > 0:
			// The work is done at once; only the answer is late, as on a slow way back.
			buf := &bufferedWriter{header: http.Header{}}
			h(buf, r, body)
			t := time.NewTimer(f.AnswerLatency)
			select {
			case <-t.C:
				buf.flushTo(sw)
			case <-r.Context().Done():
				t.Stop()
				dropped = true
			}
		default:
			h(sw, r, body)
		}
	})
}

// dropConnection closes the client connection without a response. Hijacking is
// only possible on HTTP/1; elsewhere ErrAbortHandler makes net/http reset the
// stream, which the client sees the same way.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func peekGrant(body []byte) string {
	var g struct {
		GrantType string `json:"grant_type"`
	}
	if json.Unmarshal(body, &g) != nil {
		return ""
	}
	return g.GrantType
}

// clientAuthOK checks HTTP Basic client credentials in constant time.
func (s *Server) clientAuthOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret))
	return idOK&secretOK == 1
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// decodeJSON decodes a single JSON object into v. Unknown fields are ignored.
// Error descriptions name fields but never quote the input.
func decodeJSON(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			if te.Field == "" {
				e := errBadRequest("the request body must be a JSON object")
				return &e
			}
			e := errBadRequest("field " + te.Field + " has the wrong type")
			return &e
		}
		e := errBadRequest("the request body is not valid JSON")
		return &e
	}
	if _, err := dec.Token(); err != io.EOF {
		e := errBadRequest("the request body must contain exactly one JSON object")
		return &e
	}
	return nil
}

// statusWriter remembers the status for stats and the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection for Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter swallows a response that will never be sent.
// bufferedWriter holds a response until it is sent.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedWriter) WriteHeader(code int)        { b.status = code }

func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
