package workflow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// The named access cases of the issue, and their neighbours. What may not be
// seen is ErrNotFound, whoever asks and however.
func TestAccess(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx

		t.Run("clerk of A reads B's outgoing entry", func(t *testing.T) {
			out, in := f.sentToMOF(workflow.NewCorrespondence{})
			_, err := f.wf.Entry(ctx, f.actor(mofClerk), out.ID)
			wantErr(t, err, workflow.ErrNotFound)
			// Their own incoming entry of the same letter is theirs to read.
			if _, err := f.wf.Entry(ctx, f.actor(mofClerk), in.ID); err != nil {
				t.Fatal(err)
			}
			// And an outgoing entry not addressed to them at all.
			other := f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOCT2")})
			_, err = f.wf.Entry(ctx, f.actor(mofClerk), other.ID)
			wantErr(t, err, workflow.ErrNotFound)
			_, err = f.wf.Get(ctx, f.actor(mofClerk), other.CorrespondenceID)
			wantErr(t, err, workflow.ErrNotFound)
			_, err = f.wf.Act(ctx, f.actor(mofClerk), other.ID, workflow.Transition{Action: workflow.ActionRegister, Version: other.Version})
			wantErr(t, err, workflow.ErrNotFound)
			page, err := f.wf.Entries(ctx, f.actor(mofClerk), workflow.ListFilter{Registry: "MOCT"})
			f.must(err)
			if page.Total != 0 || len(page.Items) != 0 {
				t.Errorf("MOF's clerk lists MOCT's entries: %+v", page)
			}
			// A clerk of the other registry of the same ministry sees nothing of MOCT's either.
			_, err = f.wf.Entry(ctx, f.actor(moct2Clerk), out.ID)
			wantErr(t, err, workflow.ErrNotFound)
		})

		in := f.receivedAtMOCT(workflow.NewCorrespondence{Subject: "طلب قانوني"})
		in = f.act(moctClerk, in, referTo("LEGAL-SUB"))
		in = f.act(moctClerk, in, workflow.Transition{Action: workflow.ActionRefer, ToUser: "staff@moct.gov.sy", Instruction: "للاطلاع"})
		refs, err := f.wf.Referrals(ctx, f.actor(moctClerk), workflow.ReferralFilter{EntryID: in.ID})
		f.must(err)
		if refs.Total != 2 {
			t.Fatalf("clerk sees %d referrals of the entry", refs.Total)
		}
		toSub, toStaff := refs.Items[1], refs.Items[0]

		t.Run("staff reads a referral to another department", func(t *testing.T) {
			_, err := f.wf.Referral(ctx, f.actor("it@moct.gov.sy"), toSub.ID)
			wantErr(t, err, workflow.ErrNotFound)
			_, err = f.wf.Entry(ctx, f.actor("it@moct.gov.sy"), in.ID)
			wantErr(t, err, workflow.ErrNotFound)
			// A member of LEGAL sees the referral to them, not the one to LEGAL-SUB.
			_, err = f.wf.Referral(ctx, f.actor("staff@moct.gov.sy"), toSub.ID)
			wantErr(t, err, workflow.ErrNotFound)
			if _, err := f.wf.Referral(ctx, f.actor("staff@moct.gov.sy"), toStaff.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.wf.Referral(ctx, f.actor("staffsub@moct.gov.sy"), toSub.ID); err != nil {
				t.Fatal(err)
			}
			v, err := f.wf.Get(ctx, f.actor("staff@moct.gov.sy"), in.CorrespondenceID)
			f.must(err)
			for _, ev := range v.Timeline {
				if ev.ReferralID == toSub.ID {
					t.Errorf("staff sees an event of the referral to another department: %+v", ev)
				}
			}
			mine, err := f.wf.Referrals(ctx, f.actor("it@moct.gov.sy"), workflow.ReferralFilter{})
			f.must(err)
			if mine.Total != 0 {
				t.Errorf("IT staff list %d referrals", mine.Total)
			}
		})

		t.Run("head reads their department's referrals", func(t *testing.T) {
			for _, id := range []int64{toSub.ID, toStaff.ID} {
				r, err := f.wf.Referral(ctx, f.actor(legalHead), id)
				if err != nil {
					t.Fatalf("head reads referral %d: %v", id, err)
				}
				if len(r.Actions) == 0 {
					t.Errorf("head may do nothing with referral %d", id)
				}
			}
			mine, err := f.wf.Referrals(ctx, f.actor(legalHead), workflow.ReferralFilter{})
			f.must(err)
			if mine.Total != 2 {
				t.Errorf("head lists %d referrals, want 2", mine.Total)
			}
			e, err := f.wf.Entry(ctx, f.actor(legalHead), in.ID)
			f.must(err)
			if e.ID != in.ID {
				t.Fatal(e)
			}
			// The other department's head does not.
			_, err = f.wf.Referral(ctx, f.actor("ithead@moct.gov.sy"), toSub.ID)
			wantErr(t, err, workflow.ErrNotFound)
		})

		t.Run("staff without clearance reads a secret letter addressed to them", func(t *testing.T) {
			sec := f.receivedAtMOCT(workflow.NewCorrespondence{Subject: "سري للغاية", Classification: workflow.Secret})
			// To their department: the cleared colleague reads it, they do not.
			sec = f.act(moctClerk, sec, referTo("LEGAL"))
			r, err := f.wf.Referrals(ctx, f.actor("secretstaff@moct.gov.sy"), workflow.ReferralFilter{Mine: true, EntryID: sec.ID})
			f.must(err)
			if r.Total != 1 {
				t.Fatalf("cleared staff see %d referrals of the secret letter", r.Total)
			}
			_, err = f.wf.Referral(ctx, f.actor("staff@moct.gov.sy"), r.Items[0].ID)
			wantErr(t, err, workflow.ErrNotFound)
			_, err = f.wf.Entry(ctx, f.actor("staff@moct.gov.sy"), sec.ID)
			wantErr(t, err, workflow.ErrNotFound)
			_, err = f.wf.Get(ctx, f.actor("staff@moct.gov.sy"), sec.CorrespondenceID)
			wantErr(t, err, workflow.ErrNotFound)
			// To them by name: refused while they lack clearance...
			_, err = f.wf.Act(ctx, f.actor(moctClerk), sec.ID, workflow.Transition{Action: workflow.ActionRefer, Version: sec.Version,
				ToUser: "staff@moct.gov.sy", Instruction: workflow.InstructionAction})
			wantInput(t, err, "to_user")
			// ...and unreadable once their clearance is withdrawn.
			op := workflow.OperatorActor(operator)
			_, err = f.wf.SetMembership(ctx, op, "staff@moct.gov.sy", workflow.MembershipChange{Clearance: workflow.Secret})
			f.must(err)
			sec, err = f.wf.Entry(ctx, f.actor(moctClerk), sec.ID)
			f.must(err)
			sec = f.act(moctClerk, sec, workflow.Transition{Action: workflow.ActionRefer, ToUser: "staff@moct.gov.sy", Instruction: workflow.InstructionAction})
			if _, err := f.wf.Entry(ctx, f.actor("staff@moct.gov.sy"), sec.ID); err != nil {
				t.Fatalf("with clearance: %v", err)
			}
			_, err = f.wf.SetMembership(ctx, op, "staff@moct.gov.sy", workflow.MembershipChange{Clearance: workflow.Normal})
			f.must(err)
			_, err = f.wf.Entry(ctx, f.actor("staff@moct.gov.sy"), sec.ID)
			wantErr(t, err, workflow.ErrNotFound)
			mine, err := f.wf.Referrals(ctx, f.actor("staff@moct.gov.sy"), workflow.ReferralFilter{Mine: true, EntryID: sec.ID})
			f.must(err)
			if mine.Total != 0 {
				t.Errorf("uncleared staff list %d referrals of the secret letter", mine.Total)
			}
			// Reads of secret documents are audit events.
			var n int64
			f.must(d.Writer().Raw(`SELECT COUNT(*) FROM audit_events WHERE action = 'correspondence.read' AND target = ?`,
				"correspondence:"+itoa(sec.CorrespondenceID)).Scan(&n).Error)
			if n == 0 {
				t.Error("no audit event for reads of a secret letter")
			}
		})

		t.Run("admin reads content", func(t *testing.T) {
			for _, admin := range []string{"admin", "admin@moct.gov.sy"} {
				a := f.actor(admin)
				_, err := f.wf.Entry(ctx, a, in.ID)
				wantErr(t, err, workflow.ErrNotFound)
				_, err = f.wf.Get(ctx, a, in.CorrespondenceID)
				wantErr(t, err, workflow.ErrNotFound)
				_, err = f.wf.Referral(ctx, a, toSub.ID)
				wantErr(t, err, workflow.ErrNotFound)
				page, err := f.wf.Entries(ctx, a, workflow.ListFilter{})
				f.must(err)
				if page.Total != 0 {
					t.Errorf("%s lists %d entries", admin, page.Total)
				}
				_, err = f.wf.CreateDraft(ctx, a, workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: "x"})
				wantErr(t, err, workflow.ErrForbidden)
			}
			_, err := f.wf.Entry(ctx, workflow.OperatorActor(operator), in.ID)
			wantErr(t, err, workflow.ErrNotFound)
		})

		t.Run("lists are access-filtered", func(t *testing.T) {
			page, err := f.wf.Entries(ctx, f.actor(moctClerk), workflow.ListFilter{Direction: workflow.Incoming, Query: "قانوني"})
			f.must(err)
			if page.Total != 1 || page.Items[0].ID != in.ID {
				t.Errorf("clerk's search = %+v", page)
			}
			page, err = f.wf.Entries(ctx, f.actor("staff@moct.gov.sy"), workflow.ListFilter{})
			f.must(err)
			for _, e := range page.Items {
				if e.Classification != workflow.Normal {
					t.Errorf("uncleared staff list a %s entry", e.Classification)
				}
			}
			if page.Total != 1 {
				t.Errorf("staff list %d entries, want 1", page.Total)
			}
			page, err = f.wf.Entries(ctx, f.actor(mofClerk), workflow.ListFilter{Query: "%"})
			f.must(err)
			if page.Total != 0 {
				t.Errorf("a %% query matched %d entries", page.Total)
			}
		})

		t.Run("a disabled user sees nothing at once", func(t *testing.T) {
			f.must(f.dir.Disable(ctx, operator, "staffsub@moct.gov.sy"))
			_, err := f.wf.Referral(ctx, f.actor("staffsub@moct.gov.sy"), toSub.ID)
			wantErr(t, err, workflow.ErrForbidden)
		})
	})
}

