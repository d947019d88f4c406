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

import "net/http"

// Endpoint names used by faults and stats.
const (
	EndpointOngoingAccess = "ongoing_access"
	EndpointOngoingSync   = "ongoing_sync"
	EndpointOnetimeAccess = "onetime_access"
	EndpointToken         = "token"
	EndpointAccounts      = "accounts"
	EndpointTransactions  = "transactions"
	EndpointWidget        = "widget"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	mux.Handle("/ongoing/access", s.api(EndpointOngoingAccess, http.MethodPost, s.handleOngoingAccess))
	mux.Handle("/ongoing/sync", s.api(EndpointOngoingSync, http.MethodPost, s.handleOngoingSync))
	mux.Handle("/onetime/access", s.api(EndpointOnetimeAccess, http.MethodPost, s.handleOnetimeAccess))
	mux.Handle("/auth/token", s.api(EndpointToken, http.MethodPost, s.handleToken))

	mux.Handle("/rest/accounts", s.api(EndpointAccounts, http.MethodGet, s.handleListAccounts))
	mux.Handle("/rest/accounts/{id}", s.api(EndpointAccounts, http.MethodGet, s.handleGetAccount))
	mux.Handle("/rest/accounts/{id}/transactions", s.api(EndpointTransactions, http.MethodGet, s.handleAccountTransactions))
	mux.Handle("/rest/transactions", s.api(EndpointTransactions, http.MethodGet, s.handleTransactions))

	mux.HandleFunc("/widget/{flow}", s.widget(http.MethodGet, s.handleWidgetStart))
	mux.HandleFunc("/widget/{flow}/bank", s.widget(http.MethodPost, s.handleWidgetBank))
	mux.HandleFunc("/widget/{flow}/login", s.widget(http.MethodPost, s.handleWidgetLogin))
	mux.HandleFunc("/widget/{flow}/approve", s.widget(http.MethodPost, s.handleWidgetApprove))
	mux.HandleFunc("/widget/{flow}/cancel", s.widget(http.MethodPost, s.handleWidgetCancel))

	if s.cfg.EnableTestControls {
		s.controlRoutes(mux)
	}

	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("no such endpoint"))
	})
	return mux
}
