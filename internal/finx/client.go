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

package finx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Fixed endpoint names passed to Config.Observe and used in errors.
const (
	EndpointOngoingAccess = "ongoing_access"
	EndpointOngoingSync   = "ongoing_sync"
	EndpointToken         = "token"
	EndpointAccounts      = "accounts"
	EndpointTransactions  = "transactions"
)

// Defaults applied by New.
const (
	DefaultTimeout           = 30 * time.Second
	DefaultRequestsPerSecond = 10
	DefaultBurst             = 20
	DefaultUserAgent         = "finx-operator"
	DefaultMaxResponseBytes  = 1 << 20
)

// Config configures a Client.
type Config struct {
	BaseURL           string // e.g. https://api.finx-s.qwist.cloud
	ClientID          string
	ClientSecret      string
	Timeout           time.Duration // per call, including reading the body; default 30s
	RequestsPerSecond float64       // client-side rate limit; 0 = 10
	Burst             int           // default 20
	UserAgent         string        // default "finx-operator"
	MaxResponseBytes  int64         // default 1 MiB; larger bodies are ClassMalformedResponse
	// HTTPClient overrides the transport. It is copied; redirects are never
	// followed, so client credentials cannot be replayed to another host.
	HTTPClient *http.Client
	// Allowlist, if set, is the set of base URLs this client may be built for;
	// New refuses any other with ErrBaseURLNotAllowed, before anything is sent.
	Allowlist *Allowlist
	// Observe, if set, is called once per HTTP attempt with a fixed endpoint
	// name, the status (0 on transport errors) and the duration. It is not
	// called when the rate limiter gave up before a request was sent.
	Observe func(endpoint string, status int, d time.Duration)
}

// Client talks to one finX installation. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	hc      *http.Client
	limiter *rate.Limiter
}

// New validates cfg and applies defaults.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("finx: BaseURL must be an absolute http or https URL")
	}
	if base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, errors.New("finx: BaseURL must not contain user info, a query or a fragment")
	}
	if cfg.Allowlist != nil && !cfg.Allowlist.Allows(cfg.BaseURL) {
		return nil, ErrBaseURLNotAllowed
	}
	guardKey, err := canonicalBase(base.String())
	if err != nil {
		return nil, fmt.Errorf("finx: BaseURL: %w", err)
	}
	if cfg.Timeout < 0 || cfg.RequestsPerSecond < 0 || cfg.Burst < 0 || cfg.MaxResponseBytes < 0 {
		return nil, errors.New("finx: Timeout, RequestsPerSecond, Burst and MaxResponseBytes must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	// A redirect is never followed: it could carry the Basic credentials or a token to a host
	// nobody allowed. The 3xx comes back as an error like any other non-2xx answer.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = guardedTransport{base: guardKey, next: next}
	return &Client{cfg: cfg, base: base, hc: hc,
		limiter: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), cfg.Burst)}, nil
}

// call describes one API request.
type call struct {
	endpoint string
	method   string
	path     string
	query    url.Values
	body     any
	bearer   string // empty: HTTP Basic client authentication
	// secrets are values in this request that must never reach an error string.
	secrets []string
}

// response is a 2xx answer.
type response struct {
	body   []byte
	status int
}

// do performs one HTTP attempt and returns a 2xx response.
func (c *Client) do(ctx context.Context, cl call) (response, error) {
	red := newRedactor(append(cl.secrets, c.cfg.ClientSecret)...)
	if err := c.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // keep errors.Is(err, context.Canceled) working
		} else if _, ok := ctx.Deadline(); ok {
			// rate.Limiter gives up early when the wait would pass the deadline.
			err = fmt.Errorf("%w: the rate-limit wait would pass it", context.DeadlineExceeded)
		}
		return response{}, newError(cl.endpoint, 0, ClassRetryable, "rate limiter wait aborted", err, red)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	var body io.Reader
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return response{}, newError(cl.endpoint, 0, ClassBadRequest, "encoding request", err, red)
		}
		body = bytes.NewReader(b)
	}
	u := c.base.JoinPath(cl.path)
	u.RawQuery = cl.query.Encode()
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return response{}, newError(cl.endpoint, 0, ClassBadRequest, "building request", err, red)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+cl.bearer)
	} else {
		req.SetBasicAuth(c.cfg.ClientID, c.cfg.ClientSecret)
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.observe(cl.endpoint, 0, time.Since(start))
		// Timeouts, refused and reset connections, and a connection dropped
		// before any response all land here; the request may or may not have
		// taken effect on the server.
		return response{}, newError(cl.endpoint, 0, ClassRetryable, "request failed", stripURL(err), red)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if readErr != nil {
		// A body cut off mid-way is no answer: for a 2xx the server has acted
		// (a refresh has rotated) but the result is lost, so report it like a
		// dropped connection, with status 0.
		c.observe(cl.endpoint, 0, time.Since(start))
		return response{}, newError(cl.endpoint, 0, ClassRetryable, "reading response body", stripURL(readErr), red)
	}
	c.observe(cl.endpoint, resp.StatusCode, time.Since(start))
	oversize := int64(len(raw)) > c.cfg.MaxResponseBytes
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if oversize {
			return response{}, newError(cl.endpoint, resp.StatusCode, ClassMalformedResponse,
				"response body exceeds the configured maximum size", nil, red)
		}
		return response{body: raw, status: resp.StatusCode}, nil
	}
	if oversize {
		raw = raw[:c.cfg.MaxResponseBytes]
	}
	return response{}, statusError(cl, resp, raw, red)
}

func (c *Client) observe(endpoint string, status int, d time.Duration) {
	if c.cfg.Observe != nil {
		c.cfg.Observe(endpoint, status, d)
	}
}

// stripURL drops *url.Error's URL and operation. The URL has no secrets
// today, but keeping it out makes that a property of the code, not of callers.
func stripURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// localError reports a problem found before any request was sent.
func localError(endpoint, msg string) error {
	return &Error{Endpoint: endpoint, Class: ClassBadRequest, Message: msg}
}
