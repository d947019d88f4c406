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

// Package spend is the one home of the rules for spending a single-use finX credential: a refresh
// token (finX rotates it on every use) or an authorisation code. In order:
//
//  1. Fence: a spend another live process may still be running is waited out.
//  2. Journal: the spend is recorded on the private Secret, with a resourceVersion precondition,
//     before the credential leaves the process.
//  3. The caller makes the finX call, unless the journal write took half the spend's time or more
//     and the spend is not a replay: then nothing is sent, the journal is cleared and Begin fails
//     (ErrJournalTooSlow), since a call cut off by the deadline after finX acted would be an
//     unknown outcome.
//  4. The result is held in memory, then committed to the Secret before anything else happens. The
//     commit is idempotent: a write that was applied although its answer was an error is
//     recognised by the digest of the stored token, not written again.
//  5. An outcome that is not known (no answer, a 5xx, a redirect) leaves the journal, and the spend
//     is replayed within seconds, so that finX's reuse grace can still hand out the same successor.
//     Only an answer that proves finX did nothing clears the journal.
//
// The package knows nothing of finX's HTTP API: the caller says what the answer proved.
package spend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

// Op is what a spend spends.
type Op string

const (
	Refresh  Op = "refresh"  // a refresh token
	Exchange Op = "exchange" // an authorisation code
)

// DefaultTimeout bounds one spend: the journal write, the finX call and the commit. A finX token
// call takes well under a second; one still running after this is treated as an unknown outcome.
const DefaultTimeout = 20 * time.Second

// legacyTimeout bounded spends before instances existed (journal holders without "~").
const legacyTimeout = 60 * time.Second

// Replays of a spend whose outcome is unknown come quickly while the first such spend is younger
// than replayWindow (finX's reuse grace counts from it), at most maxReplayDelay apart.
const (
	replayWindow   = time.Minute
	minReplayDelay = time.Second
	maxReplayDelay = 5 * time.Second
	commitAttempts = 4
)

// Protocol runs spends for every connection of one process. It is safe for concurrent use; the
// caller never runs two spends of one owner at once (the work queue guarantees it).
type Protocol struct {
	// Writer writes the private Secret; Reader reads it from the API server, never from a cache.
	Writer   client.Client
	Reader   client.Reader
	Identity Identity
	// Timeout bounds one spend (DefaultTimeout when zero). Every replica must use the same value.
	Timeout time.Duration
	// Clock is the local clock: fencing compares only this process's own readings, so it does not
	// depend on the clocks of other processes agreeing.
	Clock clock.PassiveClock

	mu      sync.Mutex
	held    map[types.UID]*held  // by owner UID
	seen    map[string]time.Time // journal value → when this process first saw it
	initOne sync.Once
}

// held is a result finX returned that is not in its Secret yet. It is the only copy of a rotated
// token: it stays until the commit is known to have landed.
type held struct {
	owner  client.Object        // the connection, for ownership checks and to recreate the Secret
	key    types.NamespacedName // the private Secret
	op     Op
	tokens tokenstore.Tokens
	digest tokenstore.Digest // of tokens.RefreshToken
	// rotated: finX returned a new refresh token (a refresh that returns none keeps the old one).
	rotated bool
	// journal is the entry written before the spend: while the Secret carries it, nobody else wrote.
	journal string
	// replaces is the digest of the refresh token the Secret held when the spend began; a Secret
	// still holding it has nothing newer than this result.
	replaces tokenstore.Digest
	// stateHash is the callback hand-off an exchange consumed (cleared by the commit).
	stateHash string
	// rotations is the count of the Secret the spend began from, for a Secret recreated meanwhile.
	rotations int64
	// binding is how the Secret the spend began from was tied to its connection, for a Secret
	// recreated meanwhile: a retained chain stays retained.
	binding tokenstore.Binding
	// began is when the spend began: a chain in the Secret issued after it is newer than this
	// result; one issued before it (a restore from a backup, say) is older.
	began time.Time
}

func (p *Protocol) init() {
	p.initOne.Do(func() {
		p.held = map[types.UID]*held{}
		p.seen = map[string]time.Time{}
		if p.Clock == nil {
			p.Clock = clock.RealClock{}
		}
	})
}

func (p *Protocol) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// Context is the context a spend runs on: a manager shutdown does not cancel it (stopping between
// finX rotating a token and the commit is how a token is lost), Timeout bounds it.
func (p *Protocol) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), p.timeout())
}

// fenceMargin covers the tail of another process's spend after its deadline (a write already on
// the wire) and small differences in clock rates.
func (p *Protocol) fenceMargin() time.Duration { return min(5*time.Second, p.timeout()/2) }

