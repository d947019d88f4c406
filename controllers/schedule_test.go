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
	"fmt"
	"math"
	"math/rand"
	"testing"
	"time"
)

// Plain tests of the scheduling maths; they need no API server. Run them with
//   go test ./controllers/ -run 'TestNextRefresh|TestJitter|TestRetryAt'
// (the package's Ginkgo suite, TestControllers, needs KUBEBUILDER_ASSETS).

var schedT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// within reports whether got lies in [due-maxEarly, due].
func within(got, due time.Time, maxEarly time.Duration) bool {
	return !got.After(due) && !got.Before(due.Add(-maxEarly))
}

func TestNextRefreshAccessTokenTwoThirds(t *testing.T) {
	tt := tokenTimes{
		accessIssuedAt: schedT0, accessExpiresAt: schedT0.Add(time.Hour),
		refreshIssuedAt: schedT0, refreshExpiresAt: schedT0.Add(90 * day),
	}
	due := schedT0.Add(40 * time.Minute)
	for i := range 200 {
		seed := fmt.Sprintf("uid-%d", i)
		got := nextRefresh(tt, 0, seed)
		// Jitter is a share of the 40 minutes to the access-token due time: at most 5 % = 2 min.
		if !within(got, due, 2*time.Minute) {
			t.Fatalf("seed %q: nextRefresh = %v, want within 2m before %v", seed, got, due)
		}
	}
}

func TestNextRefreshRefreshTokenRule(t *testing.T) {
	issued := schedT0
	expires := schedT0.Add(90 * day)
	tests := []struct {
		name   string
		before time.Duration
		due    time.Time
	}{
		{"default is a third of the lifetime", 0, expires.Add(-30 * day)},
		{"negative falls back to the default", -time.Hour, expires.Add(-30 * day)},
		{"explicit refreshBefore", 7 * day, expires.Add(-7 * day)},
		{"small refreshBefore", time.Minute, expires.Add(-time.Minute)},
		{"refreshBefore equal to the lifetime falls back", 90 * day, expires.Add(-30 * day)},
		{"refreshBefore longer than the lifetime falls back", 365 * day, expires.Add(-30 * day)},
		{"refreshBefore just under the lifetime is honoured", 90*day - time.Hour, issued.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := tokenTimes{refreshIssuedAt: issued, refreshExpiresAt: expires}
			// The jitter is 5 % of the time from issuance to the due time, at most 10 minutes.
			maxEarly := min(tc.due.Sub(issued)/20, 10*time.Minute)
			for i := range 100 {
				seed := fmt.Sprintf("uid-%d/2026-03-01T12:00:00Z", i)
				got := nextRefresh(tt, tc.before, seed)
				if !within(got, tc.due, maxEarly) {
					t.Fatalf("seed %q: nextRefresh = %v, want within %v before %v", seed, got, maxEarly, tc.due)
				}
			}
		})
	}
}

func TestNextRefreshEarliestRuleWins(t *testing.T) {
	t.Run("access token due first", func(t *testing.T) {
		tt := tokenTimes{
			accessIssuedAt: schedT0, accessExpiresAt: schedT0.Add(2 * time.Hour),
			refreshIssuedAt: schedT0, refreshExpiresAt: schedT0.Add(30 * day),
		}
		got := nextRefresh(tt, 0, "s")
		if due := schedT0.Add(80 * time.Minute); !within(got, due, 4*time.Minute) {
			t.Fatalf("nextRefresh = %v, want the access-token due time %v", got, due)
		}
	})
	t.Run("refresh token due first although the access token is maintained", func(t *testing.T) {
		// A refresh token close to its end and a long-lived access token.
		tt := tokenTimes{
			accessIssuedAt: schedT0, accessExpiresAt: schedT0.Add(30 * day),
			refreshIssuedAt: schedT0.Add(-80 * day), refreshExpiresAt: schedT0.Add(10 * day),
		}
		got := nextRefresh(tt, 0, "s")
		// refreshBefore defaults to 30 days, so it is already due (in the past): refresh now.
		if due := schedT0.Add(-20 * day); !within(got, due, 10*time.Minute) {
			t.Fatalf("nextRefresh = %v, want the refresh-token due time %v", got, due)
		}
	})
	t.Run("explicit refreshBefore beats a long access token", func(t *testing.T) {
		tt := tokenTimes{
			accessIssuedAt: schedT0, accessExpiresAt: schedT0.Add(60 * day),
			refreshIssuedAt: schedT0, refreshExpiresAt: schedT0.Add(60 * day),
		}
		got := nextRefresh(tt, 50*day, "s")
		if due := schedT0.Add(10 * day); !within(got, due, 10*time.Minute) {
			t.Fatalf("nextRefresh = %v, want %v", got, due)
		}
	})
	t.Run("unmaintained access token is ignored", func(t *testing.T) {
		tt := tokenTimes{
			accessIssuedAt:  schedT0, // issued but not maintained: accessExpiresAt is zero
			refreshIssuedAt: schedT0, refreshExpiresAt: schedT0.Add(90 * day),
		}
		got := nextRefresh(tt, 0, "s")
		if due := schedT0.Add(60 * day); !within(got, due, 10*time.Minute) {
			t.Fatalf("nextRefresh = %v, want %v", got, due)
		}
	})
}

