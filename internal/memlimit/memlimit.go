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

// Package memlimit gives the Go runtime the container's memory limit, so that the garbage collector
// works harder as the heap nears it instead of letting the process be killed: without a limit the
// heap may grow to twice what is live before a collection (GOGC=100).
package memlimit

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// share of the container's limit given to the Go runtime: the rest is for what the runtime does
// not count (the binary's mapped code, thread stacks outside Go).
const share = 0.9

// cgroupMax is the cgroup v2 memory limit of the container the process runs in.
const cgroupMax = "/sys/fs/cgroup/memory.max"

// Set sets the runtime's soft memory limit to 90% of the container's and returns it, unless
// GOMEMLIMIT is set (the operator's choice wins) or there is no limit to read; then it returns 0.
func Set() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	b, err := os.ReadFile(cgroupMax)
	if err != nil {
		return 0
	}
	limit := FromCgroup(string(b))
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit
}

// FromCgroup is the soft limit for the content of memory.max: 90% of it, or 0 for "max" (no limit)
// and anything unreadable.
func FromCgroup(content string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(content), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return int64(float64(n) * share)
}