// Fence returns until when a spend recorded by j may still be running in another live process (zero
// if none can be). It never relies on another process's clock: the other spend began before this
// process first saw its journal, and its own deadline ends it Timeout later.
func (p *Protocol) Fence(j *tokenstore.Journal, entry string) time.Time {
	p.init()
	if j == nil {
		return time.Time{}
	}
	if j.Holder == p.Identity.holder() {
		return time.Time{} // this process's own spends are synchronous: that one has ended
	}
	if inst := instanceOf(j.Holder); inst != "" && inst == p.Identity.Instance {
		return time.Time{} // an earlier run of this instance: the kubelet stopped it before this run
	}
	now := p.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	first, ok := p.seen[entry]
	if !ok {
		first = now
		p.seen[entry] = now
		p.forgetOldLocked(now)
	}
	bound := p.timeout()
	if instanceOf(j.Holder) == "" {
		bound = max(bound, legacyTimeout) // written by a version whose spends could last that long
	}
	until := first.Add(bound + p.fenceMargin())
	if !now.Before(until) {
		return time.Time{}
	}
	return until
}

func (p *Protocol) forgetOldLocked(now time.Time) {
	for e, t := range p.seen {
		if now.Sub(t) > 2*(p.timeout()+p.fenceMargin()) {
			delete(p.seen, e)
		}
	}
}

// ReplayAt returns when to repeat a spend whose outcome is unknown, and false once replays no longer
// need to hurry (the first unknown spend is older than any reuse grace worth waiting for): the
// caller's backoff then applies. The attempt count plays no part, so restarts do not stretch it.
func ReplayAt(j *tokenstore.Journal, now time.Time) (time.Time, bool) {
	if j == nil {
		return time.Time{}, false
	}
	age := now.Sub(j.Since)
	if j.Since.IsZero() || age >= replayWindow || age <= -replayWindow {
		return time.Time{}, false // a Since far ahead is another clock's mistake, not a young spend
	}
	age = max(age, 0)
	delay := min(max(age/4, minReplayDelay), maxReplayDelay)
	return now.Add(delay), true
}

// Spend is one spend in progress, from its journal to its outcome.
type Spend struct {
	p     *Protocol
	op    Op
	owner client.Object
	key   types.NamespacedName
	// Private is the private Secret as last read or written by this spend.
	Private *tokenstore.Private
	// Prior is the journal found before this spend: an earlier spend of the same credential whose
	// outcome is unknown. A rejection now means that spend rotated and its result was lost.
	Prior    *tokenstore.Journal
	entry    string
	replaces tokenstore.Digest
	began    time.Time
}

// Begin journals a spend of the credential priv holds. If another live process may be spending it,
// it returns no Spend and the time to look again. A journal write that meets a conflict fails: the
// caller must re-read, since the credential may have been spent meanwhile.
func (p *Protocol) Begin(ctx context.Context, owner client.Object, priv *tokenstore.Private, op Op) (*Spend, time.Time, error) {
	p.init()
	prior := priv.InFlight()
	if until := p.Fence(prior, priv.JournalEntry()); !until.IsZero() {
		return nil, until, nil
	}
	if prior != nil && prior.Operation != string(op) {
		prior = nil // another operation's journal says nothing about this credential
	}
	s := &Spend{
		p: p, op: op, owner: owner, Private: priv, Prior: prior,
		key:      types.NamespacedName{Namespace: priv.Secret.Namespace, Name: priv.Secret.Name},
		replaces: priv.RefreshTokenDigest(),
		began:    p.Clock.Now(),
	}
	entry, err := tokenstore.BeginSpend(ctx, p.Writer, priv, string(op), p.Clock.Now(), p.Identity.holder())
	if err != nil {
		return nil, time.Time{}, err
	}
	s.entry = entry
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < p.minCallTime() && prior == nil {
		// The journal write took most of the spend's time (an overloaded API server). A finX call
		// now could be cut off by the deadline after finX acted: an unknown outcome, which costs the
		// chain when finX does not accept the token again. Nothing was sent, so the spend is settled
		// as one finX did nothing with, on a context of its own (the spend's has little left), and
		// the caller's error backoff paces the next attempt. A replay of an earlier unknown outcome
		// (prior) still goes out: holding it back would let finX's reuse grace, if any, run out.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.minCallTime())
		defer cancel()
		if err := s.Refused(sctx); err != nil {
			return nil, time.Time{}, fmt.Errorf("%w; clearing its journal failed: %w", ErrJournalTooSlow, err)
		}
		return nil, time.Time{}, ErrJournalTooSlow
	}
	return s, time.Time{}, nil
}

