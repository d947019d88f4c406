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

package tokenstore

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CallbackResult is what the user did in the widget.
type CallbackResult string

const (
	CallbackSuccess   CallbackResult = "success"
	CallbackCancelled CallbackResult = "cancel"
	CallbackFailed    CallbackResult = "failure"
)

// Callback is a finX redirect the callback endpoint accepted and left for the reconciler.
type Callback struct {
	Result     CallbackResult
	Code       string // only for CallbackSuccess; single use
	StateHash  string
	FlowID     string
	ReceivedAt time.Time
}

// Journal is an in-flight entry: an operation that spends a token or a code.
type Journal struct {
	Operation string // "refresh" or "exchange"
	Started   time.Time
	// Holder identifies the process that wrote it, so another process can tell a spend that may
	// still be running elsewhere from one interrupted by a crash.
	Holder string
	// Since is when the first spend of this credential whose outcome is still unknown began. A
	// replay must reach finX within its reuse grace, which counts from that first spend.
	Since time.Time
}

// encode is the annotation value: operation@started@holder@since.
func (j Journal) encode() string {
	return j.Operation + "@" + formatTime(j.Started) + "@" + j.Holder + "@" + formatTime(j.Since)
}

// Tokens is what finX returned for a code exchange or a refresh.
type Tokens struct {
	RefreshToken string
	AccessToken  string
	TokenType    string
	// AccessExpiresAt comes from expires_in. A refresh that returns no new refresh token keeps the
	// old one with its original issue and expiry times.
	AccessIssuedAt   time.Time
	AccessExpiresAt  time.Time
	RefreshIssuedAt  time.Time
	RefreshExpiresAt time.Time
	// Rotations counts refresh-token rotations since the authorisation.
	Rotations int64
}

// Private is a read of the operator-private Secret. Its methods never return the token in an error.
type Private struct {
	Secret *corev1.Secret
}

// RefreshToken returns the stored refresh token ("" if none).
func (p *Private) RefreshToken() string { return string(p.Secret.Data[KeyRefreshToken]) }

// HasRefreshToken reports whether a refresh token is stored.
func (p *Private) HasRefreshToken() bool { return len(p.Secret.Data[KeyRefreshToken]) > 0 }

// RefreshIssuedAt and RefreshExpiresAt return the stored bookkeeping (zero if absent or unreadable).
func (p *Private) RefreshIssuedAt() time.Time  { return parseTime(p.Secret.Data[keyIssuedAt]) }
func (p *Private) RefreshExpiresAt() time.Time { return parseTime(p.Secret.Data[keyExpiresAt]) }

// Rotations returns the stored rotation count (0 if absent).
func (p *Private) Rotations() int64 {
	n, _ := strconv.ParseInt(string(p.Secret.Data[keyRotations]), 10, 64)
	return n
}

// Callback returns the pending callback, if any.
func (p *Private) Callback() *Callback {
	d := p.Secret.Data
	res := CallbackResult(d[keyCallbackResult])
	if res == "" {
		return nil
	}
	return &Callback{
		Result:     res,
		Code:       string(d[keyCallbackCode]),
		StateHash:  string(d[keyCallbackStateHash]),
		FlowID:     string(d[keyCallbackFlowID]),
		ReceivedAt: parseTime(d[keyCallbackReceivedAt]),
	}
}

// InFlight returns the journal entry, if an operation's outcome is unknown.
func (p *Private) InFlight() *Journal {
	v, ok := p.Secret.Annotations[AnnotationInFlight]
	if !ok {
		return nil
	}
	parts := strings.SplitN(v, "@", 4)
	j := &Journal{Operation: parts[0]}
	if len(parts) > 1 {
		j.Started = parseTime([]byte(parts[1]))
	}
	if len(parts) > 2 {
		j.Holder = parts[2]
	}
	j.Since = j.Started // entries written before Since existed
	if len(parts) > 3 {
		if t := parseTime([]byte(parts[3])); !t.IsZero() {
			j.Since = t
		}
	}
	return j
}

