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

// Command finx-sandbox serves the in-memory finX API stand-in from
// internal/sandbox for demos and integration tests. See docs/sandbox.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/finx-operator/finx-operator/internal/sandbox"
	"github.com/finx-operator/finx-operator/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run serves until ctx is cancelled and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) { // -h printed the usage
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "finx-sandbox:", err)
		return 2
	}
	if o.version {
		fmt.Fprintln(stdout, "finx-sandbox", version.Version)
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		log.Error("listen failed", "address", o.listen, "error", err)
		return 1
	}
	public := o.publicURL
	if public == "" {
		public = derivePublicURL(o.listen, ln.Addr())
	}
	public = strings.TrimRight(public, "/")

	sb := sandbox.New(sandbox.Config{
		PublicURL: public, ClientID: o.clientID, ClientSecret: o.clientSecret,
		CodeTTL: o.codeTTL, AccessTokenTTL: o.accessTokenTTL, RefreshTokenTTL: o.refreshTokenTTL,
		RefreshReuseGrace: o.refreshReuseGrace, EnableTestControls: o.enableTestControls, Logger: log,
		ConsentLifetime: o.consentLifetime, SyncRedirectWithoutCode: o.syncWithoutCode,
	})
	srv := &http.Server{
		Handler:           sb.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// The sandbox credentials are meant to be copied into demo configs, so
	// the defaults are printed; a custom secret is a real secret and is not.
	secret := o.clientSecret
	if secret != sandbox.DefaultClientSecret {
		secret = "(custom, not shown)"
	}
	fmt.Fprintf(stdout, "finx-sandbox client_id=%s client_secret=%s\n", o.clientID, secret)
	if o.enableTestControls {
		fmt.Fprintln(stdout, "finx-sandbox test controls enabled under /_sandbox/ (no authentication)")
	}
	fmt.Fprintf(stdout, "finx-sandbox listening on %s\n", public)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("server failed", "error", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Error("shutdown incomplete", "error", err)
		return 1
	}
	return 0
}

// derivePublicURL is http://<listen>, with the actual port (for ":0") and a
// reachable host when listening on all interfaces.
func derivePublicURL(listen string, addr net.Addr) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = ""
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
