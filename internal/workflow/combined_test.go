package workflow_test

import (
	"encoding/json"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// On PostgreSQL a transition's timeline row, number, entry update and
// audit event are one statement (registerEntryPG), which writes audit rows
// itself. Those rows must be the ones Sealer.Append writes: the same
// canonical details, byte for byte, with the register number spliced in
// by SQL exactly as Go formats it.
func TestCombinedAuditMatchesAppend(t *testing.T) {
	d := dbtest.Open(t, db.Postgres)
	f := newFixture(t, d, fixtureOptions{})
	moct, mof := f.actor(moctClerk), f.actor(mofClerk)
	e := f.draft(workflow.NewCorrespondence{Subject: `<b>"تقرير" & \ ملحق`, Recipients: toRegistries("MOF")})
	e, err := f.wf.Act(f.ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e.Version,
		Comment: "سطر <أول> & \"ثان\""})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.wf.Act(f.ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: e.Version}); err != nil {
		t.Fatal(err)
	}
	v, err := f.wf.Get(f.ctx, mof, e.CorrespondenceID)
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.wf.Act(f.ctx, mof, v.Entries[0].ID, workflow.Transition{Action: workflow.ActionRegister, Version: v.Entries[0].Version})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.wf.Act(f.ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRefer, Version: in.Version,
		ToDepartment: "FIN", Instruction: workflow.InstructionAction}); err != nil {
		t.Fatal(err)
	}

	var rows []struct {
		Actor, Action, Target, Details string
	}
	if err := d.Writer().Raw(`SELECT actor, action, target, details FROM audit_events
WHERE action LIKE 'entry.%' OR action LIKE 'referral.%' ORDER BY id`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	numbers := map[string]bool{e.Number: false, in.Number: false}
	for _, r := range rows {
		// What Sealer.Append writes for the same event.
		var details map[string]any
		dec := json.NewDecoder(strings.NewReader(r.Details))
		dec.UseNumber()
		if err := dec.Decode(&details); err != nil {
			t.Fatalf("%s: details %q: %v", r.Action, r.Details, err)
		}
		tx := d.Writer().Begin()
		if err := audit.NewSealer(f.key).Append(f.ctx, tx, audit.Event{Actor: r.Actor, Action: r.Action, Target: r.Target, Details: details}); err != nil {
			t.Fatal(err)
		}
		var want string
		if err := tx.Raw(`SELECT details FROM audit_events ORDER BY id DESC LIMIT 1`).Scan(&want).Error; err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if r.Details != want {
			t.Errorf("%s %s: details\n%s\nwant (Sealer.Append)\n%s", r.Action, r.Target, r.Details, want)
		}
		if n, ok := details["number"].(string); ok {
			if _, known := numbers[n]; !known {
				t.Errorf("%s %s: number %q is none of the entries' %v", r.Action, r.Target, n, numbers)
			}
			numbers[n] = true
		}
	}
	for n, seen := range numbers {
		if !seen {
			t.Errorf("no audit event carries the number %s", n)
		}
	}
	// Their seals hold, the register number's too (left open by the seal
	// and written by SQL): the linker links every one.
	var open int
	if err := d.Writer().Raw(`SELECT COUNT(*) FROM audit_events WHERE row_mac LIKE '%.number'`).Scan(&open).Error; err != nil || open != 2 {
		t.Fatalf("%d events sealed with the number open (%v), want the 2 registrations", open, err)
	}
	l := audit.Open(d, audit.Options{Keys: f.key})
	if _, err := l.LinkPending(f.ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := l.Verify(f.ctx); err != nil || rep.Broken != nil || rep.Waiting != 0 {
		t.Fatalf("verify = %s, %v", rep, err)
	}
}
