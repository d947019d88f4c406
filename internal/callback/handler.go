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

package callback

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-logr/logr"
)

const (
	// Path is where finX redirects to (spec.redirectURI should end in it).
	Path = "/callback"
	// maxBodyBytes bounds a POSTed form; a genuine one is a few hundred bytes.
	maxBodyBytes = 16 << 10
	// maxQueryBytes bounds the query string of a GET.
	maxQueryBytes = 16 << 10
	// deliverTimeout bounds the hand-off so a slow API server cannot pin connections.
	deliverTimeout = 10 * time.Second
)

// NewHandler returns the callback endpoint's HTTP handler.
func NewHandler(h Handoff, log logr.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, &handler{handoff: h, log: log})
	return recoverPanics(mux, log)
}

type handler struct {
	handoff Handoff
	log     logr.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status, outcome := h.serve(w, r)
	observe(status, outcome)
	// Never log the query or form: they carry the code and state.
	h.log.Info("callback", "method", r.Method, "status", status, "outcome", outcome, "duration", time.Since(start).String())
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) (int, string) {
	values, err := readParams(w, r)
	if err != nil {
		var ie *inputError
		if errors.As(err, &ie) {
			return page(w, http.StatusBadRequest, "This request cannot be processed", ie.msg), "bad-request"
		}
		if errors.Is(err, errMethod) {
			w.Header().Set("Allow", "GET, POST")
			return page(w, http.StatusMethodNotAllowed, "Method not allowed", "Use GET (the finX redirect) or POST (a forwarded form)."), "method"
		}
		return page(w, http.StatusRequestEntityTooLarge, "Request too large", "The request is larger than any genuine finX redirect."), "too-large"
	}
	req, err := parseRequest(values)
	if err != nil {
		return page(w, http.StatusBadRequest, "This request cannot be processed", err.Error()), "bad-request"
	}
	ctx, cancel := context.WithTimeout(r.Context(), deliverTimeout)
	defer cancel()
	res, err := h.handoff.Deliver(ctx, req)
	switch {
	case errors.Is(err, ErrUnknownState):
		return page(w, http.StatusNotFound, "Unknown authorisation link",
			"This link does not belong to any pending bank connection, or it was replaced by a newer one. Start again from your application."), "unknown-state"
	case errors.Is(err, ErrStateUsed):
		return page(w, http.StatusConflict, "Link already used",
			"This authorisation link has already been used. Start again from your application if your bank is not connected."), "state-used"
	case errors.Is(err, ErrNoCode):
		return page(w, http.StatusBadRequest, "This request cannot be processed", noCodeMessage), "bad-request"
	case errors.Is(err, ErrLinkExpired):
		return page(w, http.StatusGone, "Link expired",
			"This authorisation link has expired. Your application will offer a new one."), "expired"
	case err != nil:
		h.log.Error(err, "callback hand-off failed")
		return page(w, http.StatusServiceUnavailable, "Temporarily unavailable",
			"The result could not be recorded. Please reload this page in a moment."), "unavailable"
	}
	outcome := outcomeOf(req)
	if res.ReturnURL != "" {
		target, err := returnTarget(res, req)
		if err == nil {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Referrer-Policy", "no-referrer")
			http.Redirect(w, r, target, http.StatusSeeOther)
			return http.StatusSeeOther, outcome
		}
		h.log.Error(err, "returnURL unusable; showing the result page instead")
	}
	title, msg := resultText(req)
	return page(w, http.StatusOK, title, msg), outcome
}

var errMethod = errors.New("method not allowed")

func readParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > maxQueryBytes {
			return nil, errors.New("query too large")
		}
		v, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, badInput("The query string is malformed.")
		}
		return v, nil
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, badInput("The form is malformed.")
		}
		return r.PostForm, nil
	}
	return nil, errMethod
}

func outcomeOf(r Request) string {
	switch {
	case r.Success:
		return "success"
	case r.Cancel:
		return "cancel"
	}
	return "failure"
}

// returnTarget builds the application's URL: its own state, success and cancel, never the code.
func returnTarget(res Result, req Request) (string, error) {
	u, err := url.Parse(res.ReturnURL)
	if err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("returnURL is not an absolute http(s) URL")
	}
	q := u.Query()
	if res.AppState != "" {
		q.Set("state", res.AppState)
	}
	q.Set("success", strconv.FormatBool(req.Success))
	q.Set("cancel", strconv.FormatBool(req.Cancel))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func resultText(r Request) (string, string) {
	switch {
	case r.Success:
		return "Bank connected", "Your bank account access was authorised. You can close this window."
	case r.Cancel:
		return "Connection cancelled", "You cancelled the bank connection. Your application can offer you a new attempt."
	}
	return "Connection not completed", "The bank connection was not completed. Your application can offer you a new attempt."
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style>
</head><body><main><h1 id="callback-title">{{.Title}}</h1><p id="callback-message">{{.Message}}</p></main></body></html>
`))

func page(w http.ResponseWriter, status int, title, message string) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ Title, Message string }{title, message})
	return status
}

func recoverPanics(next http.Handler, log logr.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v) // net/http's own way to abort a response
				}
				log.Error(fmt.Errorf("panic: %v", v), "callback handler panicked")
				page(w, http.StatusInternalServerError, "Internal error", "Something went wrong. Please try again.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
