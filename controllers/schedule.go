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
	"hash/fnv"
	"time"
)

// Scheduling maths, kept pure so they are tested without a cluster.

const (
	// jitterFraction spreads refreshes of connections authorised at the same moment.
	jitterFraction = 0.05
	// maxJitter keeps the spread small for long-lived tokens.
	maxJitter = 10 * time.Minute
)

// tokenTimes is what a schedule is computed from: the lifetimes finX actually returned.
type tokenTimes struct {
	accessIssuedAt   time.Time
	accessExpiresAt  time.Time // zero when the access token is not maintained
	refreshIssuedAt  time.Time
	refreshExpiresAt time.Time
}

// nextRefresh returns when to refresh: at about two thirds of the access token's lifetime when it
// is maintained, and in every case refreshBefore ahead of the refresh token's expiry (one third of
// its lifetime by default), less a small jitter derived from seed so repeated calls agree.
func nextRefresh(t tokenTimes, refreshBefore time.Duration, seed string) time.Time {
	lifetime := t.refreshExpiresAt.Sub(t.refreshIssuedAt)
	if refreshBefore <= 0 || refreshBefore >= lifetime {
		refreshBefore = lifetime / 3
	}
	due := t.refreshExpiresAt.Add(-refreshBefore)
	from := t.refreshIssuedAt
	if !t.accessExpiresAt.IsZero() {
		accessDue := t.accessIssuedAt.Add(t.accessExpiresAt.Sub(t.accessIssuedAt) * 2 / 3)
		if accessDue.Before(due) {
			due, from = accessDue, t.accessIssuedAt
		}
	}
	return due.Add(-jitter(due.Sub(from), seed))
}

// jitter returns a deterministic share (0..5 %) of interval, at most maxJitter.
func jitter(interval time.Duration, seed string) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(seed))
	frac := float64(h.Sum64()%10000) / 10000 * jitterFraction
	j := time.Duration(float64(interval) * frac)
	return min(j, maxJitter)
}

// backoff is the retry policy after failed finX calls.
type backoff struct {
	base, max time.Duration
}

// retryAt returns when to retry after the attempts-th consecutive failure at failedAt: exponential
// from base up to max, at least retryAfter (finX's Retry-After), and never later than shortly
// before deadline (the expiry of the token in hand), so a retry always lands while it still works.
func (b backoff) retryAt(failedAt time.Time, attempts int32, retryAfter time.Duration, deadline time.Time) time.Time {
	d := b.base
	for i := int32(1); i < attempts && d > 0 && d < b.max; i++ {
		d *= 2
	}
	if d <= 0 || d > b.max {
		d = b.max // also guards against overflow
	}
	if retryAfter > d {
		d = retryAfter
	}
	at := failedAt.Add(d)
	if deadline.IsZero() || !deadline.After(failedAt) {
		return at
	}
	// Leave a margin before the deadline: a quarter of the remaining time, at most a minute.
	margin := min(deadline.Sub(failedAt)/4, time.Minute)
	if latest := deadline.Add(-margin); at.After(latest) {
		at = latest
	}
	return at
}