// Ended returns the reason and time recorded when finX refused the stored refresh token (or its
// rotation was lost); ok is false while the chain is not known to be dead.
func (p *Private) Ended() (reason string, at time.Time, ok bool) {
	v, ok := p.Secret.Annotations[AnnotationChainEnded]
	if !ok {
		return "", time.Time{}, false
	}
	reason, when, _ := strings.Cut(v, "@")
	return reason, parseTime([]byte(when)), true
}

// StoredByEarlierVersion reports a chain stored before the chain-ended mark existed.
func (p *Private) StoredByEarlierVersion() bool {
	return p.HasRefreshToken() && p.Secret.Annotations[AnnotationProtocol] != protocolVersion
}

// Digest is the SHA-256 of a token: enough to recognise it again without keeping or comparing the
// token itself.
type Digest [sha256.Size]byte

// DigestOf returns the digest of token ("" has the zero digest).
func DigestOf(token string) Digest {
	if token == "" {
		return Digest{}
	}
	return sha256.Sum256([]byte(token))
}

// RefreshTokenDigest returns the digest of the stored refresh token (zero if none).
func (p *Private) RefreshTokenDigest() Digest { return DigestOf(p.RefreshToken()) }

// Holds reports whether the stored refresh token has digest d.
func (p *Private) Holds(d Digest) bool {
	cur := p.RefreshTokenDigest()
	return d != (Digest{}) && subtle.ConstantTimeCompare(cur[:], d[:]) == 1
}

// StateConsumed reports whether the callback already accepted this state hash.
func (p *Private) StateConsumed(hash string) bool {
	return slices.Contains(consumedStates(p.Secret), hash)
}

// ReadPrivate reads the operator-private Secret from the API server (pass an uncached reader: a
// stale refresh token is a spent one). It returns (nil, nil) if the
// Secret does not exist.
func ReadPrivate(ctx context.Context, r client.Reader, key types.NamespacedName, owner metav1.Object) (*Private, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	// A Secret of the right name is used only if this connection controls it (or it is retained for
	// this connection): another connection naming it, or a leftover of a deleted connection of the
	// same name, would hand one user's tokens to another.
	if s.Type != TypeRefreshToken || s.Labels[LabelManagedBy] != ManagedByValue || !controls(s, owner) {
		return nil, &NotOwnedError{Name: key.String()}
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	return &Private{Secret: s}, nil
}

// EnsurePrivate returns the operator-private Secret, creating it (empty, bound to owner as b says)
// if it does not exist yet. A Secret deleted during a spend is recreated bound as the deleted one
// was: a retained chain must not become one its connection's deletion takes with it.
func EnsurePrivate(ctx context.Context, c client.Client, r client.Reader, owner client.Object, name string, b Binding) (*Private, error) {
	key := types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}
	p, err := ReadPrivate(ctx, r, key, owner)
	if err != nil || p != nil {
		return p, err
	}
	return createPrivate(ctx, c, owner, key, nil, func(s *corev1.Secret) error { return b.apply(s, owner, c.Scheme()) })
}

// CreateWithCallback creates the private Secret with a callback hand-off in it: the Secret is first
// needed when the user comes back from the widget, so that is when it is made. It is bound to owner
// as the deletion policy says (retain) from its first write. An AlreadyExists error means someone
// created it meanwhile: read it and hand over with RecordCallback instead.
func CreateWithCallback(ctx context.Context, c client.Client, owner client.Object, key types.NamespacedName, retain bool, id Retention, cb Callback) (*Private, error) {
	return createPrivate(ctx, c, owner, key, &cb, func(s *corev1.Secret) error { return bind(s, owner, c.Scheme(), retain, id) })
}

func createPrivate(ctx context.Context, c client.Client, owner client.Object, key types.NamespacedName, cb *Callback, bindTo func(*corev1.Secret) error) (*Private, error) {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name,
			Labels: managedLabels(owner.GetName(), RoleRefreshToken),
		},
		Type: TypeRefreshToken,
		Data: map[string][]byte{},
	}
	if err := bindTo(s); err != nil {
		return nil, err
	}
	if cb != nil {
		putCallback(s, *cb)
	}
	if err := c.Create(ctx, s); err != nil {
		return nil, fmt.Errorf("creating Secret %s: %w", key, err)
	}
	return &Private{Secret: s}, nil
}

