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
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// SandboxBaseURL is finX's documented sandbox (staging) host. finX documents no production API
// host, so none is allowed by default: an operator for production lists its host explicitly.
const SandboxBaseURL = "https://api.finx-s.qwist.cloud"

// DefaultAllowedBaseURLs are the base URLs allowed when the operator is given none.
var DefaultAllowedBaseURLs = []string{SandboxBaseURL}

// ErrBaseURLNotAllowed is returned by New for a base URL the allowlist does not contain.
var ErrBaseURLNotAllowed = errors.New("finx: the base URL is not on the operator's allowlist")

// Allowlist is the set of finX base URLs the operator may call, chosen by whoever runs the operator,
// never by the authors of a FinXClient: tokens and client secrets go only to these hosts. Entries
// match exactly on scheme, host and port (a default port may be written or left out) and path, so
// allowing a sandbox on 127.0.0.1:8081 allows no other port of that host.
type Allowlist struct {
	entries map[string]bool
}

// ParseAllowlist reads base URLs (each absolute http or https, without user info, query or
// fragment). An empty list allows nothing.
func ParseAllowlist(urls []string) (*Allowlist, error) {
	a := &Allowlist{entries: map[string]bool{}}
	for _, raw := range urls {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		key, err := canonicalBase(raw)
		if err != nil {
			return nil, fmt.Errorf("allowed finX base URL %q: %w", raw, err)
		}
		a.entries[key] = true
	}
	return a, nil
}

// Allows reports whether baseURL is on the list. A nil Allowlist allows nothing.
func (a *Allowlist) Allows(baseURL string) bool {
	if a == nil {
		return false
	}
	key, err := canonicalBase(baseURL)
	return err == nil && a.entries[key]
}

// String lists the entries (for logs and error messages; base URLs are not secret).
func (a *Allowlist) String() string {
	if a == nil || len(a.entries) == 0 {
		return "(none)"
	}
	out := make([]string, 0, len(a.entries))
	for k := range a.entries {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// canonicalBase reduces a base URL to scheme://host:port/path, lower-cased where URLs are
// case-insensitive, so that spellings of one endpoint compare equal and nothing else does.
func canonicalBase(raw string) (string, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("the scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", errors.New("a host is required")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", errors.New("user info, a query and a fragment are not allowed")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port) + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// guardedTransport refuses every request that does not go to the client's own base URL. New
// already refuses a base URL off the allowlist and redirects are never followed; this is the last
// line should any other code path ever build a request for another host.
type guardedTransport struct {
	base string // canonical scheme://host:port/path of the client's base URL
	next http.RoundTripper
}

func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	origin := *req.URL
	origin.RawQuery, origin.Fragment = "", ""
	key, err := canonicalBase(origin.String())
	if err != nil || (key != t.base && !strings.HasPrefix(key, t.base+"/")) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errors.New("finx: refusing a request outside the client's base URL")
	}
	return t.next.RoundTrip(req)
}
