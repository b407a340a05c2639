package workflow_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/logger"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// gormCounter counts the statements gorm runs (none is expected on the
// paths of a letter).
type gormCounter struct {
	logger.Interface
	mu sync.Mutex
	n  int
}

func (c *gormCounter) LogMode(logger.LogLevel) logger.Interface { return c }

func (c *gormCounter) Trace(context.Context, time.Time, func() (string, int64), error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

// On PostgreSQL each call of a letter's life reads in one round trip and
// writes in one more (Get only reads): the engine's statements are queued
// and pipelined (batch.go), none goes through gorm on its own.
func TestLetterCallsTakeOneRoundTripToReadAndOneToWrite(t *testing.T) {
	d := dbtest.Open(t, db.Postgres)
	f := newFixture(t, d, fixtureOptions{})
	ctx := f.ctx
	var trips, statements int
	workflow.SetAfterSendForTest(f.wf, func(n int) { trips, statements = trips+1, statements+n })
	counter := &gormCounter{Interface: d.Writer().Logger}
	d.Writer().Logger = counter
	moct, mof := f.actor(moctClerk), f.actor(mofClerk)
	total := 0
	for i := range 2 { // the second letter runs on prepared statements
		var e, in workflow.Entry
		for _, step := range []struct {
			name  string
			trips int
			call  func() error
		}{
			{"create", 2, func() (err error) {
				e, err = f.wf.CreateDraft(ctx, moct, workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: "كتاب",
					Body: "نص", Recipients: toRegistries("MOF")})
				return err
			}},
			{"register", 2, func() (err error) {
				e, err = f.wf.Act(ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e.Version})
				return err
			}},
			{"dispatch", 2, func() error {
				_, err := f.wf.Act(ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: e.Version})
				return err
			}},
			{"open", 1, func() error {
				v, err := f.wf.Get(ctx, mof, e.CorrespondenceID)
				if err == nil {
					in = v.Entries[0]
				}
				return err
			}},
			{"register incoming", 2, func() (err error) {
				in, err = f.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRegister, Version: in.Version})
				return err
			}},
			{"refer", 2, func() error {
				_, err := f.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRefer, Version: in.Version,
					ToDepartment: "FIN", Instruction: workflow.InstructionAction})
				return err
			}},
		} {
			trips, statements, counter.n = 0, 0, 0
			if err := step.call(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if i == 1 {
				if trips != step.trips || counter.n != 0 {
					t.Errorf("%s: %d round trips and %d statements through gorm, want %d and none", step.name, trips, counter.n, step.trips)
				}
				total += statements
			}
		}
	}
	t.Logf("%d statements per letter", total)
	if total > 40 {
		t.Errorf("%d statements per letter, want at most 40", total)
	}
}

// Transitions of one entry at the same time: one wins, the others are
// told the version it left, and nothing of theirs is written.
func TestConcurrentTransitionsOfOneEntry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		_, in := f.sentToMOF(workflow.NewCorrespondence{})
		in = f.act(mofClerk, in, tr(workflow.ActionRegister))
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = f.wf.Act(f.ctx, f.actor(mofClerk), in.ID, workflow.Transition{Action: workflow.ActionRefer,
					Version: in.Version, ToDepartment: "FIN", Instruction: workflow.InstructionStudy})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			var se *workflow.StaleError
			switch {
			case err == nil:
				won++
			case errors.As(err, &se):
				if se.Given != in.Version || se.Current != in.Version+1 {
					t.Errorf("stale error %+v, want given %d, current %d", se, in.Version, in.Version+1)
				}
			default:
				t.Errorf("refer: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent referrals went through", won, n)
		}
		refs, err := f.wf.Referrals(f.ctx, f.actor(mofClerk), workflow.ReferralFilter{EntryID: in.ID})
		f.must(err)
		if refs.Total != 1 {
			t.Errorf("%d referrals written, want 1", refs.Total)
		}
	})
}

// A referral's events are in the timeline of the registry's clerks and of
// who holds it, not of others who see the entry.
func TestTimelineShowsReferralEventsToWhoMaySeeThem(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(moctClerk, in, referTo("LEGAL-SUB"))
		in = f.act(moctClerk, in, workflow.Transition{Action: workflow.ActionRefer, ToUser: "it@moct.gov.sy",
			Instruction: workflow.InstructionInformation})
		referralEvents := func(login string) int {
			t.Helper()
			v, err := f.wf.Get(f.ctx, f.actor(login), in.CorrespondenceID)
			f.must(err)
			n := 0
			for _, ev := range v.Timeline {
				if ev.ReferralID != 0 {
					n++
				}
			}
			return n
		}
		for _, c := range []struct {
			login string
			want  int
		}{
			{moctClerk, 2},              // both referrals' "create"
			{legalHead, 1},              // the one to LEGAL-SUB, below LEGAL
			{"staffsub@moct.gov.sy", 1}, // the one to their department
			{"it@moct.gov.sy", 1},       // the one to them
			{"ithead@moct.gov.sy", 1},   // the one to a member of IT
		} {
			if got := referralEvents(c.login); got != c.want {
				t.Errorf("%s sees %d referral events, want %d", c.login, got, c.want)
			}
		}
		_, err := f.wf.Get(f.ctx, f.actor("staff@moct.gov.sy"), in.CorrespondenceID)
		wantErr(t, err, workflow.ErrNotFound)
	})
}

// Paper letters recorded by hand and drafts share the tables whose ids the
// engine reserves before writing: both keep coming, and a paper letter is
// frozen from its own document when registered.
func TestPaperLettersBetweenDrafts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		seen := map[int64]bool{}
		for i := range 3 {
			paper, err := f.wf.CreateIncoming(f.ctx, f.actor(moctClerk), workflow.NewIncoming{Registry: "MOCT",
				SenderParty: "شركة الكهرباء", Subject: "فاتورة"})
			f.must(err)
			draft := f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF")})
			for _, e := range []workflow.Entry{paper, draft} {
				if seen[e.ID] || seen[-e.CorrespondenceID] {
					t.Fatalf("round %d: entry %d or correspondence %d again", i, e.ID, e.CorrespondenceID)
				}
				seen[e.ID], seen[-e.CorrespondenceID] = true, true
			}
			paper = f.act(moctClerk, paper, tr(workflow.ActionRegister))
			draft = f.act(moctClerk, draft, tr(workflow.ActionRegister))
			if paper.Seq != int64(i+1) || draft.Seq != int64(i+1) {
				t.Errorf("round %d: numbers %s and %s", i, paper.Number, draft.Number)
			}
			v, err := f.wf.Get(f.ctx, f.actor(moctClerk), paper.CorrespondenceID)
			f.must(err)
			if v.Correspondence.DocumentSHA256 == "" || v.Correspondence.SenderParty != "شركة الكهرباء" {
				t.Errorf("round %d: paper letter %+v", i, v.Correspondence)
			}
		}
	})
}
