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

package spend_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/finx-operator/finx-operator/internal/spend"
	"github.com/finx-operator/finx-operator/internal/tokenstore"
)

var secretsGR = schema.GroupResource{Resource: "secrets"}

func internalError() error {
	return apierrors.NewInternalError(fmt.Errorf("etcdserver: leader changed"))
}

func connectionReset() error {
	return fmt.Errorf(`Put "https://127.0.0.1/api/v1/namespaces/x/secrets/y": %w`, syscall.ECONNRESET)
}

func unavailable() error {
	return apierrors.NewServiceUnavailable("the API server is shutting down")
}

func forbidden() error {
	return apierrors.NewForbidden(secretsGR, "y", fmt.Errorf("an admission webhook denied the request"))
}

func invalid() error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "y",
		field.ErrorList{field.Forbidden(field.NewPath("data"), "a policy forbids the write")})
}

var _ = Describe("Spend protocol", func() {
	var f *fixture
	BeforeEach(func() { f = newFixture() })

	// begin reads the Secret through p's own connection and journals a spend of op.
	begin := func(p *spend.Protocol, op spend.Op) *spend.Spend {
		GinkgoHelper()
		priv, err := tokenstore.ReadPrivate(ctx, p.Reader, f.key, f.owner)
		Expect(err).NotTo(HaveOccurred())
		sp, until, err := p.Begin(ctx, f.owner, priv, op)
		Expect(err).NotTo(HaveOccurred())
		Expect(until).To(BeZero())
		Expect(sp).NotTo(BeNil())
		return sp
	}

	Context("a spend whose writes all succeed", func() {
		It("journals before the spend, then stores the rotated token and clears the journal in one write", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			Expect(sp.Prior).To(BeNil())
			Expect(sp.Op()).To(Equal(spend.Refresh))

			By("the journal is on the Secret before the token leaves the process")
			j := f.read().InFlight()
			Expect(j).NotTo(BeNil())
			Expect(j.Operation).To(Equal("refresh"))
			Expect(j.Holder).To(HavePrefix(p.Identity.Instance + "~"))
			Expect(j.Holder).To(HaveSuffix(p.Identity.Run))
			Expect(j.Started).To(BeTemporally("==", f.clk.Now()))
			Expect(j.Since).To(BeTemporally("==", f.clk.Now()))
			Expect(f.read().RefreshToken()).To(Equal(f.first), "the journal does not touch the token")

			stored, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).NotTo(HaveOccurred())
			Expect(stored.RefreshToken()).To(Equal("rt-1"))
			f.expectStored("rt-1", f.rotations+1)
			Expect(pr.count(journaling)).To(Equal(1))
			Expect(pr.count(storing("rt-1"))).To(Equal(1))
			Expect(p.Holding(f.owner.UID)).To(BeFalse())
		})

		It("keeps the count for a refresh that returned no new refresh token", func() {
			p, _ := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			_, err := sp.Commit(ctx, spend.Result{Tokens: f.tokens(f.first, 0), Rotated: false})
			Expect(err).NotTo(HaveOccurred())
			f.expectStored(f.first, f.rotations)
		})

		It("stores an exchange as a new chain: count zero, its own hand-off consumed, the chain-ended marker gone", func() {
			Expect(tokenstore.MarkEnded(ctx, k8sClient, f.read(), "RefreshRejected", f.clk.Now())).To(Succeed())
			Expect(tokenstore.RecordCallback(ctx, k8sClient, f.read(), tokenstore.Callback{
				Result: tokenstore.CallbackSuccess, Code: "code-1", StateHash: "state-1", ReceivedAt: f.clk.Now(),
			})).To(Succeed())
			p, _ := f.protocol("pod-a")
			sp := begin(p, spend.Exchange)
			r := f.result("rt-new-chain")
			r.StateHash = "state-1"
			_, err := sp.Commit(ctx, r)
			Expect(err).NotTo(HaveOccurred())
			got := f.expectStored("rt-new-chain", 0)
			Expect(got.Callback()).To(BeNil())
			Expect(got.StateConsumed("state-1")).To(BeTrue())
			_, _, ended := got.Ended()
			Expect(ended).To(BeFalse())
		})

		It("refuses to store an empty refresh token, and holds nothing", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			_, err := sp.Commit(ctx, spend.Result{Tokens: f.tokens("", 0), Rotated: true})
			Expect(err).To(HaveOccurred())
			Expect(p.Holding(f.owner.UID)).To(BeFalse())
			Expect(pr.count(func(w write) bool { return !journaling(w) })).To(BeZero())
		})
	})

	Context("a commit write whose outcome is ambiguous", func() {
		DescribeTable("lands exactly once",
			func(op spend.Op, applied bool, fail func() error) {
				p, pr := f.protocol("pod-a")
				sp := begin(p, op)
				pr.inject(&fault{match: commitOf("rt-1"), times: 1, applied: applied, err: fail()})
				stored, err := sp.Commit(ctx, f.result("rt-1"))
				Expect(err).NotTo(HaveOccurred(), "a write that may have failed is re-read and, if needed, repeated")
				Expect(stored.RefreshToken()).To(Equal("rt-1"))
				want := f.rotations + 1
				if op == spend.Exchange {
					want = 0
				}
				f.expectStored("rt-1", want)
				Expect(pr.count(landed(storing("rt-1")))).To(Equal(1), "the token is written once")
				if applied {
					Expect(pr.count(storing("rt-1"))).To(Equal(1), "a write that landed is recognised by the token's digest, not sent again")
				} else {
					Expect(pr.count(storing("rt-1"))).To(Equal(2))
				}
				Expect(p.Holding(f.owner.UID)).To(BeFalse())
				writes := pr.count(func(write) bool { return true })
				_, _, _, held, err := p.Resume(ctx, f.owner.UID)
				Expect(held).To(BeFalse())
				Expect(err).NotTo(HaveOccurred())
				Expect(pr.count(func(write) bool { return true })).To(Equal(writes), "Resume after the commit writes nothing")
			},
			Entry("refresh: applied, then a 500", spend.Refresh, true, internalError),
			Entry("refresh: applied, then the connection was reset", spend.Refresh, true, connectionReset),
			Entry("refresh: refused with a 500", spend.Refresh, false, internalError),
			Entry("refresh: refused with a 503", spend.Refresh, false, unavailable),
			Entry("exchange: applied, then the connection was reset", spend.Exchange, true, connectionReset),
			Entry("exchange: refused with a 503", spend.Exchange, false, unavailable),
		)

		It("re-reads after a conflict and keeps the callback hand-off written meanwhile", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			// The callback endpoint hands a new link's result over between the journal and the commit.
			Expect(tokenstore.RecordCallback(ctx, k8sClient, f.read(), tokenstore.Callback{
				Result: tokenstore.CallbackSuccess, Code: "code-2", StateHash: "state-2", ReceivedAt: f.clk.Now(),
			})).To(Succeed())
			_, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).NotTo(HaveOccurred())
			got := f.expectStored("rt-1", f.rotations+1)
			Expect(got.Callback()).NotTo(BeNil(), "a refresh never clears a hand-off")
			Expect(got.Callback().Code).To(Equal("code-2"))
			Expect(got.StateConsumed("state-2")).To(BeTrue())
			Expect(pr.count(storing("rt-1"))).To(Equal(2), "the conflicting write and its repeat")
			Expect(pr.count(landed(storing("rt-1")))).To(Equal(1))
			Expect(p.Holding(f.owner.UID)).To(BeFalse())
		})

		It("keeps a newer link's hand-off when an exchange of an older one commits", func() {
			Expect(tokenstore.RecordCallback(ctx, k8sClient, f.read(), tokenstore.Callback{
				Result: tokenstore.CallbackSuccess, Code: "code-old", StateHash: "state-old", ReceivedAt: f.clk.Now(),
			})).To(Succeed())
			p, _ := f.protocol("pod-a")
			sp := begin(p, spend.Exchange)
			Expect(tokenstore.RecordCallback(ctx, k8sClient, f.read(), tokenstore.Callback{
				Result: tokenstore.CallbackSuccess, Code: "code-new", StateHash: "state-new", ReceivedAt: f.clk.Now(),
			})).To(Succeed())
			r := f.result("rt-1")
			r.StateHash = "state-old"
			_, err := sp.Commit(ctx, r)
			Expect(err).NotTo(HaveOccurred())
			got := f.expectStored("rt-1", 0)
			Expect(got.Callback()).NotTo(BeNil())
			Expect(got.Callback().StateHash).To(Equal("state-new"))
		})

		It("puts the held tokens into a recreated Secret, owned by the same owner, when the Secret was deleted meanwhile", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			old := f.read().Secret
			Expect(k8sClient.Delete(ctx, old)).To(Succeed())
			_, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).NotTo(HaveOccurred())
			got := f.expectStored("rt-1", f.rotations+1)
			Expect(got.Secret.UID).NotTo(Equal(old.UID), "a new Secret")
			Expect(metav1.IsControlledBy(got.Secret, f.owner)).To(BeTrue())
			Expect(got.Secret.Type).To(Equal(tokenstore.TypeRefreshToken))
			Expect(pr.count(landed(storing("rt-1")))).To(Equal(1))
			Expect(p.Holding(f.owner.UID)).To(BeFalse())
		})

		It("recreates a Secret deleted meanwhile retained, as the deleted one was, so the chain outlives its connection", func() {
			id := tokenstore.Retention{UserID: f.owner.Spec.UserID, ClientKind: "FinXClient", ClientName: "finx", FinXUserID: "finx-user-7"}
			_, err := tokenstore.SetRetention(ctx, k8sClient, f.read(), f.owner, true, id)
			Expect(err).NotTo(HaveOccurred())
			p, _ := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			old := f.read().Secret
			Expect(metav1.GetControllerOf(old)).To(BeNil())
			Expect(k8sClient.Delete(ctx, old)).To(Succeed())
			_, err = sp.Commit(ctx, f.result("rt-1"))
			Expect(err).NotTo(HaveOccurred())
			got := f.expectStored("rt-1", f.rotations+1)
			Expect(got.Secret.UID).NotTo(Equal(old.UID), "a new Secret")
			Expect(metav1.GetControllerOf(got.Secret)).To(BeNil(), "no owner reference: the garbage collector would delete it with its connection")
			Expect(got.Retained()).To(BeTrue())
			for _, k := range []string{tokenstore.AnnotationRetainedFor, tokenstore.AnnotationRetainedUser,
				tokenstore.AnnotationRetainedClient, tokenstore.AnnotationRetainedFinXUser} {
				Expect(got.Secret.Annotations).To(HaveKeyWithValue(k, old.Annotations[k]))
			}
			Expect(p.Holding(f.owner.UID)).To(BeFalse())
		})

		DescribeTable("holds the result past the spend's deadline, and Resume with a fresh context lands it once",
			func(applied bool) {
				p, pr := f.protocol("pod-a")
				sp := begin(p, spend.Refresh)
				pr.inject(&fault{match: commitOf("rt-1"), times: 1, applied: applied, hang: true})
				cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
				_, err := sp.Commit(cctx, f.result("rt-1"))
				Expect(err).To(MatchError(context.DeadlineExceeded))
				Expect(p.Holding(f.owner.UID)).To(BeTrue())
				op, ok := p.HeldOp(f.owner.UID)
				Expect(ok).To(BeTrue())
				Expect(op).To(Equal(spend.Refresh))
				if !applied {
					Expect(f.read().RefreshToken()).To(Equal(f.first))
					Expect(f.read().JournalEntry()).NotTo(BeEmpty(), "the journal stays until the result lands")
				}

				stored, r, op, held, err := p.Resume(ctx, f.owner.UID)
				Expect(err).NotTo(HaveOccurred())
				Expect(held).To(BeTrue())
				Expect(op).To(Equal(spend.Refresh))
				Expect(r.Tokens.RefreshToken).To(Equal("rt-1"))
				Expect(r.Rotated).To(BeTrue())
				Expect(stored.RefreshToken()).To(Equal("rt-1"))
				f.expectStored("rt-1", f.rotations+1)
				Expect(pr.count(landed(storing("rt-1")))).To(Equal(1))
				if applied {
					Expect(pr.count(storing("rt-1"))).To(Equal(1), "Resume recognises the write that landed")
				}
				Expect(p.Holding(f.owner.UID)).To(BeFalse())
				_, _, _, held, _ = p.Resume(ctx, f.owner.UID)
				Expect(held).To(BeFalse())
			},
			Entry("the write never reached the API server", false),
			Entry("the write was applied, the answer came too late", true),
		)

		DescribeTable("holds the result while the write is denied, loses nothing, and lands it once the denial is lifted",
			func(deny func() error, is func(error) bool) {
				p, pr := f.protocol("pod-a")
				sp := begin(p, spend.Refresh)
				lift := pr.inject(&fault{match: commitOf("rt-1"), err: deny()})
				_, err := sp.Commit(ctx, f.result("rt-1"))
				Expect(err).To(HaveOccurred())
				Expect(is(err)).To(BeTrue(), "the API server's answer reaches the caller: %v", err)
				Expect(p.Holding(f.owner.UID)).To(BeTrue())
				priv := f.read()
				Expect(priv.RefreshToken()).To(Equal(f.first), "nothing was overwritten")
				Expect(priv.InFlight()).NotTo(BeNil(), "the journal still says a spend is unsettled")

				_, _, _, held, err := p.Resume(ctx, f.owner.UID)
				Expect(held).To(BeTrue())
				Expect(is(err)).To(BeTrue())
				Expect(p.Holding(f.owner.UID)).To(BeTrue())

				lift()
				_, _, _, held, err = p.Resume(ctx, f.owner.UID)
				Expect(held).To(BeTrue())
				Expect(err).NotTo(HaveOccurred())
				f.expectStored("rt-1", f.rotations+1)
				Expect(pr.count(landed(storing("rt-1")))).To(Equal(1))
				Expect(p.Holding(f.owner.UID)).To(BeFalse())
				before := pr.count(storing("rt-1"))
				_, _, _, held, _ = p.Resume(ctx, f.owner.UID)
				Expect(held).To(BeFalse())
				Expect(pr.count(storing("rt-1"))).To(Equal(before))
			},
			Entry("Forbidden", forbidden, apierrors.IsForbidden),
			Entry("Invalid", invalid, apierrors.IsInvalid),
		)

		It("never overwrites a chain another writer stored after the spend began: ErrSuperseded, and the result is dropped", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			// Another replica's authorisation, say: another token, issued now, no journal.
			other := f.read()
			Expect(tokenstore.CommitTokens(ctx, k8sClient, other, f.tokens("rt-other", 7), "")).To(Succeed())
			_, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).To(MatchError(spend.ErrSuperseded))
			Expect(p.Holding(f.owner.UID)).To(BeFalse(), "holding it would block the connection for good")
			f.expectStored("rt-other", 7)
			// A write from the stale read may be tried; the resourceVersion precondition refuses it.
			Expect(pr.count(landed(func(w write) bool { return w.token == "rt-1" }))).To(BeZero())
			_, _, _, held, _ := p.Resume(ctx, f.owner.UID)
			Expect(held).To(BeFalse())
		})

		It("writes over an older chain put back meanwhile (a restore from a backup)", func() {
			p, _ := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			restored := f.tokens("rt-from-backup", 2)
			restored.RefreshIssuedAt = f.clk.Now().Add(-24 * time.Hour)
			Expect(tokenstore.CommitTokens(ctx, k8sClient, f.read(), restored, "")).To(Succeed())
			_, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Holding(f.owner.UID)).To(BeFalse())
			Expect(f.read().RefreshToken()).To(Equal("rt-1"), "the result finX just returned is the live chain")
		})

		It("does not write over a spend another process journaled since", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			lift := pr.inject(&fault{match: commitOf("rt-1"), err: forbidden()})
			_, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).To(HaveOccurred())
			lift()
			// Another replica waits out the fence and spends the same token.
			q, _ := f.protocol("pod-b")
			priv := f.read()
			_, until, err := q.Begin(ctx, f.owner, priv, spend.Refresh)
			Expect(err).NotTo(HaveOccurred())
			f.clk.SetTime(until)
			sq := begin(q, spend.Refresh)
			Expect(sq.Prior).NotTo(BeNil())
			_, _, _, held, err := p.Resume(ctx, f.owner.UID)
			Expect(held).To(BeTrue(), "kept until the other spend settles")
			Expect(err).To(MatchError(spend.ErrOtherSpend))
			Expect(f.read().RefreshToken()).To(Equal(f.first))
			Expect(f.read().JournalEntry()).To(ContainSubstring("pod-b~"))
		})
	})

	Context("a journal write whose outcome is ambiguous", func() {
		// journalWrite matches Begin's write: it carries a journal.
		journalWrite := func(s *corev1.Secret) bool {
			_, ok := s.Annotations[tokenstore.AnnotationInFlight]
			return ok
		}

		It("fails Begin when the journal was applied but answered with an error; the re-read spend proceeds at once with it as Prior", func() {
			p, pr := f.protocol("pod-a")
			pr.inject(&fault{match: journalWrite, times: 1, applied: true, err: connectionReset()})
			sp, until, err := p.Begin(ctx, f.owner, f.read(), spend.Refresh)
			Expect(err).To(HaveOccurred(), "the token must not be spent on a journal not known to be stored")
			Expect(sp).To(BeNil())
			Expect(until).To(BeZero())
			orphan := f.read().InFlight()
			Expect(orphan).NotTo(BeNil())

			f.clk.Step(2 * time.Second)
			sp = begin(p, spend.Refresh)
			Expect(sp.Prior).NotTo(BeNil(), "from the Secret alone the orphan is a spend of unknown outcome")
			Expect(sp.Prior.Since).To(BeTemporally("==", orphan.Since))
			Expect(f.read().InFlight().Since).To(BeTemporally("==", orphan.Since))
			_, err = sp.Commit(ctx, f.result("rt-1"))
			Expect(err).NotTo(HaveOccurred())
			f.expectStored("rt-1", f.rotations+1)
		})

		It("fails Begin when the journal write was refused, and leaves the Secret as it was", func() {
			p, pr := f.protocol("pod-a")
			before := f.read()
			pr.inject(&fault{match: journalWrite, times: 1, err: unavailable()})
			sp, _, err := p.Begin(ctx, f.owner, before, spend.Refresh)
			Expect(apierrors.IsServiceUnavailable(err)).To(BeTrue(), "%v", err)
			Expect(sp).To(BeNil())
			after := f.read()
			Expect(after.Secret.ResourceVersion).To(Equal(before.Secret.ResourceVersion))
			Expect(after.InFlight()).To(BeNil())
			Expect(begin(p, spend.Refresh).Prior).To(BeNil())
		})
	})

	Context("a crash", func() {
		// crash runs the first process up to its crash and returns the refresh token the Secret
		// should hold afterwards and the Prior the next run should see.
		type window func(p *spend.Protocol, pr *process, sp *spend.Spend) (token string, prior bool)
		afterBegin := window(func(*spend.Protocol, *process, *spend.Spend) (string, bool) {
			return f.first, true
		})
		// finX rotated, and the result died with the process before Commit: the Secret looks as
		// after Begin, but a replay must now come within finX's reuse grace.
		afterCall := afterBegin
		duringCommitRefused := window(func(p *spend.Protocol, pr *process, sp *spend.Spend) (string, bool) {
			pr.inject(&fault{match: commitOf("rt-1"), times: 1, err: connectionReset(), die: true})
			_, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).To(HaveOccurred())
			return f.first, true
		})
		duringCommitApplied := window(func(p *spend.Protocol, pr *process, sp *spend.Spend) (string, bool) {
			pr.inject(&fault{match: commitOf("rt-1"), times: 1, applied: true, die: true})
			_, err := sp.Commit(ctx, f.result("rt-1"))
			Expect(err).To(MatchError(errDead))
			Expect(pr.count(landed(storing("rt-1")))).To(Equal(1))
			return "rt-1", false
		})

		DescribeTable("lets a new run of the same instance spend at once, with the dead run's journal as Prior",
			func(w func() window) {
				p1, pr1 := f.protocol("pod-a")
				sp1 := begin(p1, spend.Refresh)
				dead := f.read().InFlight()
				token, prior := w()(p1, pr1, sp1)
				pr1.kill()
				f.clk.Step(3 * time.Second)

				p2, pr2 := f.protocol("pod-a")
				Expect(p2.Identity.Run).NotTo(Equal(p1.Identity.Run))
				priv := f.read()
				Expect(priv.RefreshToken()).To(Equal(token))
				Expect(p2.Fence(priv.InFlight(), priv.JournalEntry())).To(BeZero(), "the kubelet stopped the earlier run")
				sp2 := begin(p2, spend.Refresh)
				j := f.read().InFlight()
				Expect(j.Holder).To(HaveSuffix(p2.Identity.Run))
				Expect(j.Started).To(BeTemporally("==", f.clk.Now()))
				if prior {
					Expect(sp2.Prior).NotTo(BeNil())
					Expect(sp2.Prior.Holder).To(Equal(dead.Holder))
					Expect(sp2.Prior.Since).To(BeTemporally("==", dead.Since))
					Expect(j.Since).To(BeTemporally("==", dead.Since), "replays stay timed from the first spend")
				} else {
					Expect(sp2.Prior).To(BeNil(), "the dead run's commit landed: nothing is unknown")
					Expect(j.Since).To(BeTemporally("==", f.clk.Now()))
				}
				_, err := sp2.Commit(ctx, f.result("rt-2"))
				Expect(err).NotTo(HaveOccurred())
				want := f.rotations + 1
				if !prior {
					want++
				}
				f.expectStored("rt-2", want)
				Expect(pr2.count(landed(storing("rt-2")))).To(Equal(1))
			},
			Entry("after Begin, before the finX call", func() window { return afterBegin }),
			Entry("after the finX call, before Commit", func() window { return afterCall }),
			Entry("during Commit, the write refused", func() window { return duringCommitRefused }),
			Entry("during Commit, the write applied and its answer lost", func() window { return duringCommitApplied }),
		)

		DescribeTable("fences another instance until the dead spend's deadline has passed, by its own clock",
			func(w func() window) {
				p1, pr1 := f.protocol("pod-a")
				sp1 := begin(p1, spend.Refresh)
				dead := f.read().InFlight()
				w()(p1, pr1, sp1)
				pr1.kill()
				// The other instance first sees the journal long after it was written: the fence
				// counts from when it saw it, not from the dead process's clock.
				f.clk.Step(time.Hour)
				firstSeen := f.clk.Now()

				q, pr := f.protocol("pod-b")
				priv := f.read()
				sp, until, err := q.Begin(ctx, f.owner, priv, spend.Refresh)
				Expect(err).NotTo(HaveOccurred())
				Expect(sp).To(BeNil())
				Expect(until).To(BeTemporally("==", firstSeen.Add(spendTimeout+fenceMargin)))
				Expect(pr.count(journaling)).To(BeZero(), "a fenced process writes nothing")

				f.clk.SetTime(until.Add(-time.Millisecond))
				sp, again, err := q.Begin(ctx, f.owner, f.read(), spend.Refresh)
				Expect(err).NotTo(HaveOccurred())
				Expect(sp).To(BeNil())
				Expect(again).To(BeTemporally("==", until), "the fence does not move")

				f.clk.SetTime(until)
				sp = begin(q, spend.Refresh)
				Expect(sp.Prior).NotTo(BeNil())
				Expect(sp.Prior.Holder).To(Equal(dead.Holder))
				Expect(f.read().InFlight().Since).To(BeTemporally("==", dead.Since))
				_, err = sp.Commit(ctx, f.result("rt-2"))
				Expect(err).NotTo(HaveOccurred())
				f.expectStored("rt-2", f.rotations+1)
			},
			Entry("after Begin, before the finX call", func() window { return afterBegin }),
			Entry("after the finX call, before Commit", func() window { return afterCall }),
			Entry("during Commit, the write refused", func() window { return duringCommitRefused }),
		)

		It("lets another instance spend at once after a dead run's commit landed", func() {
			p1, pr1 := f.protocol("pod-a")
			sp1 := begin(p1, spend.Refresh)
			duringCommitApplied(p1, pr1, sp1)
			q, _ := f.protocol("pod-b")
			sp := begin(q, spend.Refresh)
			Expect(sp.Prior).To(BeNil())
		})

		It("fences a journal written before instances existed, whatever this process's instance", func() {
			priv := f.read()
			s := priv.Secret.DeepCopy()
			s.Annotations = map[string]string{}
			s.Annotations[tokenstore.AnnotationInFlight] = "refresh@2026-12-01T03:00:00Z@old-operator"
			Expect(k8sClient.Update(ctx, s)).To(Succeed())
			for _, inst := range []string{"", "old-operator", "pod-a"} {
				p, _ := f.protocol(inst)
				sp, until, err := p.Begin(ctx, f.owner, f.read(), spend.Refresh)
				Expect(err).NotTo(HaveOccurred())
				Expect(sp).To(BeNil(), "instance %q", inst)
				// That version bounded a spend by 60s: its spend may still run that long.
				Expect(until).To(BeTemporally("==", f.clk.Now().Add(time.Minute+fenceMargin)))
			}
		})
	})

	It("lets exactly one of two live processes racing on the same read journal; the other is then fenced", func() {
		pa, pra := f.protocol("pod-a")
		pb, prb := f.protocol("pod-b")
		reads := []*tokenstore.Private{f.read(), f.read()}
		Expect(reads[0].Secret.ResourceVersion).To(Equal(reads[1].Secret.ResourceVersion))
		type outcome struct {
			sp  *spend.Spend
			err error
		}
		out := make([]outcome, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, p := range []*spend.Protocol{pa, pb} {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				<-start
				sp, _, err := p.Begin(ctx, f.owner, reads[i], spend.Refresh)
				out[i] = outcome{sp, err}
			}()
		}
		close(start)
		wg.Wait()
		Expect(pra.count(landed(journaling))+prb.count(landed(journaling))).To(Equal(1), "one journal write wins")
		winner, loser := 0, 1
		if out[0].sp == nil {
			winner, loser = 1, 0
		}
		Expect(out[winner].err).NotTo(HaveOccurred())
		Expect(out[winner].sp).NotTo(BeNil())
		Expect(out[loser].sp).To(BeNil())
		Expect(apierrors.IsConflict(out[loser].err)).To(BeTrue(), "%v", out[loser].err)
		ps := []*spend.Protocol{pa, pb}
		Expect(f.read().InFlight().Holder).To(HaveSuffix(ps[winner].Identity.Run))

		By("the loser re-reads and is fenced: it never spends")
		sp, until, err := ps[loser].Begin(ctx, f.owner, f.read(), spend.Refresh)
		Expect(err).NotTo(HaveOccurred())
		Expect(sp).To(BeNil())
		Expect(until).To(BeTemporally("==", f.clk.Now().Add(spendTimeout+fenceMargin)))

		_, err = out[winner].sp.Commit(ctx, f.result("rt-1"))
		Expect(err).NotTo(HaveOccurred())
		f.expectStored("rt-1", f.rotations+1)
	})

	Context("a journal write that took most of the spend's time", func() {
		// late is a spend context with less than half of the spend's bound left, as after a slow
		// journal write.
		late := func(p *spend.Protocol) context.Context {
			c, cancel := context.WithTimeout(ctx, p.Timeout/2-time.Second)
			DeferCleanup(cancel)
			return c
		}

		It("sends nothing: Begin fails with ErrJournalTooSlow and the journal is cleared", func() {
			p, pr := f.protocol("pod-a")
			priv, err := tokenstore.ReadPrivate(ctx, p.Reader, f.key, f.owner)
			Expect(err).NotTo(HaveOccurred())
			sp, _, err := p.Begin(late(p), f.owner, priv, spend.Refresh)
			Expect(err).To(MatchError(spend.ErrJournalTooSlow))
			Expect(sp).To(BeNil(), "no spend to make the finX call with")
			Expect(f.read().InFlight()).To(BeNil())
			f.expectStored(f.first, f.rotations)
			Expect(pr.count(journaling)).To(Equal(1))
			Expect(pr.count(func(w write) bool { return !journaling(w) })).To(Equal(1), "the journal cleared in one write")

			By("with the spend's whole time, the next Begin proceeds, with no unknown outcome on record")
			Expect(begin(p, spend.Refresh).Prior).To(BeNil())
		})

		It("still replays an earlier spend whose outcome is unknown: finX's reuse grace may be running out", func() {
			p1, pr1 := f.protocol("pod-a")
			begin(p1, spend.Refresh)
			pr1.kill()
			p2, _ := f.protocol("pod-a")
			priv, err := tokenstore.ReadPrivate(ctx, p2.Reader, f.key, f.owner)
			Expect(err).NotTo(HaveOccurred())
			sp, until, err := p2.Begin(late(p2), f.owner, priv, spend.Refresh)
			Expect(err).NotTo(HaveOccurred())
			Expect(until).To(BeZero())
			Expect(sp).NotTo(BeNil())
			Expect(sp.Prior).NotTo(BeNil())
			Expect(f.read().InFlight()).NotTo(BeNil())
		})
	})

	Context("an answer that settles the spend without tokens", func() {
		It("Refused clears the journal of a spend with no Prior, in one write", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			Expect(sp.Refused(ctx)).To(Succeed())
			f.expectStored(f.first, f.rotations)
			Expect(pr.count(func(w write) bool { return !journaling(w) })).To(Equal(1))
		})

		It("Refused keeps the journal when an earlier spend's outcome is unknown", func() {
			p1, pr1 := f.protocol("pod-a")
			begin(p1, spend.Refresh)
			pr1.kill()
			p2, pr2 := f.protocol("pod-a")
			sp := begin(p2, spend.Refresh)
			Expect(sp.Prior).NotTo(BeNil())
			Expect(sp.Refused(ctx)).To(Succeed())
			j := f.read().InFlight()
			Expect(j).NotTo(BeNil(), "the earlier spend may have rotated: its journal must stay")
			Expect(j.Holder).To(HaveSuffix(p2.Identity.Run))
			Expect(pr2.count(func(w write) bool { return !journaling(w) })).To(BeZero())
		})

		// The callback endpoint writes the Secret whenever a user finishes the widget: a refusal
		// or an end that met its write must still settle the spend, or the next spend would take
		// this one for an unknown outcome (a rejection then reads as a lost rotation).
		handOff := func() {
			GinkgoHelper()
			Expect(tokenstore.RecordCallback(ctx, k8sClient, f.read(), tokenstore.Callback{
				Result: tokenstore.CallbackSuccess, Code: "code-9", StateHash: "state-9", ReceivedAt: f.clk.Now(),
			})).To(Succeed())
		}

		It("Refused re-reads after the callback hand-off wrote meanwhile, clears the journal and keeps the hand-off", func() {
			p, _ := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			handOff()
			Expect(sp.Refused(ctx)).To(Succeed())
			got := f.expectStored(f.first, f.rotations)
			Expect(got.Callback()).NotTo(BeNil())
			Expect(got.Callback().StateHash).To(Equal("state-9"))
			Expect(begin(p, spend.Refresh).Prior).To(BeNil(), "the refused spend is settled")
		})

		It("Ended re-reads after the callback hand-off wrote meanwhile, marks the chain and keeps the hand-off", func() {
			p, _ := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			handOff()
			Expect(sp.Ended(ctx, "RefreshRejected")).To(Succeed())
			got := f.read()
			Expect(got.InFlight()).To(BeNil())
			_, _, ended := got.Ended()
			Expect(ended).To(BeTrue())
			Expect(got.Callback()).NotTo(BeNil())
		})

		It("Refused leaves a journal it no longer owns alone", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			// Another writer replaced the journal (a later spend, say).
			other := f.read().Secret.DeepCopy()
			other.Annotations[tokenstore.AnnotationInFlight] = "refresh@2026-12-01T04:00:00Z@pod-b~r2@2026-12-01T04:00:00Z"
			Expect(k8sClient.Update(ctx, other)).To(Succeed())
			Expect(sp.Refused(ctx)).NotTo(Succeed())
			Expect(f.read().JournalEntry()).To(ContainSubstring("pod-b~r2"))
			Expect(pr.count(landed(func(w write) bool { return !journaling(w) }))).To(BeZero())
		})

		It("Ended marks the chain and clears the refresh journal in one write; a new chain's commit removes the marker", func() {
			p, pr := f.protocol("pod-a")
			sp := begin(p, spend.Refresh)
			f.clk.Step(time.Second)
			Expect(sp.Ended(ctx, "RefreshRejected")).To(Succeed())
			Expect(pr.count(func(w write) bool { return !journaling(w) })).To(Equal(1))
			Expect(pr.count(func(w write) bool { return w.ended != "" && !journaling(w) })).To(Equal(1), "marker and journal clear in the same write")
			got := f.read()
			Expect(got.InFlight()).To(BeNil())
			reason, at, ended := got.Ended()
			Expect(ended).To(BeTrue())
			Expect(reason).To(Equal("RefreshRejected"))
			Expect(at).To(BeTemporally("==", f.clk.Now()))
			Expect(got.RefreshToken()).To(Equal(f.first), "the dead token stays, for one more try on request")

			sp = begin(p, spend.Exchange)
			_, err := sp.Commit(ctx, f.result("rt-new-chain"))
			Expect(err).NotTo(HaveOccurred())
			got = f.expectStored("rt-new-chain", 0)
			_, _, ended = got.Ended()
			Expect(ended).To(BeFalse())
		})
	})

	Context("held results", func() {
		hold := func(p *spend.Protocol, pr *process, owner *fixture, token string) {
			GinkgoHelper()
			priv, err := tokenstore.ReadPrivate(ctx, p.Reader, owner.key, owner.owner)
			Expect(err).NotTo(HaveOccurred())
			sp, _, err := p.Begin(ctx, owner.owner, priv, spend.Refresh)
			Expect(err).NotTo(HaveOccurred())
			pr.inject(&fault{match: commitOf(token), err: forbidden()})
			_, err = sp.Commit(ctx, owner.result(token))
			Expect(err).To(HaveOccurred())
			Expect(p.Holding(owner.owner.UID)).To(BeTrue())
		}

		It("Forget drops one owner's result; ForgetOwner drops by name and leaves other owners alone", func() {
			g := newFixture()
			p, pr := f.protocol("pod-a")
			hold(p, pr, f, "rt-f")
			hold(p, pr, g, "rt-g")
			p.Forget(f.owner.UID)
			Expect(p.Holding(f.owner.UID)).To(BeFalse())
			Expect(p.Holding(g.owner.UID)).To(BeTrue())
			_, _, _, held, err := p.Resume(ctx, f.owner.UID)
			Expect(held).To(BeFalse())
			Expect(err).NotTo(HaveOccurred())

			p.ForgetOwner(types.NamespacedName{Namespace: namespace, Name: "someone-else"})
			Expect(p.Holding(g.owner.UID)).To(BeTrue())
			p.ForgetOwner(client.ObjectKeyFromObject(g.owner))
			Expect(p.Holding(g.owner.UID)).To(BeFalse())
		})
	})
})