// Referrals: accepted, passed on inside the department, answered, closed;
// staff may not pass them outside their department.
func TestReferralLife(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(moctClerk, in, referTo("LEGAL"))
		staff := f.actor("staff@moct.gov.sy")
		mine, err := f.wf.Referrals(ctx, staff, workflow.ReferralFilter{Mine: true, State: workflow.StateOpen})
		f.must(err)
		if mine.Total != 1 {
			t.Fatalf("staff have %d open referrals", mine.Total)
		}
		r := mine.Items[0]
		_, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionAccept, Version: r.Version + 1})
		wantErr(t, err, workflow.ErrStaleVersion)
		r, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionAccept, Version: r.Version})
		f.must(err)
		_, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionAccept, Version: r.Version})
		wantErr(t, err, workflow.ErrInvalidTransition)
		r, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionComment, Version: r.Version, Comment: "قيد الدراسة"})
		f.must(err)
		_, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionRefer, Version: r.Version,
			ToDepartment: "IT", Instruction: workflow.InstructionStudy})
		wantInput(t, err, "to_department")
		_, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionRefer, Version: r.Version,
			ToUser: "it@moct.gov.sy", Instruction: workflow.InstructionStudy})
		wantInput(t, err, "to_user")
		_, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionRefer, Version: r.Version,
			ToUser: "clerk@mof.gov.sy", Instruction: workflow.InstructionStudy})
		wantInput(t, err, "to_user")
		r, err = f.wf.ActOnReferral(ctx, staff, r.ID, workflow.ReferralTransition{Action: workflow.ActionRefer, Version: r.Version,
			ToUser: "staffsub@moct.gov.sy", Instruction: "أرجو إعداد مذكرة"})
		f.must(err)
		if r.State != workflow.StateReferred {
			t.Fatalf("passed-on referral is %s", r.State)
		}
		sub, err := f.wf.Referrals(ctx, f.actor("staffsub@moct.gov.sy"), workflow.ReferralFilter{Mine: true})
		f.must(err)
		if sub.Total != 1 || sub.Items[0].ParentID != r.ID || sub.Items[0].Instruction != "أرجو إعداد مذكرة" {
			t.Fatalf("passed-on referral = %+v", sub)
		}
		c := sub.Items[0]
		_, err = f.wf.ActOnReferral(ctx, f.actor("staffsub@moct.gov.sy"), c.ID, workflow.ReferralTransition{Action: workflow.ActionAnswer, Version: c.Version})
		wantInput(t, err, "answer")
		c, err = f.wf.ActOnReferral(ctx, f.actor("staffsub@moct.gov.sy"), c.ID, workflow.ReferralTransition{Action: workflow.ActionAnswer, Version: c.Version, Answer: "المذكرة مرفقة"})
		f.must(err)
		// The referrer closes what they passed on; a stranger may not.
		_, err = f.wf.ActOnReferral(ctx, f.actor("it@moct.gov.sy"), c.ID, workflow.ReferralTransition{Action: workflow.ActionClose, Version: c.Version})
		wantErr(t, err, workflow.ErrNotFound)
		c, err = f.wf.ActOnReferral(ctx, staff, c.ID, workflow.ReferralTransition{Action: workflow.ActionClose, Version: c.Version})
		f.must(err)
		if c.State != workflow.StateClosed {
			t.Fatalf("closed referral is %s", c.State)
		}
		e, err := f.wf.Entry(ctx, f.actor(moctClerk), in.ID)
		f.must(err)
		if e.State != workflow.StateInProgress {
			t.Errorf("entry is %s after its referral was accepted", e.State)
		}
		var n int64
		f.must(d.Writer().Raw(`SELECT COUNT(*) FROM audit_events WHERE action LIKE 'referral.%'`).Scan(&n).Error)
		if n < 7 {
			t.Errorf("%d referral audit events", n)
		}
	})
}

