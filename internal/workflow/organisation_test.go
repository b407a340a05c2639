package workflow_test

import (
	"errors"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

func TestOrganisation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		op := workflow.OperatorActor(operator)
		rs, err := f.wf.Registries(f.ctx, "moct")
		f.must(err)
		if len(rs) != 2 || rs[0].Code != "MOCT" || rs[0].Ministry != "MOCT" || rs[0].Address != "diwan@moct.gov.sy" ||
			rs[0].Template != workflow.DefaultTemplate || rs[1].Code != "MOCT2" || !rs[1].ApprovalRequired {
			t.Fatalf("registries of MOCT = %+v", rs)
		}
		r, err := f.wf.Registry(f.ctx, "mof")
		f.must(err)
		if r.Ministry != "MOF" || r.NameAR != "ديوان المالية" {
			t.Errorf("registry MOF = %+v", r)
		}
		_, err = f.wf.Registry(f.ctx, "NOPE")
		wantErr(t, err, workflow.ErrNotFound)

		ds, err := f.wf.Departments(f.ctx, workflow.OperatorActor(operator), "MOCT")
		f.must(err)
		if len(ds) != 3 || ds[1].Code != "LEGAL" || ds[1].Head != "head@moct.gov.sy" || ds[2].Parent != "LEGAL" {
			t.Fatalf("departments of MOCT = %+v", ds)
		}

		// Bad input, named by field; nothing changes.
		for _, c := range []struct {
			r     workflow.Registry
			field string
		}{
			{workflow.Registry{Code: "x", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "r@moct.gov.sy"}, "code"},
			{workflow.Registry{Code: "NEW", Ministry: "NOPE", NameAR: "a", NameEN: "b", Address: "r@moct.gov.sy"}, "ministry"},
			{workflow.Registry{Code: "NEW", Ministry: "MOCT", NameEN: "b", Address: "r@moct.gov.sy"}, "name_ar"},
			{workflow.Registry{Code: "NEW", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "r@mof.gov.sy"}, "address"},
			{workflow.Registry{Code: "NEW", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "r@example.com"}, "address"},
			{workflow.Registry{Code: "NEW", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "clerk@moct.gov.sy"}, "address"},
			{workflow.Registry{Code: "NEW", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "r@moct.gov.sy", Template: "{registry}/{seq}"}, "template"},
			{workflow.Registry{Code: "NEW", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "r@moct.gov.sy", Template: "{dir}{year}{seq:6}"}, "template"},
		} {
			_, err := f.wf.AddRegistry(f.ctx, op, c.r)
			wantInput(t, err, c.field)
		}
		_, err = f.wf.AddRegistry(f.ctx, op, workflow.Registry{Code: "moct", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "other@moct.gov.sy"})
		wantErr(t, err, workflow.ErrExists)
		// Only administrators change the organisation.
		_, err = f.wf.AddRegistry(f.ctx, f.actor("clerk@moct.gov.sy"), workflow.Registry{Code: "NEW", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "r@moct.gov.sy"})
		wantErr(t, err, workflow.ErrForbidden)
		_, err = f.wf.AddRegistry(f.ctx, f.actor("admin"), workflow.Registry{Code: "NEW", Ministry: "MOCT", NameAR: "a", NameEN: "b", Address: "r@moct.gov.sy", Template: "{registry}-{year}-{dir}-{seq:04}"})
		f.must(err)

		// Departments: a cycle is refused; a head must hold the head role.
		legal := "LEGAL-SUB"
		_, err = f.wf.UpdateDepartment(f.ctx, op, "MOCT", "LEGAL", workflow.DepartmentUpdate{Parent: &legal})
		wantInput(t, err, "parent")
		_, err = f.wf.AddDepartment(f.ctx, op, workflow.Department{Code: "HR", Ministry: "MOCT", NameAR: "a", NameEN: "b", Head: "staff@moct.gov.sy"})
		wantInput(t, err, "head")
		_, err = f.wf.AddDepartment(f.ctx, op, workflow.Department{Code: "HR", Ministry: "MOCT", NameAR: "a", NameEN: "b", Head: "head@mof.gov.sy"})
		wantInput(t, err, "head")
		_, err = f.wf.AddDepartment(f.ctx, op, workflow.Department{Code: "LEGAL", Ministry: "MOCT", NameAR: "a", NameEN: "b"})
		wantErr(t, err, workflow.ErrExists)
		_, err = f.wf.AddDepartment(f.ctx, op, workflow.Department{Code: "LEGAL", Ministry: "MOF", NameAR: "a", NameEN: "b"})
		f.must(err) // codes are per ministry

		// Membership.
		_, err = f.wf.SetMembership(f.ctx, op, "staff@moct.gov.sy", workflow.MembershipChange{AddRegistry: "MOCT"})
		wantInput(t, err, "registry") // not a clerk
		_, err = f.wf.SetMembership(f.ctx, op, "clerk@moct.gov.sy", workflow.MembershipChange{AddRegistry: "MOF"})
		wantInput(t, err, "registry") // another ministry's
		_, err = f.wf.SetMembership(f.ctx, op, "clerk@moct.gov.sy", workflow.MembershipChange{Clearance: "top"})
		wantInput(t, err, "clearance")
		_, err = f.wf.SetMembership(f.ctx, op, "nobody@moct.gov.sy", workflow.MembershipChange{Clearance: workflow.Secret})
		wantInput(t, err, "user")
		m, err := f.wf.SetMembership(f.ctx, op, "clerk@moct.gov.sy", workflow.MembershipChange{AddRegistry: "MOCT2"})
		f.must(err)
		if len(m.Registries) != 2 || m.Clearance != workflow.Secret || m.Ministry != "MOCT" {
			t.Errorf("membership = %+v", m)
		}
		m, err = f.wf.Membership(f.ctx, f.actor("head@moct.gov.sy"), "head@moct.gov.sy")
		f.must(err)
		if m.Department != "LEGAL" || len(m.Heads) != 1 || m.Heads[0] != "LEGAL" {
			t.Errorf("head's membership = %+v", m)
		}
		_, err = f.wf.Membership(f.ctx, f.actor("staff@moct.gov.sy"), "head@moct.gov.sy")
		wantErr(t, err, workflow.ErrNotFound)

		// Every change is an audit event.
		var n int64
		f.must(d.Writer().Raw(`SELECT COUNT(*) FROM audit_events WHERE action IN ('registry.add', 'department.add', 'member.set')`).Scan(&n).Error)
		if n < 3+4+10+3 {
			t.Errorf("%d organisation audit events", n)
		}
		if errors.Is(err, nil) {
			t.Fatal("unreachable")
		}
	})
}