// BeginSpend writes the journal entry before a token or code is spent. The update carries the
// resourceVersion of the read, so it fails if anyone wrote the Secret since: the caller must then
// re-read rather than spend a token that may already be stale.
// A journal of the same operation already there records an earlier spend whose outcome is unknown;
// its Since is kept, so replays stay timed from the first spend.
func BeginSpend(ctx context.Context, c client.Client, p *Private, operation string, now time.Time, holder string) (string, error) {
	s := p.Secret.DeepCopy()
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	j := Journal{Operation: operation, Started: now, Holder: holder, Since: now}
	if prior := p.InFlight(); prior != nil && prior.Operation == operation && !prior.Since.IsZero() {
		j.Since = prior.Since
	}
	entry := j.encode()
	s.Annotations[AnnotationInFlight] = entry
	if err := c.Update(ctx, s); err != nil {
		return "", fmt.Errorf("recording in-flight %s in Secret %s: %w", operation, s.Name, err)
	}
	p.Secret = s
	return entry, nil
}

// JournalEntry returns the raw journal value ("" if none), to check that a commit follows the
// spend this process recorded.
func (p *Private) JournalEntry() string { return p.Secret.Annotations[AnnotationInFlight] }

// EndSpend clears the journal when the call's outcome is known and nothing was rotated (finX
// answered with an error), so the next attempt is not mistaken for a lost rotation.
func EndSpend(ctx context.Context, c client.Client, p *Private) error {
	if p.InFlight() == nil {
		return nil
	}
	s := p.Secret.DeepCopy()
	delete(s.Annotations, AnnotationInFlight)
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("clearing in-flight journal in Secret %s: %w", s.Name, err)
	}
	p.Secret = s
	return nil
}

// Abandon clears the callback hand-off and the journal together: the code was refused or is too old
// to exchange, so neither may be acted on again.
func Abandon(ctx context.Context, c client.Client, p *Private) error {
	exchangeJournal := p.InFlight() != nil && p.InFlight().Operation == "exchange"
	if p.Callback() == nil && !exchangeJournal {
		return nil
	}
	s := p.Secret.DeepCopy()
	clearCallback(s)
	// A refresh journal is not this hand-off's to clear: it may record a lost rotation.
	if exchangeJournal {
		delete(s.Annotations, AnnotationInFlight)
	}
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("clearing the callback hand-off in Secret %s: %w", s.Name, err)
	}
	p.Secret = s
	return nil
}

// CommitTokens stores a new refresh token and its bookkeeping, clears the journal and, for an
// exchange, the callback hand-off, all in one write with a resourceVersion precondition.
//
// exchangedStateHash names the callback hand-off whose code produced the tokens; only that one is
// cleared. A refresh passes "": a callback that arrived meanwhile stays for the reconciler.
func CommitTokens(ctx context.Context, c client.Client, p *Private, t Tokens, exchangedStateHash string) error {
	if t.RefreshToken == "" {
		return errors.New("refusing to store an empty refresh token")
	}
	s := p.Secret.DeepCopy()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[KeyRefreshToken] = []byte(t.RefreshToken)
	s.Data[keyIssuedAt] = []byte(formatTime(t.RefreshIssuedAt))
	s.Data[keyExpiresAt] = []byte(formatTime(t.RefreshExpiresAt))
	s.Data[keyRotations] = []byte(strconv.FormatInt(t.Rotations, 10))
	if exchangedStateHash != "" && string(s.Data[keyCallbackStateHash]) == exchangedStateHash {
		clearCallback(s)
	}
	delete(s.Annotations, AnnotationInFlight)
	delete(s.Annotations, AnnotationChainEnded)
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[AnnotationProtocol] = protocolVersion
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("storing the new refresh token in Secret %s: %w", s.Name, err)
	}
	p.Secret = s
	return nil
}

// MarkEnded records in the Secret that finX refused its refresh token, and clears a refresh journal
// in the same write: the outcome of every earlier spend is now known. The token itself stays, so a
// person can still ask for one more try (finX may have answered in error).
func MarkEnded(ctx context.Context, c client.Client, p *Private, reason string, now time.Time) error {
	if r, _, ok := p.Ended(); ok && r == reason && (p.InFlight() == nil || p.InFlight().Operation != "refresh") {
		return nil
	}
	s := p.Secret.DeepCopy()
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[AnnotationChainEnded] = reason + "@" + formatTime(now)
	if j := p.InFlight(); j != nil && j.Operation == "refresh" {
		delete(s.Annotations, AnnotationInFlight)
	}
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("recording the end of the refresh chain in Secret %s: %w", s.Name, err)
	}
	p.Secret = s
	return nil
}