func itoa(n int64) string {
	return fmtInt(n)
}

// Each process keeps users' rights between calls. Any change to them, made
// by whatever process or tool, counts from the next call on: here made by
// plain SQL, with two engines (two processes) that have both read them.
func TestRightsFollowEveryChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx
		engines := []*workflow.Service{f.wf, f.service(d)}
		secret := f.receivedAtMOCT(workflow.NewCorrespondence{Subject: "سري", Classification: workflow.Secret})
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(moctClerk, in, referTo("LEGAL-SUB"))
		refs, err := f.wf.Referrals(ctx, f.actor(moctClerk), workflow.ReferralFilter{EntryID: in.ID})
		f.must(err)
		if refs.Total != 1 {
			t.Fatalf("%d referrals", refs.Total)
		}
		clerk, head := f.actor(moctClerk), f.actor("head@moct.gov.sy")
		sql := func(q string, args ...any) {
			t.Helper()
			f.must(d.Writer().Exec(q, args...).Error)
		}
		// reads checks what each engine lets the clerk and the head read.
		reads := func(clerkErr, headErr error) {
			t.Helper()
			for i, s := range engines {
				_, err := s.Get(ctx, clerk, secret.CorrespondenceID)
				if !errors.Is(err, clerkErr) {
					t.Fatalf("engine %d: clerk reads the secret letter: %v, want %v", i, err, clerkErr)
				}
				_, err = s.Act(ctx, clerk, secret.ID, workflow.Transition{Action: workflow.ActionClose, Version: secret.Version + 100})
				if clerkErr == nil {
					wantErr(t, err, workflow.ErrStaleVersion)
				} else if !errors.Is(err, clerkErr) {
					t.Fatalf("engine %d: clerk acts on the secret letter: %v, want %v", i, err, clerkErr)
				}
				_, err = s.Referral(ctx, head, refs.Items[0].ID)
				if !errors.Is(err, headErr) {
					t.Fatalf("engine %d: head reads the referral to LEGAL-SUB: %v, want %v", i, err, headErr)
				}
			}
		}
		reads(nil, nil)
		for _, c := range []struct {
			name              string
			change, undo      string
			clerkErr, headErr error
		}{
			{"clerkship removed", `DELETE FROM registry_clerks WHERE user_id = ?`,
				`INSERT INTO registry_clerks (user_id, registry_id) SELECT ?, id FROM registries WHERE code = 'MOCT'`,
				workflow.ErrNotFound, nil},
			{"clearance lowered", `UPDATE memberships SET clearance = 'normal' WHERE user_id = ?`,
				`UPDATE memberships SET clearance = 'secret' WHERE user_id = ?`, workflow.ErrNotFound, nil},
			{"role taken", `DELETE FROM user_roles WHERE user_id = ? AND role = 'clerk'`,
				`INSERT INTO user_roles (user_id, role) VALUES (?, 'clerk')`, workflow.ErrNotFound, nil},
			{"user disabled", `UPDATE users SET disabled = TRUE WHERE id = ?`,
				`UPDATE users SET disabled = FALSE WHERE id = ?`, workflow.ErrForbidden, nil},
		} {
			sql(c.change, clerk.UserID)
			reads(c.clerkErr, c.headErr)
			sql(c.undo, clerk.UserID)
			reads(nil, nil)
		}
		sql(`UPDATE departments SET head_user_id = NULL WHERE code = 'LEGAL'`)
		reads(nil, workflow.ErrNotFound)
		sql(`UPDATE departments SET head_user_id = ? WHERE code = 'LEGAL'`, head.UserID)
		reads(nil, nil)

		// What does not make rights leaves the kept ones alone.
		var before, after int64
		f.must(d.Writer().Raw(`SELECT version FROM org_state`).Scan(&before).Error)
		sql(`UPDATE users SET failed_logins = failed_logins + 1, updated_at = updated_at WHERE id = ?`, clerk.UserID)
		sql(`UPDATE departments SET name_en = 'Law' WHERE code = 'LEGAL'`)
		f.must(d.Writer().Raw(`SELECT version FROM org_state`).Scan(&after).Error)
		if after != before {
			t.Errorf("org_state moved from %d to %d without a change of rights", before, after)
		}
	})
}

