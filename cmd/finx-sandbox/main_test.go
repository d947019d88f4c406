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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, env(nil), io.Discard)
	if err != nil || o.listen != "127.0.0.1:8081" || o.clientID != "sandbox-client" || o.clientSecret != "sandbox-secret" ||
		o.codeTTL != 5*time.Minute || o.accessTokenTTL != time.Hour || o.refreshTokenTTL != 90*24*time.Hour ||
		o.refreshReuseGrace != 0 || o.enableTestControls || o.publicURL != "" ||
		o.consentLifetime != 180*24*time.Hour || o.syncWithoutCode {
		t.Fatalf("defaults: %v %+v", err, o)
	}
	o, err = parseOptions([]string{"--consent-lifetime=2h"}, env(map[string]string{"FINX_SANDBOX_SYNC_REDIRECT_WITHOUT_CODE": "true"}), io.Discard)
	if err != nil || o.consentLifetime != 2*time.Hour || !o.syncWithoutCode {
		t.Fatalf("consent options: %v %+v", err, o)
	}
	if _, err := parseOptions([]string{"--consent-lifetime=0s"}, env(nil), io.Discard); err == nil {
		t.Error("zero consent lifetime accepted")
	}
	e := env(map[string]string{
		"FINX_SANDBOX_LISTEN": ":9000", "FINX_SANDBOX_PUBLIC_URL": "http://sb.test", "FINX_SANDBOX_CLIENT_ID": "cid",
		"FINX_SANDBOX_CLIENT_SECRET": "env-secret", "FINX_SANDBOX_CODE_TTL": "1m", "FINX_SANDBOX_ACCESS_TOKEN_TTL": "2m",
		"FINX_SANDBOX_REFRESH_TOKEN_TTL": "3m", "FINX_SANDBOX_REFRESH_REUSE_GRACE": "4s", "FINX_SANDBOX_ENABLE_TEST_CONTROLS": "true",
	})
	o, err = parseOptions(nil, e, io.Discard)
	if err != nil || o.listen != ":9000" || o.publicURL != "http://sb.test" || o.clientID != "cid" || o.clientSecret != "env-secret" ||
		o.codeTTL != time.Minute || o.accessTokenTTL != 2*time.Minute || o.refreshTokenTTL != 3*time.Minute ||
		o.refreshReuseGrace != 4*time.Second || !o.enableTestControls {
		t.Fatalf("env: %v %+v", err, o)
	}
	o, err = parseOptions([]string{"--listen", "127.0.0.1:1", "--code-ttl=30s", "--enable-test-controls=false", "--client-secret", "flag-secret"}, e, io.Discard)
	if err != nil || o.listen != "127.0.0.1:1" || o.codeTTL != 30*time.Second || o.enableTestControls || o.clientSecret != "flag-secret" ||
		o.accessTokenTTL != 2*time.Minute {
		t.Fatalf("flags over env: %v %+v", err, o)
	}
	for _, bad := range []map[string]string{
		{"FINX_SANDBOX_CODE_TTL": "soon"}, {"FINX_SANDBOX_ENABLE_TEST_CONTROLS": "perhaps"},
		{"FINX_SANDBOX_REFRESH_REUSE_GRACE": "-1s"},
	} {
		if _, err := parseOptions(nil, env(bad), io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := parseOptions([]string{"--code-ttl=0s"}, env(nil), io.Discard); err == nil {
		t.Error("zero code TTL accepted")
	}
	if _, err := parseOptions(nil, env(map[string]string{"FINX_SANDBOX_CLIENT_SECRET": "x", "FINX_SANDBOX_CODE_TTL": "bad"}), io.Discard); err != nil &&
		strings.Contains(err.Error(), "bad") {
		t.Error("error quotes the env value")
	}
}

func TestDerivePublicURL(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4321}
	for listen, want := range map[string]string{
		"127.0.0.1:0": "http://127.0.0.1:4321", ":8081": "http://localhost:4321",
		"0.0.0.0:8081": "http://localhost:4321", "[::]:8081": "http://localhost:4321", "sandbox.local:80": "http://sandbox.local:4321",
	} {
		if got := derivePublicURL(listen, addr); got != want {
			t.Errorf("%s: %s, want %s", listen, got, want)
		}
	}
}

// lockedBuffer collects stderr from the server goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var errBuf lockedBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"--listen", "127.0.0.1:0", "--enable-test-controls"}, env(nil), outW, &errBuf)
		_ = outW.Close()
		done <- code
	}()
	sc := bufio.NewScanner(outR)
	var base string
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if u, ok := strings.CutPrefix(sc.Text(), "finx-sandbox listening on "); ok {
			base = u
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if base == "" {
		t.Fatalf("no ready line; output %q, stderr %s", lines, errBuf.String())
	}
	if !strings.Contains(strings.Join(lines, "\n"), "client_id=sandbox-client client_secret=sandbox-secret") {
		t.Errorf("credentials not printed: %q", lines)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/ongoing/access", strings.NewReader(`{"redirect_uri":"https://x/cb","user_id":"u"}`))
	req.SetBasicAuth("sandbox-client", "sandbox-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var link struct{ Location string }
	_ = json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	if !strings.HasPrefix(link.Location, base+"/widget/") {
		t.Errorf("location %q does not use the public URL %s", link.Location, base)
	}
	widgetTok := link.Location[strings.Index(link.Location, "token=")+6:]
	if resp, err := http.Get(link.Location); err == nil {
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d; stderr %s", code, errBuf.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown after cancel")
	}
	logs := errBuf.String()
	if !strings.Contains(logs, "path=/ongoing/access status=200") || !strings.Contains(logs, "shutting down") {
		t.Errorf("request log:\n%s", logs)
	}
	if strings.Contains(logs, widgetTok) || strings.Contains(logs, "sandbox-secret") || strings.Contains(logs, "token=") {
		t.Errorf("log leaks a secret:\n%s", logs)
	}
}

func TestRunCustomSecretNotPrinted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errBuf lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0"}, env(map[string]string{"FINX_SANDBOX_CLIENT_SECRET": "very-secret-value"}), &out, &errBuf)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "listening on") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if strings.Contains(out.String()+errBuf.String(), "very-secret-value") || !strings.Contains(out.String(), "client_id=sandbox-client") {
		t.Errorf("output:\n%s\n%s", out.String(), errBuf.String())
	}
	if code := run(context.Background(), []string{"--listen", "256.0.0.1:bad"}, env(nil), io.Discard, io.Discard); code != 1 {
		t.Errorf("bad listen address: exit %d", code)
	}
	if code := run(context.Background(), []string{"--nope"}, env(nil), io.Discard, io.Discard); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, env(nil), &out, io.Discard); code != 0 {
		t.Fatalf("--version: exit %d", code)
	}
	if !strings.HasPrefix(out.String(), "finx-sandbox ") || strings.Contains(out.String(), "listening") {
		t.Errorf("--version printed %q", out.String())
	}
}
