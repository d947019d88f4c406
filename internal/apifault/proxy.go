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

package apifault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"k8s.io/client-go/rest"
)

// Proxy is a reverse proxy on loopback in front of an API server. It authenticates upstream with
// the credentials of the config it was given, so a process that talks to it over plain HTTP
// without credentials acts with exactly that identity's RBAC, through the injector's faults.
type Proxy struct {
	Injector *Injector
	// URL is where the proxy listens (http://127.0.0.1:port).
	URL string
	srv *http.Server
}

// StartProxy listens on addr (127.0.0.1:0 for a free port) and forwards to upstream.
func StartProxy(upstream *rest.Config, addr string) (*Proxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, fmt.Errorf("apifault: upstream host: %w", err)
	}
	rt, err := rest.TransportFor(upstream)
	if err != nil {
		return nil, fmt.Errorf("apifault: upstream transport: %w", err)
	}
	in := NewInjector(rt)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     in,
		FlushInterval: -1, // watches stream
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errDropped) {
				// The client must see a dropped connection, not an answer.
				if c, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
					_ = c.Close()
					return
				}
				panic(http.ErrAbortHandler)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("apifault: %w", err)
	}
	p := &Proxy{Injector: in, URL: "http://" + l.Addr().String(), srv: &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Close stops the proxy and cuts every connection through it.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	return p.srv.Close()
}

// ClientConfig is how a process reaches the API server through the proxy: plain HTTP, no
// credentials of its own.
func (p *Proxy) ClientConfig() *rest.Config { return &rest.Config{Host: p.URL} }