// Errors of RecordCallback, each a reason the callback endpoint reports to the browser.
var (
	ErrStateUsed = errors.New("this authorisation link has already been used")
)

// NotOwnedError reports a Secret with the expected name that this connection does not control.
type NotOwnedError struct{ Name string }

func (e *NotOwnedError) Error() string {
	return "Secret " + e.Name + " exists but is not controlled by this BankConnection (another connection, a leftover of a deleted one, or not the operator's): refusing to use it"
}

// RecordCallback hands a callback over to the reconciler: it stores the result (and code) in the
// private Secret and marks the state consumed, in one write with a resourceVersion precondition,
// so each state is accepted once even when two requests race.
func RecordCallback(ctx context.Context, c client.Client, p *Private, cb Callback) error {
	if p.StateConsumed(cb.StateHash) {
		return ErrStateUsed
	}
	s := p.Secret.DeepCopy()
	putCallback(s, cb)
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("handing the callback over in Secret %s: %w", s.Name, err)
	}
	p.Secret = s
	return nil
}

// putCallback writes the hand-off into s and marks its state consumed. An earlier hand-off not yet
// consumed (from a link since replaced) is overwritten: only the newest link's result can still be
// exchanged.
func putCallback(s *corev1.Secret, cb Callback) {
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	clearCallback(s)
	s.Data[keyCallbackResult] = []byte(cb.Result)
	if cb.Code != "" {
		s.Data[keyCallbackCode] = []byte(cb.Code)
	}
	s.Data[keyCallbackStateHash] = []byte(cb.StateHash)
	if cb.FlowID != "" {
		s.Data[keyCallbackFlowID] = []byte(cb.FlowID)
	}
	s.Data[keyCallbackReceivedAt] = []byte(formatTime(cb.ReceivedAt))
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	consumed := append(consumedStates(s), cb.StateHash)
	if len(consumed) > maxConsumedStates {
		consumed = consumed[len(consumed)-maxConsumedStates:]
	}
	s.Annotations[AnnotationConsumedStates] = strings.Join(consumed, ",")
}

func clearCallback(s *corev1.Secret) {
	for _, k := range []string{keyCallbackResult, keyCallbackCode, keyCallbackStateHash, keyCallbackFlowID, keyCallbackReceivedAt} {
		delete(s.Data, k)
	}
}

func consumedStates(s *corev1.Secret) []string {
	v := s.Annotations[AnnotationConsumedStates]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func managedLabels(connection, role string) map[string]string {
	return map[string]string{
		LabelManagedBy:  ManagedByValue,
		LabelConnection: connection,
		LabelRole:       role,
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(b []byte) time.Time {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}
	}
	return t
}

// CallbackChanged reports whether a Secret update wrote a new callback hand-off (the one change to
// the private Secret that does not come from the reconciler itself). A hand-off cleared is the
// reconciler's own doing, and reports nothing. Either Secret may be a cache view.
func CallbackChanged(old, cur *corev1.Secret) bool {
	return HoldsCallback(cur) && (string(old.Data[keyCallbackStateHash]) != string(cur.Data[keyCallbackStateHash]) ||
		string(old.Data[keyCallbackResult]) != string(cur.Data[keyCallbackResult]))
}

// HoldsCallback reports whether s holds a callback hand-off, as a private Secret the callback
// created does.
func HoldsCallback(s *corev1.Secret) bool { return len(s.Data[keyCallbackResult]) > 0 }

// ChainTouched reports an update of the private Secret that the operator did not make and must look
// at: the refresh token removed or emptied, or replaced while no spend was in flight (a restore from
// a backup, say). The operator's own commits always replace a token under a journal.
// Both Secrets may be cache views (ForCache).
func ChainTouched(old, cur *corev1.Secret) bool {
	before, after := refreshDigest(old), refreshDigest(cur)
	if before == after {
		return false
	}
	if len(after) == 0 {
		return true
	}
	return !journaled(old)
}
