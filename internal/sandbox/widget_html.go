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

import "html/template"

// widgetPage renders every widget step. The element ids and input names are a
// documented interface (docs/sandbox.md) for scripts and DriveWidget; change
// them only together with the docs. Attributes are always double-quoted,
// which DriveWidget's small scanner relies on.
var widgetPage = template.Must(template.New("widget").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}" dir="{{.Dir}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.T.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0;padding:2rem 1rem;color:#111827}
main{max-width:28rem;margin:0 auto;background:#fff;border-radius:.75rem;padding:1.5rem;box-shadow:0 1px 3px #0002}
.badge{background:#f59e0b;color:#fff;border-radius:.25rem;padding:.1rem .4rem;font-size:.75rem;font-weight:700}
label{display:block;margin:.75rem 0 .25rem}
input[type=text],input[type=password],select{width:100%;padding:.5rem;box-sizing:border-box}
label.account{display:flex;gap:.5rem;align-items:center;margin:.5rem 0}
.iban{color:#6b7280;font-size:.85rem}
button{margin-top:1rem;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#2563eb;color:#fff;font-size:1rem}
button.secondary{background:#e5e7eb;color:#111827}
button[disabled]{background:#9ca3af}
.error{color:#b91c1c;font-weight:600}
.hint{color:#6b7280;font-size:.9rem}
</style>
</head>
<body>
<main id="page-{{.Page}}" data-page="{{.Page}}">
<header><span class="badge">SANDBOX</span> <strong>{{.T.Title}}</strong></header>
{{- if eq .Page "bank"}}
<h1>{{.T.ChooseBank}}</h1>
{{if .Error}}<p id="bank-error" class="error" role="alert">{{.Error}}</p>{{end}}
<form id="bank-form" method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<label for="bank-select">{{.T.Bank}}</label>
<select id="bank-select" name="bank">
{{- range .Banks}}
<option value="{{.Name}}"{{if .Selected}} selected{{end}}>{{.Name}}</option>
{{- end}}
</select>
<button id="bank-submit" type="submit">{{.T.Continue}}</button>
</form>
{{- else if eq .Page "login"}}
<h1>{{.T.LoginTitle}} <span id="bank-name">{{.Bank}}</span></h1>
<p id="sandbox-hint" class="hint">{{.T.Hint}}</p>
{{if .Error}}<p id="login-error" class="error" role="alert">{{.Error}}</p>{{end}}
<form id="login-form" method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<input type="hidden" name="bank" value="{{.Bank}}">
<label for="username">{{.T.Username}}</label>
<input type="text" id="username" name="username" autocomplete="username" value="{{.Username}}" required>
<label for="password">{{.T.Password}}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button id="login-submit" type="submit">{{.T.LogIn}}</button>
</form>
{{- else if eq .Page "accounts"}}
<h1>{{.T.AccountsTitle}}</h1>
{{if .Error}}<p id="accounts-error" class="error" role="alert">{{.Error}}</p>{{end}}
<form id="accounts-form" method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<fieldset id="account-list">
{{- range $i, $a := .Accounts}}
<label class="account"><input type="{{if $.Multi}}checkbox{{else}}radio{{end}}" id="account-{{$i}}" name="account" value="{{$a.ID}}"{{if $a.Checked}} checked{{end}}> {{$a.Label}} <span class="iban">{{$a.IBAN}}</span></label>
{{- end}}
</fieldset>
<button id="approve" type="submit"{{if not .Accounts}} disabled{{end}}>{{.T.Approve}}</button>
</form>
{{- else}}
<h1 id="error-title">{{.T.ErrorTitle}}</h1>
<p id="error-message" class="error" data-reason="{{.Reason}}">{{.Error}}</p>
{{- end}}
{{if .CancelAction}}
<form id="cancel-form" method="post" action="{{.CancelAction}}">
<input type="hidden" name="token" value="{{.Token}}">
<button id="cancel" type="submit" class="secondary">{{.T.Cancel}}</button>
</form>
{{end}}
</main>
</body>
</html>
`))

type pageData struct {
	Lang, Dir    string
	T            texts
	Page         string // bank, login, accounts, error
	Action       string
	CancelAction string
	Token        string
	Banks        []bankOption
	Bank         string
	Username     string
	Accounts     []accountOption
	Multi        bool
	Error        string
	Reason       string // error pages: not-found, expired, completed, bad-step, bad-request, method
}

type bankOption struct {
	Name     string
	Selected bool
}

type accountOption struct {
	ID, Label, IBAN string
	Checked         bool
}
