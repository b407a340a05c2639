package workflow_test

import (
	"errors"
	"fmt"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

// TestMinistryAdminOrganisesItsOwnMinistryOnly: registries, departments
// and memberships of MOCT, changed and read as an administrator, MOCT's
// ministry administrator, MOF's, and a clerk of MOCT: allowed, as if it
// did not exist (ErrNotFound), or ErrForbidden; each allowed change is
// audited with the caller as actor.
func TestMinistryAdminOrganisesItsOwnMinistryOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		for _, login := range []string{"madmin@moct.gov.sy", "madmin@mof.gov.sy"} {
			nu, err := f.dir.AddUser(f.ctx, operator, directory.NewUser{Address: login, Name: login,
				Roles: []string{directory.RoleMinistryAdmin}, Password: password})
			f.must(err)
			f.users[login] = workflow.UserActor(nu.ID, nu.Login)
		}
		const (
			ok = iota
			notFound
			forbidden
		)
		name := "new name"
		conf := workflow.Confidential
		ops := []struct {
			what string
			call func(a workflow.Actor, i int) error
			want [4]int // admin, MOCT's, MOF's, clerk of MOCT
		}{
			{"AddRegistry", func(a workflow.Actor, i int) error {
				_, err := f.wf.AddRegistry(f.ctx, a, workflow.Registry{Code: fmt.Sprintf("R%d", i), Ministry: "MOCT",
					NameAR: "د", NameEN: "R", Address: fmt.Sprintf("r%d@moct.gov.sy", i)})
				return err
			}, [4]int{ok, ok, notFound, forbidden}},
			{"UpdateRegistry", func(a workflow.Actor, _ int) error {
				_, err := f.wf.UpdateRegistry(f.ctx, a, "MOCT2", workflow.RegistryUpdate{NameEN: &name})
				return err
			}, [4]int{ok, ok, notFound, forbidden}},
			{"AddDepartment", func(a workflow.Actor, i int) error {
				_, err := f.wf.AddDepartment(f.ctx, a, workflow.Department{Code: fmt.Sprintf("D%d", i), Ministry: "MOCT", NameAR: "ق", NameEN: "D"})
				return err
			}, [4]int{ok, ok, notFound, forbidden}},
			{"UpdateDepartment", func(a workflow.Actor, _ int) error {
				_, err := f.wf.UpdateDepartment(f.ctx, a, "MOCT", "IT", workflow.DepartmentUpdate{NameEN: &name})
				return err
			}, [4]int{ok, ok, notFound, forbidden}},
			{"SetMembership", func(a workflow.Actor, _ int) error {
				_, err := f.wf.SetMembership(f.ctx, a, "staff@moct.gov.sy", workflow.MembershipChange{Clearance: conf})
				return err
			}, [4]int{ok, ok, notFound, forbidden}},
			{"Membership", func(a workflow.Actor, _ int) error {
				_, err := f.wf.Membership(f.ctx, a, "staff@moct.gov.sy")
				return err
			}, [4]int{ok, ok, notFound, notFound}},
		}
		callers := []string{"admin", "madmin@moct.gov.sy", "madmin@mof.gov.sy", "clerk@moct.gov.sy"}
		for _, op := range ops {
			for i := len(callers) - 1; i >= 0; i-- {
				err := op.call(f.actor(callers[i]), i)
				var ie *workflow.InputError
				got := -1
				switch {
				case err == nil:
					got = ok
				case errors.Is(err, workflow.ErrNotFound), errors.As(err, &ie):
					got = notFound
				case errors.Is(err, workflow.ErrForbidden):
					got = forbidden
				}
				if got != op.want[i] {
					t.Errorf("%s as %s: %v, want outcome %d", op.what, callers[i], err, op.want[i])
				}
			}
		}
		var n int64
		f.must(d.Writer().Raw(`SELECT COUNT(*) FROM audit_events WHERE actor = 'user:madmin@moct.gov.sy'
			AND action IN ('registry.add', 'registry.update', 'department.add', 'department.update', 'member.set')`).Scan(&n).Error)
		if n != 5 {
			t.Errorf("%d changes audited as MOCT's ministry administrator, want 5", n)
		}
		f.must(d.Writer().Raw(`SELECT COUNT(*) FROM audit_events WHERE actor IN ('user:madmin@mof.gov.sy', 'user:clerk@moct.gov.sy')`).Scan(&n).Error)
		if n != 0 {
			t.Errorf("%d events by refused callers", n)
		}
	})
}