var _ = Describe("Identity", func() {
	It("keeps the instance across runs of one Pod and names every run apart", func() {
		a, b := spend.NewIdentity("pod-uid-1"), spend.NewIdentity("pod-uid-1")
		Expect(a.Instance).To(Equal("pod-uid-1"))
		Expect(b.Instance).To(Equal(a.Instance))
		Expect(a.Run).NotTo(BeEmpty())
		Expect(b.Run).NotTo(Equal(a.Run))
	})

	It("keeps the journal's separators out of the instance", func() {
		Expect(spend.NewIdentity(" a@b~c,d ").Instance).To(Equal("a_b_c_d"))
	})

	It("makes every process an instance of its own without a Pod UID, so a restart waits out its own spend", func() {
		a, b := spend.NewIdentity(""), spend.NewIdentity("")
		Expect(a.Instance).NotTo(BeEmpty())
		Expect(a.Instance).NotTo(Equal(b.Instance))
		Expect(a.Instance).To(HaveSuffix(a.Run))
		clk := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
		p := &spend.Protocol{Identity: b, Timeout: spendTimeout, Clock: fakeClockAt(clk)}
		j := &tokenstore.Journal{Operation: "refresh", Holder: a.Instance + "~" + a.Run, Started: clk, Since: clk}
		Expect(p.Fence(j, "refresh@x")).To(BeTemporally("==", clk.Add(spendTimeout+fenceMargin)))
		same := &spend.Protocol{Identity: a, Timeout: spendTimeout, Clock: fakeClockAt(clk)}
		Expect(same.Fence(j, "refresh@x")).To(BeZero(), "its own journal")
	})

	It("bounds the fence margin by half the timeout and by 5s", func() {
		clk := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
		j := &tokenstore.Journal{Operation: "refresh", Holder: "other~run"}
		p := &spend.Protocol{Identity: spend.NewIdentity("pod-a"), Clock: fakeClockAt(clk)}
		Expect(p.Fence(j, "e")).To(BeTemporally("==", clk.Add(spend.DefaultTimeout+5*time.Second)))
		Expect(p.Fence(nil, "")).To(BeZero())
	})
})

