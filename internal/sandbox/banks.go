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

import "crypto/subtle"

// Test credentials every sandbox bank accepts (the finX sandbox documents
// figo01 / 654321 for Mockbank).
const (
	sandboxUsername = "figo01"
	sandboxPassword = "654321"

	defaultBank       = "Mockbank"
	defaultSyncPeriod = 90
)

type accountKind int

const (
	kindGiro accountKind = iota
	kindSavings
	kindCard
	kindDepot
)

type accountTemplate struct {
	name     string
	typ      string // finX account type as listed in the docs
	currency string
	kind     accountKind
}

type bank struct {
	name        string
	providerID  string // provider_id that preselects this bank
	code        string // German bank code (BLZ), 8 digits
	bic         string
	maxSyncDays int // sync_period is capped here silently, as finX does
	extraLogin  [2]string
	accounts    []accountTemplate
}

// banks are fixed so generated data stays stable across restarts. Mockbank's
// provider_id is the example value from the finX docs.
var banks = []*bank{
	{
		name: "Mockbank", providerID: "74bab9d2-9f60-4ab1-be63-706e67b99f58",
		code: "90010010", bic: "MOCKDEB1XXX", maxSyncDays: 365,
		accounts: []accountTemplate{
			{"Girokonto", "Giro account", "EUR", kindGiro},
			{"Tagesgeld", "Daily savings account", "EUR", kindSavings},
			{"Kreditkarte", "Credit card", "EUR", kindCard},
		},
	},
	{
		name: "Demobank", providerID: "2f4bd3f0-6d0e-4c43-9a4e-0c1f0d2b7a11",
		code: "90090042", bic: "DEMODEB2XXX", maxSyncDays: 180,
		extraLogin: [2]string{"demo", "demo"}, // the Postman docs' Demobank login
		accounts: []accountTemplate{
			{"Depot", "Depot", "EUR", kindDepot},
			{"Girokonto", "Giro account", "EUR", kindGiro},
		},
	},
	{
		name: "Sandbox Sparkasse", providerID: "c1d5e0a8-93b6-4f5e-8b0e-5d8f2a6c3e77",
		code: "90050000", bic: "SBSPDEB3XXX", maxSyncDays: 730,
		accounts: []accountTemplate{
			{"Girokonto", "Giro account", "EUR", kindGiro},
			{"Sparkonto", "Savings account", "EUR", kindSavings},
			{"USD-Konto", "Giro account", "USD", kindGiro},
		},
	},
}

func bankByName(name string) *bank {
	for _, b := range banks {
		if b.name == name {
			return b
		}
	}
	return nil
}

func bankByProvider(id string) *bank {
	for _, b := range banks {
		if b.providerID == id {
			return b
		}
	}
	return nil
}

func (b *bank) login(user, pass string) bool {
	if eqConst(user, sandboxUsername) && eqConst(pass, sandboxPassword) {
		return true
	}
	return b.extraLogin[0] != "" && eqConst(user, b.extraLogin[0]) && eqConst(pass, b.extraLogin[1])
}

func eqConst(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func allIndexes(b *bank) []int {
	idx := make([]int, len(b.accounts))
	for i := range idx {
		idx[i] = i
	}
	return idx
}
