package workflow_test

import (
	"errors"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// A state of the table test: how to reach it with a fresh letter, who acts
// on entries in it, and what is allowed and forbidden there.
type stateCase struct {
	name      string
	state     workflow.State
	by        string // the clerk of the entry's registry
	reach     func(f *fixture) workflow.Entry
	allowed   []allowedCase
	forbidden []workflow.Action
}

type allowedCase struct {
	t    workflow.Transition
	by   string // "" means the state's clerk
	want workflow.State
}

const (
	moctClerk  = "clerk@moct.gov.sy"
	moct2Clerk = "clerk2@moct.gov.sy"
	mofClerk   = "clerk@mof.gov.sy"
	legalHead  = "head@moct.gov.sy"
)

func tr(a workflow.Action) workflow.Transition { return workflow.Transition{Action: a} }

func withReason(a workflow.Action) workflow.Transition {
	return workflow.Transition{Action: a, Reason: "سبب"}
}

func referTo(dep string) workflow.Transition {
	return workflow.Transition{Action: workflow.ActionRefer, ToDepartment: dep, Instruction: workflow.InstructionStudy}
}

func stateCases() []stateCase {
	const (
		submit   = workflow.ActionSubmit
		approve  = workflow.ActionApprove
		reject   = workflow.ActionReject
		register = workflow.ActionRegister
		dispatch = workflow.ActionDispatch
		recall   = workflow.ActionRecall
		refer    = workflow.ActionRefer
		start    = workflow.ActionStart
		answer   = workflow.ActionAnswer
		closeA   = workflow.ActionClose
		ret      = workflow.ActionReturn
		cancel   = workflow.ActionCancel
	)
	outDraft := func(f *fixture) workflow.Entry {
		return f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF")})
	}
	approvalDraft := func(f *fixture) workflow.Entry {
		return f.draft(workflow.NewCorrespondence{SenderRegistry: "MOCT2", Department: "LEGAL", Recipients: toRegistries("MOF")})
	}
	inApproval := func(f *fixture) workflow.Entry { return f.act(moct2Clerk, approvalDraft(f), tr(submit)) }
	approved := func(f *fixture) workflow.Entry { return f.act(legalHead, inApproval(f), tr(approve)) }
	registered := func(f *fixture) workflow.Entry { return f.act(moctClerk, outDraft(f), tr(register)) }
	dispatched := func(f *fixture) workflow.Entry { return f.act(moctClerk, registered(f), tr(dispatch)) }
	received := func(f *fixture) workflow.Entry { _, in := f.sentToMOF(workflow.NewCorrespondence{}); return in }
	inRegistered := func(f *fixture) workflow.Entry { return f.act(mofClerk, received(f), tr(register)) }
	referred := func(f *fixture) workflow.Entry { return f.act(mofClerk, inRegistered(f), referTo("FIN")) }
	inProgress := func(f *fixture) workflow.Entry { return f.act(mofClerk, referred(f), tr(start)) }

	return []stateCase{
		{name: "outgoing draft", state: workflow.StateDraft, by: moctClerk, reach: outDraft,
			allowed:   []allowedCase{{t: tr(register), want: workflow.StateRegistered}, {t: tr(cancel), want: workflow.StateCancelled}},
			forbidden: []workflow.Action{approve, reject, dispatch, recall, closeA}},
		{name: "outgoing draft needing approval", state: workflow.StateDraft, by: moct2Clerk, reach: approvalDraft,
			allowed:   []allowedCase{{t: tr(submit), want: workflow.StateInApproval}, {t: tr(cancel), want: workflow.StateCancelled}},
			forbidden: []workflow.Action{approve, dispatch, recall}},
		{name: "in approval", state: workflow.StateInApproval, by: moct2Clerk, reach: inApproval,
			allowed: []allowedCase{{t: tr(approve), by: legalHead, want: workflow.StateApproved},
				{t: withReason(reject), by: legalHead, want: workflow.StateDraft}, {t: tr(cancel), want: workflow.StateCancelled}},
			forbidden: []workflow.Action{register, dispatch, submit, recall, closeA}},
		{name: "approved", state: workflow.StateApproved, by: moct2Clerk, reach: approved,
			allowed:   []allowedCase{{t: tr(register), want: workflow.StateRegistered}, {t: tr(cancel), want: workflow.StateCancelled}},
			forbidden: []workflow.Action{approve, submit, dispatch, recall}},
		{name: "outgoing registered", state: workflow.StateRegistered, by: moctClerk, reach: registered,
			allowed: []allowedCase{{t: tr(dispatch), want: workflow.StateDispatched}, {t: withReason(cancel), want: workflow.StateCancelled},
				{t: workflow.Transition{Action: workflow.ActionForward, Registry: "MOCT2"}, want: workflow.StateDispatched}},
			forbidden: []workflow.Action{register, submit, approve, recall, closeA}},
		{name: "dispatched", state: workflow.StateDispatched, by: moctClerk, reach: dispatched,
			allowed: []allowedCase{{t: tr(recall), want: workflow.StateRecalled}, {t: tr(closeA), want: workflow.StateClosed},
				{t: workflow.Transition{Action: workflow.ActionForward, Registry: "MOCT2"}, want: workflow.StateDispatched}},
			forbidden: []workflow.Action{dispatch, register, cancel, submit}},
		{name: "outgoing closed", state: workflow.StateClosed, by: moctClerk,
			reach:     func(f *fixture) workflow.Entry { return f.act(moctClerk, dispatched(f), tr(closeA)) },
			forbidden: []workflow.Action{closeA, recall, dispatch, cancel, register}},
		{name: "recalled", state: workflow.StateRecalled, by: moctClerk,
			reach:     func(f *fixture) workflow.Entry { return f.act(moctClerk, dispatched(f), tr(recall)) },
			forbidden: []workflow.Action{dispatch, recall, closeA, cancel}},
		{name: "cancelled", state: workflow.StateCancelled, by: moctClerk,
			reach:     func(f *fixture) workflow.Entry { return f.act(moctClerk, registered(f), withReason(cancel)) },
			forbidden: []workflow.Action{register, dispatch, cancel, submit}},

		{name: "received", state: workflow.StateReceived, by: mofClerk, reach: received,
			allowed:   []allowedCase{{t: tr(register), want: workflow.StateRegistered}, {t: withReason(ret), want: workflow.StateReturned}},
			forbidden: []workflow.Action{refer, start, answer, closeA}},
		{name: "incoming registered", state: workflow.StateRegistered, by: mofClerk, reach: inRegistered,
			allowed: []allowedCase{{t: referTo("FIN"), want: workflow.StateReferred}, {t: tr(start), want: workflow.StateInProgress},
				{t: tr(answer), want: workflow.StateAnswered}, {t: tr(closeA), want: workflow.StateClosed},
				{t: withReason(ret), want: workflow.StateReturned}},
			forbidden: []workflow.Action{register}},
		{name: "referred", state: workflow.StateReferred, by: mofClerk, reach: referred,
			allowed: []allowedCase{{t: referTo("FIN"), want: workflow.StateReferred}, {t: tr(start), want: workflow.StateInProgress},
				{t: tr(answer), want: workflow.StateAnswered}, {t: tr(closeA), want: workflow.StateClosed}},
			forbidden: []workflow.Action{register, ret}},
		{name: "in progress", state: workflow.StateInProgress, by: mofClerk, reach: inProgress,
			allowed: []allowedCase{{t: referTo("FIN"), want: workflow.StateInProgress},
				{t: tr(answer), want: workflow.StateAnswered}, {t: tr(closeA), want: workflow.StateClosed}},
			forbidden: []workflow.Action{start, register, ret}},
		{name: "answered", state: workflow.StateAnswered, by: mofClerk,
			reach:     func(f *fixture) workflow.Entry { return f.act(mofClerk, inProgress(f), tr(answer)) },
			allowed:   []allowedCase{{t: tr(closeA), want: workflow.StateClosed}},
			forbidden: []workflow.Action{answer, start, refer, ret, register}},
		{name: "incoming closed", state: workflow.StateClosed, by: mofClerk,
			reach:     func(f *fixture) workflow.Entry { return f.act(mofClerk, inRegistered(f), tr(closeA)) },
			forbidden: []workflow.Action{closeA, answer, refer, start, register, ret}},
		{name: "returned", state: workflow.StateReturned, by: mofClerk,
			reach:     func(f *fixture) workflow.Entry { return f.act(mofClerk, received(f), withReason(ret)) },
			forbidden: []workflow.Action{register, refer, ret, closeA}},
		{name: "incoming recalled", state: workflow.StateRecalled, by: mofClerk,
			reach: func(f *fixture) workflow.Entry {
				out := dispatched(f)
				f.act(moctClerk, out, tr(recall))
				return f.incomingAt(mofClerk, out.CorrespondenceID)
			},
			forbidden: []workflow.Action{register, ret, refer}},
	}
}

// Every allowed transition from every state, and a named set of forbidden
// ones: those answer ErrInvalidTransition naming the state and change
// nothing.
func TestTransitionTable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		for _, sc := range stateCases() {
			t.Run(sc.name, func(t *testing.T) {
				for _, ac := range sc.allowed {
					e := sc.reach(f)
					if e.State != sc.state {
						t.Fatalf("reached %s, want %s", e.State, sc.state)
					}
					by := ac.by
					if by == "" {
						by = sc.by
					}
					got := f.act(by, e, ac.t)
					if got.State != ac.want || got.Version != e.Version+1 {
						t.Errorf("%s from %s: state %s version %d, want %s version %d", ac.t.Action, sc.state, got.State, got.Version, ac.want, e.Version+1)
					}
				}
				e := sc.reach(f)
				for _, a := range sc.forbidden {
					tt := withReason(a)
					tt.Version = e.Version
					if a == workflow.ActionRefer {
						tt = referTo("FIN")
						tt.Version = e.Version
					}
					_, err := f.wf.Act(f.ctx, f.actor(sc.by), e.ID, tt)
					var te *workflow.TransitionError
					if !errors.As(err, &te) || !errors.Is(err, workflow.ErrInvalidTransition) {
						t.Errorf("%s from %s: error %v, want ErrInvalidTransition", a, sc.state, err)
						continue
					}
					if te.State != sc.state || te.Action != a {
						t.Errorf("%s from %s: TransitionError %+v", a, sc.state, te)
					}
				}
				got, err := f.wf.Entry(f.ctx, f.actor(sc.by), e.ID)
				f.must(err)
				if got.State != sc.state || got.Version != e.Version {
					t.Errorf("refused transitions changed the entry: %s v%d, was %s v%d", got.State, got.Version, sc.state, e.Version)
				}
			})
		}
	})
}