func TestNextRefreshDeterministicAndSpread(t *testing.T) {
	tt := tokenTimes{
		accessIssuedAt: schedT0, accessExpiresAt: schedT0.Add(time.Hour),
		refreshIssuedAt: schedT0, refreshExpiresAt: schedT0.Add(90 * day),
	}
	distinct := map[time.Time]bool{}
	for i := range 100 {
		seed := fmt.Sprintf("6f1c2a9e-%04d/2026-03-01T12:00:00Z", i)
		a, b := nextRefresh(tt, 0, seed), nextRefresh(tt, 0, seed)
		if !a.Equal(b) {
			t.Fatalf("seed %q: two calls disagree: %v and %v", seed, a, b)
		}
		distinct[a] = true
	}
	// Connections authorised at the same moment must not all refresh at the same moment.
	if len(distinct) < 90 {
		t.Fatalf("100 seeds gave only %d distinct refresh times", len(distinct))
	}
}

func TestJitter(t *testing.T) {
	intervals := []time.Duration{
		time.Nanosecond, time.Second, time.Minute, 40 * time.Minute, time.Hour,
		3 * time.Hour, 199 * time.Minute, 200 * time.Minute, 201 * time.Minute,
		day, 30 * day, 365 * day, 10 * 365 * day,
	}
	for _, iv := range intervals {
		limit := min(time.Duration(float64(iv)*0.05), 10*time.Minute)
		for i := range 500 {
			seed := fmt.Sprintf("seed-%d", i)
			j := jitter(iv, seed)
			if j < 0 || j > limit {
				t.Fatalf("jitter(%v, %q) = %v, want within [0, %v]", iv, seed, j, limit)
			}
			if again := jitter(iv, seed); again != j {
				t.Fatalf("jitter(%v, %q) not deterministic: %v then %v", iv, seed, j, again)
			}
		}
	}
}

func TestJitterNonPositiveInterval(t *testing.T) {
	for _, iv := range []time.Duration{0, -time.Nanosecond, -time.Hour, math.MinInt64} {
		if j := jitter(iv, "seed"); j != 0 {
			t.Errorf("jitter(%v) = %v, want 0", iv, j)
		}
	}
}

func TestJitterSpread(t *testing.T) {
	const n = 2000
	iv := time.Hour // up to 3 minutes of jitter
	limit := 3 * time.Minute
	distinct := map[time.Duration]bool{}
	var sum time.Duration
	lo, hi := limit, time.Duration(0)
	for i := range n {
		j := jitter(iv, fmt.Sprintf("%08x-uid/%d", i*2654435761, i))
		distinct[j] = true
		sum += j
		lo, hi = min(lo, j), max(hi, j)
	}
	if len(distinct) < n*9/10 {
		t.Errorf("%d seeds gave %d distinct jitters", n, len(distinct))
	}
	if lo > limit/20 || hi < limit*19/20 {
		t.Errorf("jitters span [%v, %v], want nearly all of [0, %v]", lo, hi, limit)
	}
	if mean := sum / n; mean < limit*4/10 || mean > limit*6/10 {
		t.Errorf("mean jitter %v, want about %v", mean, limit/2)
	}

	// For long intervals the cap dominates; most seeds hit it.
	capped := 0
	for i := range 200 {
		if jitter(365*day, fmt.Sprint(i)) == 10*time.Minute {
			capped++
		}
	}
	if capped < 190 {
		t.Errorf("only %d of 200 jitters of a one-year interval were capped at 10m", capped)
	}
}

