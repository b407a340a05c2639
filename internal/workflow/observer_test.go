package workflow_test

import (
	"errors"
	"maps"
	"sync"
	"testing"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// counts is an Observer that counts what it is told.
type counts struct {
	mu          sync.Mutex
	transitions map[workflow.Action]int
	registered  map[workflow.Direction]int
}

func newCounts() *counts {
	return &counts{transitions: map[workflow.Action]int{}, registered: map[workflow.Direction]int{}}
}

func (c *counts) Transition(a workflow.Action) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.transitions[a]++
}

func (c *counts) Registered(d workflow.Direction) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registered[d]++
}

func (c *counts) want(t *testing.T, when string, transitions map[workflow.Action]int, registered map[workflow.Direction]int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !maps.Equal(c.transitions, transitions) {
		t.Errorf("%s: transitions %v, want %v", when, c.transitions, transitions)
	}
	if !maps.Equal(c.registered, registered) {
		t.Errorf("%s: registered %v, want %v", when, c.registered, registered)
	}
}

// The observer hears of each transition a user made and each letter
// registered, once committed; a refused or rolled-back one is not counted.
func TestObserverCountsCommittedTransitionsAndRegistrations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		c := newCounts()
		f := newFixture(t, d, fixtureOptions{observer: c})
		c.want(t, "after the set-up", map[workflow.Action]int{}, map[workflow.Direction]int{})

		out, in := f.sentToMOF(workflow.NewCorrespondence{Subject: "طلب"})
		in = f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionRegister})
		in = f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "FIN", Instruction: "action"})
		refs, err := f.wf.Referrals(f.ctx, f.actor("fin@mof.gov.sy"), workflow.ReferralFilter{Mine: true})
		f.must(err)
		ref := refs.Items[0]
		_, err = f.wf.ActOnReferral(f.ctx, f.actor("fin@mof.gov.sy"), ref.ID, workflow.ReferralTransition{Action: workflow.ActionAccept, Version: ref.Version})
		f.must(err)
		want := map[workflow.Action]int{workflow.ActionRegister: 2, workflow.ActionDispatch: 1, workflow.ActionRefer: 1, workflow.ActionAccept: 1}
		wantReg := map[workflow.Direction]int{workflow.Outgoing: 1, workflow.Incoming: 1}
		c.want(t, "after a letter's way to a department", want, wantReg)

		// Refused: a stale version, a forbidden actor, a wrong state.
		_, err = f.wf.Act(f.ctx, f.actor("clerk@moct.gov.sy"), out.ID, workflow.Transition{Action: workflow.ActionClose, Version: out.Version - 1})
		wantStale(t, err)
		_, err = f.wf.Act(f.ctx, f.actor("staff@moct.gov.sy"), out.ID, workflow.Transition{Action: workflow.ActionClose, Version: out.Version})
		if err == nil {
			t.Fatal("staff closed the registry's letter")
		}
		_, err = f.wf.Act(f.ctx, f.actor("clerk@mof.gov.sy"), in.ID, workflow.Transition{Action: workflow.ActionRegister, Version: in.Version})
		if err == nil {
			t.Fatal("registered an entry twice")
		}
		c.want(t, "after refused transitions", want, wantReg)

		// Rolled back at commit.
		draft := f.draft(workflow.NewCorrespondence{Subject: "مسودة"})
		boom := errors.New("commit refused")
		workflow.SetBeforeCommitForTest(f.wf, func(*gorm.DB) error { return boom })
		_, err = f.wf.Act(f.ctx, f.actor("clerk@moct.gov.sy"), draft.ID, workflow.Transition{Action: workflow.ActionRegister, Version: draft.Version})
		if !errors.Is(err, boom) {
			t.Fatalf("register rolled back: %v", err)
		}
		_, err = f.wf.ActOnReferral(f.ctx, f.actor("fin@mof.gov.sy"), ref.ID, workflow.ReferralTransition{Action: workflow.ActionComment, Version: ref.Version + 1, Comment: "x"})
		if !errors.Is(err, boom) {
			t.Fatalf("comment rolled back: %v", err)
		}
		c.want(t, "after rolled-back transitions", want, wantReg)
		workflow.SetBeforeCommitForTest(f.wf, nil)

		f.act("clerk@moct.gov.sy", draft, workflow.Transition{Action: workflow.ActionRegister})
		want[workflow.ActionRegister]++
		wantReg[workflow.Outgoing]++
		c.want(t, "after the draft was registered", want, wantReg)
	})
}

func wantStale(t *testing.T, err error) {
	t.Helper()
	var se *workflow.StaleError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want a *StaleError", err)
	}
}
