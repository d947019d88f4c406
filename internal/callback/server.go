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
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// Server runs the callback endpoint as a manager Runnable. It runs on every replica, leader or not:
// the browser may land on any of them, and the hand-off only writes a Secret.
type Server struct {
	Addr    string
	Handoff Handoff
	Log     logr.Logger
	// Ready, if set, is closed once the listener is bound (tests and the demo wait for it).
	Ready chan struct{}
}

// NeedLeaderElection reports false: every replica serves callbacks.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx is cancelled.
func (s *Server) Start(ctx context.Context) error {
	srv := &http.Server{
		Handler:           NewHandler(s.Handoff, s.Log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.Log.Info("callback endpoint listening", "address", ln.Addr().String(), "path", Path)
	if s.Ready != nil {
		close(s.Ready)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
