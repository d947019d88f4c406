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
	"context"
	"net/http"
	"net/url"
)

// AccessRequest is the body of POST /ongoing/access. Empty optional fields
// are omitted so finX applies its documented defaults.
type AccessRequest struct {
	UserID, RedirectURI, State, TrackingID, Language, ProviderID string
	Accounts                                                     []string // sent as [{"id": …}]
	AccountTypes                                                 []string
	AllowMultiSelection                                          *bool
	SyncPeriod                                                   *int32
	SaveSecrets                                                  *bool
}

// SyncRequest is the body of POST /ongoing/sync.
type SyncRequest struct {
	AccessRequest
	AccountIDs []string // finX account_id values
}

// Link is a widget link. Location is where to send the user; ID is the flow
// id that comes back in the callback as flow_id.
type Link struct {
	Location, ID string
}

type accountRef struct {
	ID string `json:"id"`
}

type accessWire struct {
	RedirectURI         string       `json:"redirect_uri"`
	UserID              string       `json:"user_id"`
	State               string       `json:"state,omitempty"`
	TrackingID          string       `json:"tracking_id,omitempty"`
	Language            string       `json:"language,omitempty"`
	ProviderID          string       `json:"provider_id,omitempty"`
	Accounts            []accountRef `json:"accounts,omitempty"`
	AccountTypes        []string     `json:"account_types,omitempty"`
	AllowMultiSelection *bool        `json:"allow_multi_selection,omitempty"`
	SyncPeriod          *int32       `json:"sync_period,omitempty"`
	SaveSecrets         *bool        `json:"save_secrets,omitempty"`
	AccountIDs          []string     `json:"account_ids,omitempty"`
}

func (r AccessRequest) wire() accessWire {
	w := accessWire{RedirectURI: r.RedirectURI, UserID: r.UserID, State: r.State, TrackingID: r.TrackingID,
		Language: r.Language, ProviderID: r.ProviderID, AccountTypes: r.AccountTypes,
		AllowMultiSelection: r.AllowMultiSelection, SyncPeriod: r.SyncPeriod, SaveSecrets: r.SaveSecrets}
	for _, id := range r.Accounts {
		w.Accounts = append(w.Accounts, accountRef{ID: id})
	}
	return w
}

// CreateOngoingAccess creates a widget link for a new ongoing (autosync) access.
func (c *Client) CreateOngoingAccess(ctx context.Context, r AccessRequest) (Link, error) {
	return c.createLink(ctx, EndpointOngoingAccess, "ongoing/access", r.wire(), r)
}

// CreateOngoingSync creates a widget link that re-syncs (re-consents) an
// existing user's accounts.
func (c *Client) CreateOngoingSync(ctx context.Context, r SyncRequest) (Link, error) {
	w := r.wire()
	w.AccountIDs = r.AccountIDs
	return c.createLink(ctx, EndpointOngoingSync, "ongoing/sync", w, r.AccessRequest)
}

func (c *Client) createLink(ctx context.Context, endpoint, path string, body accessWire, r AccessRequest) (Link, error) {
	if r.UserID == "" || r.RedirectURI == "" {
		return Link{}, localError(endpoint, "UserID and RedirectURI are required")
	}
	resp, err := c.do(ctx, call{endpoint: endpoint, method: http.MethodPost, path: path, body: body,
		secrets: []string{r.State}})
	if err != nil {
		return Link{}, err
	}
	l, reason := parseLink(resp.body)
	if reason != "" {
		return Link{}, malformed(endpoint, resp.status, reason)
	}
	return l, nil
}

// parseLink validates a flow-creation response: location must be an
// absolute http(s) URL and id non-empty.
func parseLink(raw []byte) (Link, string) {
	var w struct {
		Location string `json:"location"`
		ID       string `json:"id"`
	}
	if reason := decodeStrict(raw, &w); reason != "" {
		return Link{}, reason
	}
	if w.ID == "" {
		return Link{}, "response lacks id"
	}
	u, err := url.Parse(w.Location)
	if w.Location == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Link{}, "response location is missing or not an absolute http(s) URL"
	}
	return Link{Location: w.Location, ID: w.ID}, ""
}
