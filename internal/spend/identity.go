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

package spend

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
)

// Identity names a process in the journal it writes.
//
// Instance is stable across restarts of one Pod (the manager takes it from the Pod's UID through
// the downward API). The kubelet stops a container before it starts its next run, so a journal
// written by an earlier run of the same instance belongs to a process that is dead: its spend is
// over, and the kept token can be tried again at once, inside finX's reuse grace.
//
// Run is new in every process, so two runs never mistake each other's journal for their own.
type Identity struct {
	Instance string
	Run      string
}

// NewIdentity returns the identity of this process. Without an instance (outside a Pod, or without
// the downward API) every process is an instance of its own: safe, but a restart then waits out
// its own interrupted spend like another process's.
func NewIdentity(instance string) Identity {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	run := hex.EncodeToString(b)
	instance = clean(instance)
	if instance == "" {
		host, _ := os.Hostname()
		instance = clean(host) + "-" + run
	}
	return Identity{Instance: instance, Run: run}
}

// holder is the journal's holder field: instance~run.
func (i Identity) holder() string { return i.Instance + holderSep + i.Run }

const holderSep = "~"

// instanceOf returns the instance part of a holder ("" for holders written before instances
// existed, which therefore never match this process's instance).
func instanceOf(holder string) string {
	inst, _, ok := strings.Cut(holder, holderSep)
	if !ok {
		return ""
	}
	return inst
}

// clean keeps the separators of the journal's encoding out of an identity.
func clean(s string) string {
	return strings.NewReplacer("@", "_", holderSep, "_", ",", "_").Replace(strings.TrimSpace(s))
}
