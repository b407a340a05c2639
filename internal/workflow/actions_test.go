package workflow_test

import (
	"errors"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// situation builds, afresh, an entry in one of the states reachable
// through the engine's calls, and returns its id.
type situation struct {
	name  string
	build func(f *fixture) int64
}

func actionSituations() []situation {
	moct, mof := "clerk@moct.gov.sy", "clerk@mof.gov.sy"
	tr := func(a workflow.Action) workflow.Transition { return workflow.Transition{Action: a} }
	reason := func(a workflow.Action) workflow.Transition { return workflow.Transition{Action: a, Reason: "سبب"} }
	out := func(n workflow.NewCorrespondence, by string, steps ...workflow.Transition) func(f *fixture) int64 {
		return func(f *fixture) int64 {
			e := f.draft(n)
			for _, t := range steps {
				e = f.act(by, e, t)
			}
			return e.ID
		}
	}
	toMOF := workflow.NewCorrespondence{Body: "نص", Recipients: toRegistries("MOF")}
	approval := workflow.NewCorrespondence{Body: "نص", SenderRegistry: "MOCT2", Department: "LEGAL", Recipients: toRegistries("MOF")}
	// sent: a letter from MOCT to MOF, then MOF's steps on its entry;
	// the entry returned is MOCT's (outgoing) or MOF's (incoming).
	sent := func(incoming bool, steps ...workflow.Transition) func(f *fixture) int64 {
		return func(f *fixture) int64 {
			o, in := f.sentToMOF(workflow.NewCorrespondence{Body: "نص"})
			for _, t := range steps {
				in = f.act(mof, in, t)
			}
			if incoming {
				return in.ID
			}
			return o.ID
		}
	}
	refer := workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "FIN", Instruction: string(workflow.InstructionAction)}
	return []situation{
		{"outgoing draft", out(toMOF, moct)},
		{"outgoing draft of a staff member", func(f *fixture) int64 {
			e, err := f.wf.CreateDraft(f.ctx, f.actor("staff@moct.gov.sy"), workflow.NewCorrespondence{SenderRegistry: "MOCT",
				Subject: "مسودة", Body: "نص", Recipients: toRegistries("MOF")})
			f.must(err)
			return e.ID
		}},
		{"outgoing draft needing approval", out(approval, "clerk2@moct.gov.sy")},
		{"outgoing in approval", out(approval, "clerk2@moct.gov.sy", tr(workflow.ActionSubmit))},
		{"outgoing approved", func(f *fixture) int64 {
			e := f.draft(approval)
			e = f.act("clerk2@moct.gov.sy", e, tr(workflow.ActionSubmit))
			return f.act("head@moct.gov.sy", e, tr(workflow.ActionApprove)).ID
		}},
		{"outgoing registered", out(toMOF, moct, tr(workflow.ActionRegister))},
		{"outgoing registered without recipients", out(workflow.NewCorrespondence{Body: "نص"}, moct, tr(workflow.ActionRegister))},
		{"outgoing cancelled", out(toMOF, moct, tr(workflow.ActionCancel))},
		{"outgoing dispatched", sent(false)},
		{"outgoing dispatched, registered by the recipient", sent(false, tr(workflow.ActionRegister))},
		{"outgoing dispatched, returned by the recipient", sent(false, reason(workflow.ActionReturn))},
		{"outgoing recalled", out(toMOF, moct, tr(workflow.ActionRegister), tr(workflow.ActionDispatch), tr(workflow.ActionRecall))},
		{"outgoing closed", out(toMOF, moct, tr(workflow.ActionRegister), tr(workflow.ActionDispatch), tr(workflow.ActionClose))},
		{"incoming received", sent(true)},
		{"incoming registered", sent(true, tr(workflow.ActionRegister))},
		{"incoming referred", sent(true, tr(workflow.ActionRegister), refer)},
		{"incoming in progress", sent(true, tr(workflow.ActionRegister), tr(workflow.ActionStart))},
		{"incoming answered", sent(true, tr(workflow.ActionRegister), tr(workflow.ActionAnswer))},
		{"incoming closed", sent(true, tr(workflow.ActionRegister), tr(workflow.ActionClose))},
		{"incoming returned", sent(true, reason(workflow.ActionReturn))},
		{"incoming recalled", func(f *fixture) int64 {
			o, in := f.sentToMOF(workflow.NewCorrespondence{Body: "نص"})
			f.act(moct, o, tr(workflow.ActionRecall))
			return in.ID
		}},
	}
}

// transitionFor is the action a with the input a caller would give it on
// e: a reason where one is required, a department to refer to, a registry
// to forward to that is not a recipient yet.
func transitionFor(f *fixture, e workflow.Entry, a workflow.Action) workflow.Transition {
	t := workflow.Transition{Action: a, Version: e.Version}
	switch a {
	case workflow.ActionReject, workflow.ActionReturn, workflow.ActionCancel:
		t.Reason = "سبب"
	case workflow.ActionRefer:
		t.ToDepartment, t.Instruction = "LEGAL", string(workflow.InstructionAction)
		if e.Registry == "MOF" {
			t.ToDepartment = "FIN"
		}
	case workflow.ActionForward:
		t.Registry = "MOCT2"
		v, err := f.wf.Get(f.ctx, f.actor("clerk@moct.gov.sy"), e.CorrespondenceID)
		f.must(err)
		if len(v.Correspondence.Recipients) == 0 {
			t.Registry = "MOF"
		}
	}
	return t
}

// Every action an entry lists for a caller succeeds when that caller makes
// it, in every state reachable through the engine: each is tried on a
// letter built afresh in that state.
func TestListedActionsSucceedInEveryState(t *testing.T) {
	callers := []string{"clerk@moct.gov.sy", "clerk2@moct.gov.sy", "head@moct.gov.sy", "staff@moct.gov.sy",
		"clerk@mof.gov.sy", "fin@mof.gov.sy"}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		tried := 0
		for _, s := range actionSituations() {
			id := s.build(f)
			for _, login := range callers {
				e, err := f.wf.Entry(f.ctx, f.actor(login), id)
				if errors.Is(err, workflow.ErrNotFound) {
					continue
				}
				f.must(err)
				for _, a := range e.Actions {
					fresh, err := f.wf.Entry(f.ctx, f.actor(login), s.build(f))
					f.must(err)
					if fresh.State != e.State {
						t.Fatalf("%s: built afresh in %s, not %s", s.name, fresh.State, e.State)
					}
					if _, err := f.wf.Act(f.ctx, f.actor(login), fresh.ID, transitionFor(f, fresh, a)); err != nil {
						t.Errorf("%s (%s): %s lists %s, which fails: %v", s.name, e.State, login, a, err)
					}
					tried++
				}
			}
		}
		if tried < 30 {
			t.Errorf("only %d listed actions tried", tried)
		}
	})
}
