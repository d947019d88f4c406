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

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DriveOptions controls DriveWidget.
type DriveOptions struct {
	Username, Password string // default figo01 / 654321
	Cancel             bool   // press Cancel on the first page instead of approving
	Bank               string // default Mockbank
}

const maxPageBytes = 1 << 20

// DriveWidget follows a widget link like a person with the sandbox test
// credentials would: choose the bank, log in, keep the pre-checked accounts
// (or the first one if none is checked), approve. It returns the final
// redirect URL (redirect_uri?...) without following it.
//
// Errors never contain URLs: the link carries the widget token and the
// redirect carries the authorization code and state.
func DriveWidget(ctx context.Context, hc *http.Client, location string, opts DriveOptions) (string, error) {
	if opts.Username == "" {
		opts.Username = sandboxUsername
	}
	if opts.Password == "" {
		opts.Password = sandboxPassword
	}
	if opts.Bank == "" {
		opts.Bank = defaultBank
	}
	d := &driver{ctx: ctx, hc: noRedirects(hc)}

	page, err := d.do(http.MethodGet, location, nil, "open widget")
	if err != nil {
		return "", err
	}
	if opts.Cancel {
		return d.submit(page, "cancel-form", nil, "cancel")
	}
	page, err = d.expectPage(d.submit2(page, "bank-form", func(f *htmlForm, v url.Values) error {
		if !hasOption(f.selects["bank"], opts.Bank) {
			return fmt.Errorf("widget: bank %q is not offered", opts.Bank)
		}
		v.Set("bank", opts.Bank)
		return nil
	}, "choose bank"))
	if err != nil {
		return "", err
	}
	page, err = d.expectPage(d.submit2(page, "login-form", func(_ *htmlForm, v url.Values) error {
		v.Set("username", opts.Username)
		v.Set("password", opts.Password)
		return nil
	}, "log in"))
	if err != nil {
		return "", err
	}
	if msg, ok := elementText(page.body, page.tags, "login-error"); ok {
		return "", fmt.Errorf("widget: login rejected: %s", msg)
	}
	return d.submit(page, "accounts-form", func(f *htmlForm, v url.Values) error {
		picked := pickAccounts(f.choices["account"])
		if len(picked) == 0 {
			msg, _ := elementText(page.body, page.tags, "accounts-error")
			return fmt.Errorf("widget: no account to approve: %s", msg)
		}
		v["account"] = picked
		return nil
	}, "approve")
}

type driver struct {
	ctx context.Context
	hc  *http.Client
}

type page struct {
	url    *url.URL
	status int
	body   string
	tags   []htmlTag
	loc    string // Location header of a redirect
}

func noRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (d *driver) do(method, target string, form url.Values, step string) (*page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(d.ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("widget: %s: invalid URL", step)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	resp, err := d.hc.Do(req)
	if err != nil {
		// *url.Error quotes the URL, which holds the widget token.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("widget: %s: %w", step, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes))
	if err != nil {
		return nil, fmt.Errorf("widget: %s: reading page: %w", step, err)
	}
	p := &page{url: req.URL, status: resp.StatusCode, body: string(raw), loc: resp.Header.Get("Location")}
	p.tags = scanTags(p.body)
	switch {
	case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound:
		if p.loc == "" {
			return nil, fmt.Errorf("widget: %s: redirect without Location", step)
		}
	case resp.StatusCode != http.StatusOK:
		msg, _ := elementText(p.body, p.tags, "error-message")
		return nil, fmt.Errorf("widget: %s: HTTP %d: %s", step, resp.StatusCode, msg)
	}
	return p, nil
}

// submit2 submits a form and returns the resulting page.
func (d *driver) submit2(p *page, formID string, fill func(*htmlForm, url.Values) error, step string) (*page, error) {
	f, ok := parseForms(p.tags)[formID]
	if !ok {
		return nil, fmt.Errorf("widget: %s: form #%s not found on the page", step, formID)
	}
	v := url.Values{}
	for _, h := range f.hidden {
		v.Add(h[0], h[1])
	}
	if fill != nil {
		if err := fill(f, v); err != nil {
			return nil, err
		}
	}
	action, err := p.url.Parse(f.action)
	if err != nil || f.action == "" {
		return nil, fmt.Errorf("widget: %s: form #%s has no usable action", step, formID)
	}
	return d.do(http.MethodPost, action.String(), v, step)
}

// submit submits a form that must end the flow with a redirect.
func (d *driver) submit(p *page, formID string, fill func(*htmlForm, url.Values) error, step string) (string, error) {
	next, err := d.submit2(p, formID, fill, step)
	if err != nil {
		return "", err
	}
	if next.loc == "" {
		if msg, ok := elementText(next.body, next.tags, "accounts-error"); ok {
			return "", fmt.Errorf("widget: %s: %s", step, msg)
		}
		return "", fmt.Errorf("widget: %s: expected a redirect, got HTTP %d", step, next.status)
	}
	return next.loc, nil
}

// expectPage rejects a redirect where a page was expected.
func (d *driver) expectPage(p *page, err error) (*page, error) {
	if err != nil {
		return nil, err
	}
	if p.loc != "" {
		return nil, errors.New("widget: unexpected redirect before the flow was approved")
	}
	return p, nil
}

func hasOption(opts []selectOption, v string) bool {
	for _, o := range opts {
		if o.value == v {
			return true
		}
	}
	return false
}

// pickAccounts submits what a browser would with the defaults, falling back to
// the first account when nothing is pre-checked.
func pickAccounts(cs []choice) []string {
	var out []string
	for _, c := range cs {
		if c.checked {
			out = append(out, c.value)
		}
	}
	if len(out) == 0 && len(cs) > 0 {
		out = append(out, cs[0].value)
	}
	return out
}