// ErrJournalTooSlow is Begin's answer when writing the journal took half of the spend's time or
// more: no finX call was made, and the journal is cleared.
var ErrJournalTooSlow = errors.New("the spend's journal write took half of the spend timeout or more (the API server is overloaded): finX was not called, the spend is tried again later")

// minCallTime is the least of a spend's time that must be left, once its journal is written, for
// the finX call and the commit: half of it. Journal writes take milliseconds; one that took half
// the spend's bound found the API server overloaded, and the commit would meet it too.
func (p *Protocol) minCallTime() time.Duration { return p.timeout() / 2 }

// Result is what finX returned for a spend.
type Result struct {
	Tokens tokenstore.Tokens
	// Rotated: finX returned a new refresh token.
	Rotated bool
	// StateHash names the callback hand-off whose code an exchange spent.
	StateHash string
}

// Commit holds the result in memory and stores it in the private Secret. If the store fails, the
// result stays held (see Resume) and no finX call may be made for the owner until it lands. The
// rotation count is taken from the Secret that is written over, so a crash cannot lose one.
func (s *Spend) Commit(ctx context.Context, r Result) (*tokenstore.Private, error) {
	h := &held{
		owner: s.owner, key: s.key, op: s.op, tokens: r.Tokens, digest: tokenstore.DigestOf(r.Tokens.RefreshToken),
		rotated: r.Rotated, journal: s.entry, replaces: s.replaces, stateHash: r.StateHash,
		rotations: s.Private.Rotations(), binding: s.Private.Binding(), began: s.began,
	}
	if h.digest == (tokenstore.Digest{}) {
		return nil, errors.New("refusing to store an empty refresh token")
	}
	s.p.mu.Lock()
	s.p.held[s.owner.GetUID()] = h
	s.p.mu.Unlock()
	return s.p.commit(ctx, s.Private, h)
}

// Refused records an answer that proves finX did nothing with the credential (it refused the
// request): the journal goes, unless it also records an earlier spend whose outcome is unknown.
func (s *Spend) Refused(ctx context.Context) error {
	if s.Prior != nil {
		return nil
	}
	return s.settle(ctx, func(p *tokenstore.Private) error { return tokenstore.EndSpend(ctx, s.p.Writer, p) })
}

// Ended records that finX refused the refresh token for good: the Secret is marked (reason) and the
// journal cleared, in one write.
func (s *Spend) Ended(ctx context.Context, reason string) error {
	return s.settle(ctx, func(p *tokenstore.Private) error {
		return tokenstore.MarkEnded(ctx, s.p.Writer, p, reason, s.p.Clock.Now())
	})
}

// settle makes a write that settles the spend. After a conflict (the callback hand-off writes the
// Secret at any time) it re-reads and writes once more if the Secret still records this spend: a
// journal left behind would make the next spend take this one for an unknown outcome.
func (s *Spend) settle(ctx context.Context, write func(*tokenstore.Private) error) error {
	err := write(s.Private)
	if !apierrors.IsConflict(err) {
		return err
	}
	priv, rerr := tokenstore.ReadPrivate(ctx, s.p.Reader, s.key, s.owner)
	if rerr != nil || priv == nil || priv.JournalEntry() != s.entry {
		return err
	}
	s.Private = priv
	return write(priv)
}

// Holding reports whether a result for owner is held in memory, waiting for its commit.
func (p *Protocol) Holding(owner types.UID) bool {
	p.init()
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.held[owner]
	return ok
}

// HeldOp returns the operation whose result is held for owner.
func (p *Protocol) HeldOp(owner types.UID) (Op, bool) {
	p.init()
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.held[owner]
	if !ok {
		return "", false
	}
	return h.op, true
}

// Resume retries the commit of a result held for owner. It returns the Secret as stored and what
// was committed; ok is false when nothing is held.
func (p *Protocol) Resume(ctx context.Context, owner types.UID) (stored *tokenstore.Private, r Result, op Op, ok bool, err error) {
	p.init()
	p.mu.Lock()
	h, ok := p.held[owner]
	p.mu.Unlock()
	if !ok {
		return nil, Result{}, "", false, nil
	}
	stored, err = p.commit(ctx, nil, h)
	return stored, Result{Tokens: h.tokens, Rotated: h.rotated, StateHash: h.stateHash}, h.op, true, err
}

// Forget drops what is held for owner: the owner is gone, and its Secrets with it.
func (p *Protocol) Forget(owner types.UID) {
	p.init()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.held, owner)
}

// ErrSuperseded means the private Secret holds a chain issued after the spend began that is neither
// the one spent nor the one finX returned: another writer stored something newer, and the result
// is dropped.
var ErrSuperseded = errors.New("the private Secret was changed by another writer while the new tokens were being stored")