var _ = Describe("Replay schedule", func() {
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	journal := func(age time.Duration) *tokenstore.Journal {
		return &tokenstore.Journal{Operation: "refresh", Started: now, Since: now.Add(-age)}
	}

	DescribeTable("ReplayAt",
		func(j *tokenstore.Journal, delay time.Duration, ok bool) {
			at, got := spend.ReplayAt(j, now)
			Expect(got).To(Equal(ok))
			if ok {
				Expect(at).To(BeTemporally("==", now.Add(delay)))
			} else {
				Expect(at).To(BeZero())
			}
		},
		Entry("no journal: nothing to replay", nil, time.Duration(0), false),
		Entry("a journal without Since", &tokenstore.Journal{Operation: "refresh"}, time.Duration(0), false),
		Entry("a spend just begun: the shortest delay", journal(0), time.Second, true),
		Entry("2s old: still the shortest delay", journal(2*time.Second), time.Second, true),
		Entry("8s old: a quarter of its age", journal(8*time.Second), 2*time.Second, true),
		Entry("30s old: the longest delay", journal(30*time.Second), 5*time.Second, true),
		Entry("59s old: still quick", journal(59*time.Second), 5*time.Second, true),
		Entry("a minute old: the backoff applies", journal(time.Minute), time.Duration(0), false),
		Entry("an hour old", journal(time.Hour), time.Duration(0), false),
	)

	DescribeTable("ReplayNow",
		func(j *tokenstore.Journal, recordedAgo, next time.Duration, want bool) {
			Expect(spend.ReplayNow(j, now.Add(-recordedAgo), now.Add(next), now)).To(Equal(want))
		},
		Entry("a young spend whose retry an earlier backoff put far away", journal(10*time.Second), time.Minute, 30*time.Second, true),
		Entry("a young spend whose own failure asked for a long pause (Retry-After)", journal(10*time.Second), 5*time.Second, 30*time.Second, false),
		Entry("a young spend whose retry is a replay's delay away", journal(10*time.Second), time.Minute, 5*time.Second, false),
		Entry("a young spend retried soon anyway", journal(10*time.Second), time.Minute, time.Second, false),
		Entry("an old spend: the backoff stands", journal(2*time.Minute), time.Hour, time.Hour, false),
		Entry("no journal", nil, time.Hour, time.Hour, false),
	)
})
