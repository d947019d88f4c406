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
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// credentialsRecheck is how often a client's credentials Secret is read again. Credential Secrets
// are not cached (the manager caches only the operator's own Secrets), so changes are found by
// looking: the client's reconcile looks this often, and a connection that finds what it looked at
// older than this looks itself.
const credentialsRecheck = 2 * time.Minute

// credentialsRefusedRecheck is the least time between two reads that finX's refusals cause. When
// finX refuses a client's credentials every connection of the client fails alike: the first
// refusal of a reading has the Secret read again at the next call (it may have been put right
// since), and one read then tells as much as a thousand.
const credentialsRefusedRecheck = 10 * time.Second

// credentialsForgetAfter is how long a reading nobody uses stays in memory: a deleted client's
// secret should not stay for the life of the process.
const credentialsForgetAfter = 3 * credentialsRecheck

// Credentials keeps what each credentials Secret held at its last read, in memory only, so that the
// thousands of connections of one client cost one read per check rather than one per reconcile.
// A change of the client (another Secret or other keys) is another entry; a change of the Secret
// is seen by the next check.
type Credentials struct {
	// Reader reads the Secrets from the API server.
	Reader client.Reader
	Clock  clock.PassiveClock

	mu       sync.Mutex
	entries  map[credentialsKey]*credentialsEntry
	prunedAt time.Time
}

type credentialsKey struct {
	secret        types.NamespacedName
	idKey, secKey string
}

type credentialsEntry struct {
	// mu makes one read at a time per Secret: connections that find it due wait for that read.
	mu sync.Mutex
	// usedAt is the last time anyone asked for the entry (guarded by Credentials.mu).
	usedAt time.Time
	readAt time.Time
	// stale: finX refused this reading; the next use reads the Secret again.
	stale bool
	// afterRefusal: this reading was made because finX refused the one before it.
	afterRefusal bool
	id           string
	secret       string
	rv           string
	// err is a *clientProblemError (missing, forbidden, wrong type, incomplete), which is what the
	// Secret says as much as a client id is. Other errors are not kept.
	err error
}

// Get returns the credentials, reading the Secret only if its last read is older than
// credentialsRecheck (or was forgotten).
func (m *Credentials) Get(ctx context.Context, key types.NamespacedName, ref v1.CredentialsSecretReference) (id, secret, rv string, err error) {
	return m.read(ctx, key, ref, false)
}

// Check reads the Secret now: the client's periodic check, whose result every connection uses.
func (m *Credentials) Check(ctx context.Context, key types.NamespacedName, ref v1.CredentialsSecretReference) (id, secret, rv string, err error) {
	return m.read(ctx, key, ref, true)
}

// Forget marks what was read from the Secret as stale, so that the next use reads it: finX refused
// the credentials, which may mean that they were changed after the last read. A reading that was
// itself made after a refusal is read again only once credentialsRefusedRecheck has passed.
func (m *Credentials) Forget(key types.NamespacedName, ref v1.CredentialsSecretReference) {
	m.mu.Lock()
	e := m.entries[keyOf(key, ref)]
	m.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	at := m.now()
	if e.afterRefusal && !at.Before(e.readAt) && at.Sub(e.readAt) < credentialsRefusedRecheck {
		return
	}
	e.stale = true
}

func keyOf(key types.NamespacedName, ref v1.CredentialsSecretReference) credentialsKey {
	return credentialsKey{secret: key, idKey: ref.ClientIDKey, secKey: ref.ClientSecretKey}
}

func (m *Credentials) read(ctx context.Context, key types.NamespacedName, ref v1.CredentialsSecretReference, now bool) (string, string, string, error) {
	e := m.entry(keyOf(key, ref))
	e.mu.Lock()
	defer e.mu.Unlock()
	at := m.now()
	// A reading from the future (the clock stepped back) is not trusted.
	if !now && !e.stale && !e.readAt.IsZero() && !at.Before(e.readAt) && at.Sub(e.readAt) < credentialsRecheck {
		return e.id, e.secret, e.rv, e.err
	}
	id, sec, rv, err := readCredentials(ctx, m.Reader, key, ref)
	var cp *clientProblemError
	if err != nil && !errors.As(err, &cp) {
		return "", "", "", err // an API error says nothing about the Secret: ask again next time
	}
	e.afterRefusal, e.stale = e.stale, false
	e.readAt, e.id, e.secret, e.rv, e.err = at, id, sec, rv, err
	return id, sec, rv, err
}

func (m *Credentials) entry(k credentialsKey) *credentialsEntry {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[credentialsKey]*credentialsEntry{}
	}
	if now.Sub(m.prunedAt) > credentialsRecheck || now.Before(m.prunedAt) {
		m.prunedAt = now
		for old, o := range m.entries {
			if now.Sub(o.usedAt) > credentialsForgetAfter {
				delete(m.entries, old)
			}
		}
	}
	e, ok := m.entries[k]
	if !ok {
		e = &credentialsEntry{}
		m.entries[k] = e
	}
	e.usedAt = now
	return e
}

func (m *Credentials) now() time.Time {
	if m.Clock == nil {
		return clock.RealClock{}.Now()
	}
	return m.Clock.Now()
}