// org_state is moved at commit: two changes of the organisation that wait
// for each other's rows in turn do not also wait for each other through
// it (which would be a deadlock on PostgreSQL; SQLite has one writer).
func TestOrgStateAddsNoDeadlock(t *testing.T) {
	d := dbtest.Open(t, db.Postgres)
	f := newFixture(t, d, fixtureOptions{})
	// Bounds the wait that would otherwise never end.
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	one, two := f.actor("staff@moct.gov.sy").UserID, f.actor("it@moct.gov.sy").UserID
	sqlDB, err := d.Writer().DB()
	f.must(err)
	var before int64
	f.must(sqlDB.QueryRowContext(ctx, `SELECT version FROM org_state`).Scan(&before))
	a, err := sqlDB.BeginTx(ctx, nil)
	f.must(err)
	defer a.Rollback()
	b, err := sqlDB.BeginTx(ctx, nil)
	f.must(err)
	defer b.Rollback()
	lower := `UPDATE memberships SET clearance = 'confidential' WHERE user_id = $1`
	_, err = a.ExecContext(ctx, lower, one)
	f.must(err)
	_, err = b.ExecContext(ctx, lower, two) // would wait for a's lock of org_state
	f.must(err)
	aDone := make(chan error, 1)
	go func() {
		_, err := a.ExecContext(ctx, lower, two) // waits for b
		if err == nil {
			err = a.Commit()
		}
		aDone <- err
	}()
	f.must(b.Commit())
	f.must(<-aDone)
	var after int64
	f.must(sqlDB.QueryRowContext(ctx, `SELECT version FROM org_state`).Scan(&after))
	if after != before+3 {
		t.Errorf("org_state moved from %d to %d, want 3 moves", before, after)
	}
}

