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

package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// pendingTokens holds tokens finX returned that are not yet safely in their Secrets. While an entry
// exists for a connection, the reconciler only retries the writes: it never calls finX again with
// the refresh token that was just spent.
type pendingTokens struct {
	mu      sync.Mutex
	entries map[types.UID]pendingEntry
}

type pendingEntry struct {
	tokens    tokenstore.Tokens
	operation string // opRefresh or opExchange
	rotated   bool   // finX returned a new refresh token
	// journal is the in-flight entry this process wrote before spending; a commit after a write
	// conflict goes ahead only if the Secret still carries it (nobody else spent meanwhile).
	journal string
	// stateHash is the callback hand-off an exchange consumed.
	stateHash string
	key       types.NamespacedName
}

func newPendingTokens() *pendingTokens {
	return &pendingTokens{entries: map[types.UID]pendingEntry{}}
}

func (p *pendingTokens) put(uid types.UID, e pendingEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries[uid] = e
}

func (p *pendingTokens) get(uid types.UID) (pendingEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[uid]
	return e, ok
}

// dropName forgets entries of a connection that no longer exists.
func (p *pendingTokens) dropName(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for uid, e := range p.entries {
		if e.key == key {
			delete(p.entries, uid)
		}
	}
}

func (p *pendingTokens) drop(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.entries, uid)
}
