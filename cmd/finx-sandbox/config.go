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

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/finx-operator/finx-operator/internal/sandbox"
)

// options is the parsed command line. Every flag can also come from an
// environment variable; an explicitly set flag wins over the variable.
type options struct {
	listen             string
	publicURL          string
	clientID           string
	clientSecret       string
	codeTTL            time.Duration
	accessTokenTTL     time.Duration
	refreshTokenTTL    time.Duration
	refreshReuseGrace  time.Duration
	consentLifetime    time.Duration
	syncWithoutCode    bool
	enableTestControls bool
	version            bool // print the version and exit
}

type flagSpec struct {
	name, env, usage string
}

var specs = []flagSpec{
	{"listen", "FINX_SANDBOX_LISTEN", "address to listen on"},
	{"public-url", "FINX_SANDBOX_PUBLIC_URL", "base URL that widget links point at (default http://<listen>)"},
	{"client-id", "FINX_SANDBOX_CLIENT_ID", "client id accepted with HTTP Basic"},
	{"client-secret", "FINX_SANDBOX_CLIENT_SECRET", "client secret accepted with HTTP Basic"},
	{"code-ttl", "FINX_SANDBOX_CODE_TTL", "authorization code lifetime"},
	{"access-token-ttl", "FINX_SANDBOX_ACCESS_TOKEN_TTL", "access token lifetime"},
	{"refresh-token-ttl", "FINX_SANDBOX_REFRESH_TOKEN_TTL", "refresh token lifetime (each rotated token gets a fresh one)"},
	{"refresh-reuse-grace", "FINX_SANDBOX_REFRESH_REUSE_GRACE", "how long a spent refresh token may be replayed for the same successor (0 = never)"},
	{"consent-lifetime", "FINX_SANDBOX_CONSENT_LIFETIME", "how long a bank consent lasts before autosync fails until the user renews it"},
	{"sync-redirect-without-code", "FINX_SANDBOX_SYNC_REDIRECT_WITHOUT_CODE", "redirect a completed /ongoing/sync flow with success and state only, no code"},
	{"enable-test-controls", "FINX_SANDBOX_ENABLE_TEST_CONTROLS", "serve the unauthenticated /_sandbox/ test-control routes"},
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	o := options{
		listen:          "127.0.0.1:8081",
		clientID:        sandbox.DefaultClientID,
		clientSecret:    sandbox.DefaultClientSecret,
		codeTTL:         sandbox.DefaultCodeTTL,
		accessTokenTTL:  sandbox.DefaultAccessTokenTTL,
		refreshTokenTTL: sandbox.DefaultRefreshTokenTTL,
		consentLifetime: sandbox.DefaultConsentLifetime,
	}
	fs := flag.NewFlagSet("finx-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := map[string]any{
		"listen": &o.listen, "public-url": &o.publicURL, "client-id": &o.clientID, "client-secret": &o.clientSecret,
		"code-ttl": &o.codeTTL, "access-token-ttl": &o.accessTokenTTL, "refresh-token-ttl": &o.refreshTokenTTL,
		"refresh-reuse-grace": &o.refreshReuseGrace, "enable-test-controls": &o.enableTestControls,
		"consent-lifetime": &o.consentLifetime, "sync-redirect-without-code": &o.syncWithoutCode,
	}
	for _, s := range specs {
		usage := s.usage + " (env " + s.env + ")"
		switch p := targets[s.name].(type) {
		case *string:
			fs.StringVar(p, s.name, *p, usage)
		case *time.Duration:
			fs.DurationVar(p, s.name, *p, usage)
		case *bool:
			fs.BoolVar(p, s.name, *p, usage)
		}
	}
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, errors.New("unexpected arguments after the flags")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range specs {
		v := getenv(s.env)
		if set[s.name] || v == "" {
			continue
		}
		// Values are not quoted in errors: one of them is the client secret.
		switch p := targets[s.name].(type) {
		case *string:
			*p = v
		case *time.Duration:
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return options{}, fmt.Errorf("%s must be a non-negative Go duration such as 90s or 2160h", s.env)
			}
			*p = d
		case *bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return options{}, fmt.Errorf("%s must be true or false", s.env)
			}
			*p = b
		}
	}
	for name, d := range map[string]time.Duration{"code-ttl": o.codeTTL, "access-token-ttl": o.accessTokenTTL,
		"refresh-token-ttl": o.refreshTokenTTL, "consent-lifetime": o.consentLifetime} {
		if d <= 0 {
			return options{}, fmt.Errorf("--%s must be positive", name)
		}
	}
	if o.refreshReuseGrace < 0 {
		return options{}, errors.New("--refresh-reuse-grace must not be negative")
	}
	if o.clientID == "" || o.clientSecret == "" {
		return options{}, errors.New("--client-id and --client-secret must not be empty")
	}
	return o, nil
}