func TestRetryAtExponential(t *testing.T) {
	b := backoff{base: 2 * time.Second, max: 5 * time.Minute}
	tests := []struct {
		attempts int32
		want     time.Duration
	}{
		{-1, 2 * time.Second},
		{0, 2 * time.Second},
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{3, 8 * time.Second},
		{4, 16 * time.Second},
		{8, 256 * time.Second},
		{9, 5 * time.Minute},
		{10, 5 * time.Minute},
		{100, 5 * time.Minute},
		{math.MaxInt32, 5 * time.Minute},
	}
	for _, tc := range tests {
		if got := b.retryAt(schedT0, tc.attempts, 0, time.Time{}); got.Sub(schedT0) != tc.want {
			t.Errorf("retryAt(attempts=%d) = +%v, want +%v", tc.attempts, got.Sub(schedT0), tc.want)
		}
	}
	// A max that is not a power-of-two multiple of base is still the cap.
	b = backoff{base: 3 * time.Second, max: 10 * time.Second}
	for attempts, want := range map[int32]time.Duration{1: 3 * time.Second, 2: 6 * time.Second, 3: 10 * time.Second, 20: 10 * time.Second} {
		if got := b.retryAt(schedT0, attempts, 0, time.Time{}); got.Sub(schedT0) != want {
			t.Errorf("backoff{3s,10s}.retryAt(attempts=%d) = +%v, want +%v", attempts, got.Sub(schedT0), want)
		}
	}
}

func TestRetryAtRetryAfter(t *testing.T) {
	b := backoff{base: 2 * time.Second, max: 5 * time.Minute}
	tests := []struct {
		name       string
		attempts   int32
		retryAfter time.Duration
		want       time.Duration
	}{
		{"larger Retry-After wins", 1, 30 * time.Second, 30 * time.Second},
		{"Retry-After beyond max wins", 20, 10 * time.Minute, 10 * time.Minute},
		{"smaller Retry-After is ignored", 3, time.Second, 8 * time.Second},
		{"negative Retry-After is ignored", 2, -time.Hour, 4 * time.Second},
	}
	for _, tc := range tests {
		if got := b.retryAt(schedT0, tc.attempts, tc.retryAfter, time.Time{}); got.Sub(schedT0) != tc.want {
			t.Errorf("%s: retryAt = +%v, want +%v", tc.name, got.Sub(schedT0), tc.want)
		}
	}
}

func TestRetryAtDeadline(t *testing.T) {
	b := backoff{base: 2 * time.Second, max: 5 * time.Minute}
	tests := []struct {
		name       string
		attempts   int32
		retryAfter time.Duration
		deadline   time.Time
		want       time.Time
	}{
		{"far deadline does not interfere", 9, 0, schedT0.Add(time.Hour), schedT0.Add(5 * time.Minute)},
		{"capped a minute before a deadline", 9, 0, schedT0.Add(5*time.Minute + 30*time.Second), schedT0.Add(4*time.Minute + 30*time.Second)},
		{"Retry-After capped before the deadline", 1, 20 * time.Minute, schedT0.Add(10 * time.Minute), schedT0.Add(9 * time.Minute)},
		{"margin is a quarter of a short remaining time", 8, 0, schedT0.Add(2 * time.Minute), schedT0.Add(90 * time.Second)},
		{"even below base for a deadline about to pass", 1, 0, schedT0.Add(time.Second), schedT0.Add(750 * time.Millisecond)},
		{"a retry well before the margin is kept", 1, 0, schedT0.Add(4 * time.Second), schedT0.Add(2 * time.Second)},
		{"past deadline is ignored", 3, 0, schedT0.Add(-time.Minute), schedT0.Add(8 * time.Second)},
		{"deadline equal to failedAt is ignored", 3, 0, schedT0, schedT0.Add(8 * time.Second)},
		{"zero deadline is ignored", 9, time.Hour, time.Time{}, schedT0.Add(time.Hour)},
	}
	for _, tc := range tests {
		if got := b.retryAt(schedT0, tc.attempts, tc.retryAfter, tc.deadline); !got.Equal(tc.want) {
			t.Errorf("%s: retryAt = %v (+%v), want %v (+%v)", tc.name, got, got.Sub(schedT0), tc.want, tc.want.Sub(schedT0))
		}
	}
}

// randDuration returns a duration in [lo, hi).
func randDuration(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int63n(int64(hi-lo)))
}