// commit stores h, re-reading after any failed write: the write may have been applied anyway.
func (p *Protocol) commit(ctx context.Context, priv *tokenstore.Private, h *held) (*tokenstore.Private, error) {
	owner := h.owner.GetUID()
	var lastErr error
	for attempt := 0; attempt < commitAttempts; attempt++ {
		if attempt > 0 || priv == nil {
			var err error
			if priv, err = tokenstore.ReadPrivate(ctx, p.Reader, h.key, h.owner); err != nil {
				return nil, err
			}
		}
		if priv == nil {
			// The Secret was deleted meanwhile: the held tokens are the newest there are, so they
			// go into a new one, bound to the connection as the deleted one was.
			var err error
			if priv, err = tokenstore.EnsurePrivate(ctx, p.Writer, p.Reader, h.owner, h.key.Name, h.binding); err != nil {
				lastErr = err
				continue
			}
		}
		if done := priv.Holds(h.digest) && priv.JournalEntry() != h.journal; done {
			p.drop(owner, h)
			return priv, nil // an earlier write landed although its answer was an error
		}
		switch p.judge(priv, h) {
		case wait:
			return nil, ErrOtherSpend
		case newer:
			// Someone else stored a newer chain (another replica's authorisation, say). That one
			// wins; holding this result would block the connection for good.
			p.drop(owner, h)
			return nil, ErrSuperseded
		}
		t := h.tokens
		t.Rotations = 0
		if h.op == Refresh {
			t.Rotations = priv.Rotations()
			if !priv.HasRefreshToken() {
				// Recreated after a deletion: the held token continues the chain the spend began from.
				t.Rotations = h.rotations
			}
			if h.rotated {
				t.Rotations++
			}
		}
		err := tokenstore.CommitTokens(ctx, p.Writer, priv, t, h.stateHash)
		if err == nil {
			p.drop(owner, h)
			return priv, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// verdict says what a commit may do with the Secret it found.
type verdict int

const (
	write verdict = iota
	// wait: another process journaled a spend of what the Secret holds; once it settles, either
	// its result is this one (done) or the Secret still holds the spent token (write).
	wait
	// newer: the Secret holds a chain issued after this spend began.
	newer
)

// judge: write while the Secret still records this spend or holds nothing newer than the result.
func (p *Protocol) judge(priv *tokenstore.Private, h *held) verdict {
	switch {
	case h.journal != "" && priv.JournalEntry() == h.journal:
		return write
	case !priv.HasRefreshToken():
		return write
	case p.foreignSpendInFlight(priv):
		return wait
	case h.replaces != (tokenstore.Digest{}) && priv.Holds(h.replaces):
		return write
	case priv.RefreshIssuedAt().Before(h.began):
		// A chain older than this spend, put back by someone (a restore from a backup): the
		// result finX just returned is the newer one.
		return write
	}
	return newer
}

// ErrOtherSpend means another process is spending what the private Secret holds; the result stays
// held and is committed, or found committed, once that spend settles.
var ErrOtherSpend = errors.New("another process is spending the token in the private Secret; the new tokens stay held until it settles")

// foreignSpendInFlight: another process journaled a spend of what the Secret holds.
func (p *Protocol) foreignSpendInFlight(priv *tokenstore.Private) bool {
	j := priv.InFlight()
	return j != nil && j.Holder != p.Identity.holder()
}

func (p *Protocol) drop(owner types.UID, h *held) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[owner] == h {
		delete(p.held, owner)
	}
}

// Op returns what the spend spends.
func (s *Spend) Op() Op { return s.op }

// ReplayNow reports whether a spend whose outcome is unknown should be repeated now although its
// retry is scheduled at next. Only a retry scheduled before that spend began (by a backoff of an
// earlier failure or an earlier run, recordedAt) gives way; a retry scheduled for this spend's own
// failure (finX's Retry-After, say) is kept.
func ReplayNow(j *tokenstore.Journal, recordedAt, next, now time.Time) bool {
	if _, ok := ReplayAt(j, now); !ok {
		return false
	}
	// Status keeps whole seconds: a failure recorded in the second the spend began is its own.
	return recordedAt.Add(time.Second).Before(j.Since) && next.Sub(now) > maxReplayDelay
}

// ForgetOwner drops what is held for the owner of this namespace and name, once it no longer exists.
func (p *Protocol) ForgetOwner(key types.NamespacedName) {
	p.init()
	p.mu.Lock()
	defer p.mu.Unlock()
	for uid, h := range p.held {
		if h.owner.GetNamespace() == key.Namespace && h.owner.GetName() == key.Name {
			delete(p.held, uid)
		}
	}
}