// TestVerifyFollowsTheReadRule: the verification of a registered letter
// (number, registry, hash, subject) is answered only to whoever may read
// the letter; anyone else, in another ministry or another registry of the
// same one, gets ErrNotFound as for a letter that does not exist.
func TestVerifyFollowsTheReadRule(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx
		other := f.draft(workflow.NewCorrespondence{Subject: "داخلي", Recipients: toRegistries("MOCT2")})
		other = f.act(moctClerk, other, workflow.Transition{Action: workflow.ActionRegister})
		out, in := f.sentToMOF(workflow.NewCorrespondence{Subject: "إلى المالية"})

		v, err := f.wf.Verify(ctx, f.actor(moctClerk), other.CorrespondenceID)
		f.must(err)
		if v.Number != other.Number || v.DocumentSHA256 == "" || v.Subject != "داخلي" {
			t.Errorf("verification for the sender = %+v", v)
		}
		for _, who := range []string{mofClerk, "fin@mof.gov.sy", moct2Clerk, "it@moct.gov.sy"} {
			_, err := f.wf.Verify(ctx, f.actor(who), other.CorrespondenceID)
			wantErr(t, err, workflow.ErrNotFound)
		}
		// The recipient registry reads the letter, so it may verify it.
		if v, err := f.wf.Verify(ctx, f.actor(mofClerk), in.CorrespondenceID); err != nil || v.Number != out.Number {
			t.Errorf("verification for the recipient = %+v, %v", v, err)
		}
		// An id that does not exist answers the same as one not seen.
		_, err = f.wf.Verify(ctx, f.actor(moctClerk), other.CorrespondenceID+1000)
		wantErr(t, err, workflow.ErrNotFound)
	})
}