func TestNextRefreshProperties(t *testing.T) {
	r := rand.New(rand.NewSource(20260301))
	const maxLifetime = 10 * 365 * day // finx rejects longer expires_in
	for i := range 20000 {
		var tt tokenTimes
		tt.refreshIssuedAt = schedT0.Add(randDuration(r, -365*day, 365*day))
		tt.refreshExpiresAt = tt.refreshIssuedAt.Add(randDuration(r, time.Second, maxLifetime))
		maintained := r.Intn(2) == 0
		if maintained {
			tt.accessIssuedAt = tt.refreshIssuedAt.Add(randDuration(r, -day, day))
			tt.accessExpiresAt = tt.accessIssuedAt.Add(randDuration(r, time.Second, 30*day))
		}
		var before time.Duration
		switch r.Intn(4) {
		case 0: // default
		case 1:
			before = randDuration(r, -day, 0)
		default:
			before = randDuration(r, time.Nanosecond, 2*tt.refreshExpiresAt.Sub(tt.refreshIssuedAt))
		}
		seed := fmt.Sprintf("%x/%d", r.Uint64(), i)

		got := nextRefresh(tt, before, seed)
		desc := fmt.Sprintf("case %d: %+v before=%v seed=%q: nextRefresh=%v", i, tt, before, seed, got)

		if !got.Before(tt.refreshExpiresAt) {
			t.Fatalf("%s is not before the refresh token's expiry", desc)
		}
		if maintained && !got.Before(tt.accessExpiresAt) {
			t.Fatalf("%s is not before the access token's expiry", desc)
		}
		if again := nextRefresh(tt, before, seed); !again.Equal(got) {
			t.Fatalf("%s not deterministic (%v)", desc, again)
		}

		// It is the earlier of the two due times, less at most 10 minutes of jitter.
		lifetime := tt.refreshExpiresAt.Sub(tt.refreshIssuedAt)
		rb := before
		if rb <= 0 || rb >= lifetime {
			rb = lifetime / 3
		}
		due, from := tt.refreshExpiresAt.Add(-rb), tt.refreshIssuedAt
		if maintained {
			if a := tt.accessIssuedAt.Add(tt.accessExpiresAt.Sub(tt.accessIssuedAt) * 2 / 3); a.Before(due) {
				due, from = a, tt.accessIssuedAt
			}
		}
		if !within(got, due, min(due.Sub(from)/20+1, 10*time.Minute)) {
			t.Fatalf("%s, want within the jitter before %v", desc, due)
		}
		// Never scheduled before the token it is computed from was issued.
		if got.Before(from) {
			t.Fatalf("%s is before the token's issuance %v", desc, from)
		}
	}
}

func TestRetryAtProperties(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	for i := range 20000 {
		base := randDuration(r, time.Millisecond, time.Minute)
		b := backoff{base: base, max: base + randDuration(r, 0+1, time.Hour)}
		attempts := int32(r.Intn(70) - 5)
		var retryAfter time.Duration
		if r.Intn(3) == 0 {
			retryAfter = randDuration(r, -time.Minute, 2*time.Hour)
		}
		deadline := schedT0.Add(randDuration(r, time.Nanosecond, 10*time.Hour))

		got := b.retryAt(schedT0, attempts, retryAfter, deadline)
		desc := fmt.Sprintf("case %d: %+v attempts=%d retryAfter=%v deadline=+%v: retryAt=+%v",
			i, b, attempts, retryAfter, deadline.Sub(schedT0), got.Sub(schedT0))
		if got.After(deadline) {
			t.Fatalf("%s is after the deadline", desc)
		}
		if remaining := deadline.Sub(schedT0); remaining >= 4 && !got.Before(deadline) {
			t.Fatalf("%s leaves no margin before the deadline", desc)
		}
		if got.Before(schedT0) {
			t.Fatalf("%s is before the failure", desc)
		}
		upper := max(b.max, retryAfter)
		if got.Sub(schedT0) > upper {
			t.Fatalf("%s waits longer than max and Retry-After (%v)", desc, upper)
		}

		// More failures never mean an earlier retry.
		if next := b.retryAt(schedT0, attempts+1, retryAfter, deadline); next.Before(got) {
			t.Fatalf("%s, but attempt %d retries earlier at +%v", desc, attempts+1, next.Sub(schedT0))
		}
		// Without a deadline the wait is at least base and at least Retry-After.
		free := b.retryAt(schedT0, attempts, retryAfter, time.Time{}).Sub(schedT0)
		if free < b.base || free < retryAfter || free > upper {
			t.Fatalf("%s; without deadline +%v, want in [max(base, Retry-After), %v]", desc, free, upper)
		}
	}
}