// The table in transitions.go and the test table agree: every rule of the
// engine is exercised by an allowed case above.
func TestTransitionTableCoversEveryRule(t *testing.T) {
	tested := map[[3]string]bool{}
	for _, sc := range stateCases() {
		dir := "outgoing"
		if sc.by == mofClerk {
			dir = "incoming"
		}
		for _, ac := range sc.allowed {
			tested[[3]string{dir, string(ac.t.Action), string(sc.state)}] = true
		}
	}
	for _, r := range workflow.RulesForTest() {
		if !tested[[3]string{r[0], r[1], r[2]}] {
			t.Errorf("rule %s %s from %s has no allowed case in the table test", r[0], r[1], r[2])
		}
	}
}

func TestTransitionGuardsAndParties(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		// A registry without approval: submit is a conflict, not a state error.
		e := f.draft(workflow.NewCorrespondence{})
		_, err := f.wf.Act(f.ctx, f.actor(moctClerk), e.ID, workflow.Transition{Action: workflow.ActionSubmit, Version: e.Version})
		wantErr(t, err, workflow.ErrConflict)
		// A registry with approval: registering a draft is a conflict.
		e2 := f.draft(workflow.NewCorrespondence{SenderRegistry: "MOCT2", Department: "LEGAL"})
		_, err = f.wf.Act(f.ctx, f.actor(moct2Clerk), e2.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e2.Version})
		wantErr(t, err, workflow.ErrConflict)
		// Submitting needs a department whose head approves.
		e3 := f.draft(workflow.NewCorrespondence{SenderRegistry: "MOCT2"})
		_, err = f.wf.Act(f.ctx, f.actor(moct2Clerk), e3.ID, workflow.Transition{Action: workflow.ActionSubmit, Version: e3.Version})
		wantInput(t, err, "department")
		// The clerk may not approve; another department's head does not see it.
		e2 = f.act(moct2Clerk, e2, tr(workflow.ActionSubmit))
		_, err = f.wf.Act(f.ctx, f.actor(moct2Clerk), e2.ID, workflow.Transition{Action: workflow.ActionApprove, Version: e2.Version})
		wantErr(t, err, workflow.ErrForbidden)
		_, err = f.wf.Act(f.ctx, f.actor("ithead@moct.gov.sy"), e2.ID, workflow.Transition{Action: workflow.ActionApprove, Version: e2.Version})
		wantErr(t, err, workflow.ErrNotFound)
		// A reason is required to reject, return and cancel a registration.
		_, err = f.wf.Act(f.ctx, f.actor(legalHead), e2.ID, workflow.Transition{Action: workflow.ActionReject, Version: e2.Version})
		wantInput(t, err, "reason")
		// A head drafting sees their draft but may not register it.
		hd, err := f.wf.CreateDraft(f.ctx, f.actor(legalHead), workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: "مسودة"})
		f.must(err)
		_, err = f.wf.Act(f.ctx, f.actor(legalHead), hd.ID, workflow.Transition{Action: workflow.ActionRegister, Version: hd.Version})
		wantErr(t, err, workflow.ErrForbidden)
		// Unknown actions, actions of the other direction.
		_, err = f.wf.Act(f.ctx, f.actor(moctClerk), e.ID, workflow.Transition{Action: "explode", Version: e.Version})
		wantInput(t, err, "action")
		_, err = f.wf.Act(f.ctx, f.actor(moctClerk), e.ID, workflow.Transition{Action: workflow.ActionStart, Version: e.Version})
		wantInput(t, err, "action")

		// A stale version: 409, nothing changed.
		e = f.act(moctClerk, e, tr(workflow.ActionRegister))
		_, err = f.wf.Act(f.ctx, f.actor(moctClerk), e.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: e.Version - 1})
		var se *workflow.StaleError
		if !errors.As(err, &se) || !errors.Is(err, workflow.ErrStaleVersion) || se.Current != e.Version {
			t.Fatalf("stale dispatch: %v", err)
		}
		// Recall after a recipient registered it: a conflict.
		out, in := f.sentToMOF(workflow.NewCorrespondence{})
		f.act(mofClerk, in, tr(workflow.ActionRegister))
		_, err = f.wf.Act(f.ctx, f.actor(moctClerk), out.ID, workflow.Transition{Action: workflow.ActionRecall, Version: out.Version})
		wantErr(t, err, workflow.ErrConflict)
		// A return shows at the sender with its reason.
		out, in = f.sentToMOF(workflow.NewCorrespondence{})
		f.act(mofClerk, in, workflow.Transition{Action: workflow.ActionReturn, Reason: "ليس من اختصاصنا"})
		v, err := f.wf.Get(f.ctx, f.actor(moctClerk), out.CorrespondenceID)
		f.must(err)
		if r := v.Correspondence.Recipients[0]; r.State != workflow.StateReturned || r.Reason != "ليس من اختصاصنا" {
			t.Errorf("returned recipient = %+v", r)
		}
		// Every transition is an audit event.
		var n int64
		f.must(d.Writer().Raw(`SELECT COUNT(*) FROM audit_events WHERE action LIKE 'entry.%'`).Scan(&n).Error)
		var m int64
		f.must(d.Writer().Raw(`SELECT COUNT(*) FROM workflow_events WHERE entry_id IS NOT NULL AND referral_id IS NULL`).Scan(&m).Error)
		if n == 0 || n != m {
			t.Errorf("%d entry audit events, %d timeline events", n, m)
		}
	})
}
