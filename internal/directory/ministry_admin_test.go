package directory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

// outcome is what an administration call answers a caller.
type outcome int

const (
	allowed   outcome = iota
	notFound          // ErrNotFound, or the *InputError of a name that names nothing
	forbidden         // ErrForbidden
)

func outcomeOf(err error) (outcome, bool) {
	var ie *directory.InputError
	switch {
	case err == nil:
		return allowed, true
	case errors.Is(err, directory.ErrNotFound), errors.As(err, &ie):
		return notFound, true
	case errors.Is(err, directory.ErrForbidden):
		return forbidden, true
	}
	return 0, false
}

// twoMinistries seeds MOF (mof.gov.sy) and MOCT (moct.gov.sy) with an
// administrator, a ministry administrator of each, a clerk and a staff
// member of MOF, an administrator of the instance in MOF and a user of
// MOCT, and returns the callers by name.
func twoMinistries(t *testing.T, s *directory.Service) map[string]directory.Principal {
	t.Helper()
	ctx := context.Background()
	seed(t, s)
	if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MOCT", NameAR: "وزارة الاتصالات", NameEN: "Ministry of Communications"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDomain(ctx, actor, "moct.gov.sy", "MOCT"); err != nil {
		t.Fatal(err)
	}
	callers := map[string]directory.Principal{}
	for _, u := range []struct{ name, address, ministry, role string }{
		{"admin", "root@mof.gov.sy", "MOF", directory.RoleAdmin},
		{"madmin A", "hala@mof.gov.sy", "MOF", directory.RoleMinistryAdmin},
		{"madmin B", "omar@moct.gov.sy", "MOCT", directory.RoleMinistryAdmin},
		{"clerk", "ali@mof.gov.sy", "MOF", directory.RoleClerk},
		{"", "sara@mof.gov.sy", "MOF", directory.RoleStaff},
		{"", "boss@mof.gov.sy", "MOF", directory.RoleAdmin},
		{"", "rami@moct.gov.sy", "MOCT", directory.RoleStaff},
	} {
		added, err := s.AddUser(ctx, actor, directory.NewUser{Address: u.address, Name: u.address, Ministry: u.ministry,
			Roles: []string{u.role}, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		if u.name != "" {
			if callers[u.name], err = s.Principal(ctx, added.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	return callers
}

// TestMinistryAdminAdministersItsOwnMinistryOnly: each administration
// call as an administrator, a ministry administrator of MOF, one of MOCT
// and a clerk, on users and aliases of MOF: allowed, as if it did not
// exist, or forbidden; the national things stay the administrators'.
func TestMinistryAdminAdministersItsOwnMinistryOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s, ctx := newService(d, nil), context.Background()
		callers := twoMinistries(t, s)
		name := "x"
		ops := []struct {
			what string
			call func(p directory.Principal, i int) error
			want [4]outcome // admin, madmin A, madmin B, clerk
		}{
			{"AddUserAs", func(p directory.Principal, i int) error {
				return second(s.AddUserAs(ctx, p, directory.NewUser{Address: fmt.Sprintf("new%d@mof.gov.sy", i), Name: "New",
					Roles: []string{"staff", "ministry_admin"}, Password: password}))
			}, [4]outcome{allowed, allowed, notFound, forbidden}},
			{"AddUserAs in MOF's name", func(p directory.Principal, i int) error {
				return second(s.AddUserAs(ctx, p, directory.NewUser{Address: fmt.Sprintf("new%d@moct.gov.sy", i), Name: "New",
					Ministry: "MOF", Roles: []string{"staff"}, Password: password}))
			}, [4]outcome{allowed, notFound, notFound, forbidden}},
			{"AddUserAs an admin", func(p directory.Principal, i int) error {
				return second(s.AddUserAs(ctx, p, directory.NewUser{Address: fmt.Sprintf("top%d@mof.gov.sy", i), Name: "Top",
					Roles: []string{"admin"}, Password: password}))
			}, [4]outcome{allowed, forbidden, forbidden, forbidden}},
			{"DisableAs", func(p directory.Principal, _ int) error { return s.DisableAs(ctx, p, "sara@mof.gov.sy") },
				[4]outcome{allowed, allowed, notFound, forbidden}},
			{"EnableAs", func(p directory.Principal, _ int) error { return s.EnableAs(ctx, p, "sara@mof.gov.sy") },
				[4]outcome{allowed, allowed, notFound, forbidden}},
			{"SetPasswordAs", func(p directory.Principal, _ int) error {
				return s.SetPasswordAs(ctx, p, "sara@mof.gov.sy", "a new long password", true)
			}, [4]outcome{allowed, allowed, notFound, forbidden}},
			{"UnlockAs", func(p directory.Principal, _ int) error { return s.UnlockAs(ctx, p, "sara@mof.gov.sy") },
				[4]outcome{allowed, allowed, notFound, forbidden}},
			{"SetQuotaAs", func(p directory.Principal, i int) error {
				return s.SetQuotaAs(ctx, p, "sara@mof.gov.sy", int64(i+1)<<20)
			},
				[4]outcome{allowed, allowed, notFound, forbidden}},
			{"SetRolesAs", func(p directory.Principal, _ int) error {
				return second(s.SetRolesAs(ctx, p, "sara@mof.gov.sy", []string{"clerk", "ministry_admin"}))
			}, [4]outcome{allowed, allowed, notFound, forbidden}},
			{"SetRolesAs admin", func(p directory.Principal, _ int) error {
				return second(s.SetRolesAs(ctx, p, "sara@mof.gov.sy", []string{"admin"}))
			}, [4]outcome{allowed, forbidden, forbidden, forbidden}},
			{"SetQuotaAs of an admin", func(p directory.Principal, _ int) error { return s.SetQuotaAs(ctx, p, "boss@mof.gov.sy", 1) },
				[4]outcome{allowed, forbidden, notFound, forbidden}},
			{"ManagedUserAs", func(p directory.Principal, _ int) error { return second(s.ManagedUserAs(ctx, p, "sara@mof.gov.sy")) },
				[4]outcome{allowed, allowed, notFound, forbidden}},
			{"AddAliasAs", func(p directory.Principal, i int) error {
				return second(s.AddAliasAs(ctx, p, fmt.Sprintf("info%d@mof.gov.sy", i), []string{"sara@mof.gov.sy"}))
			}, [4]outcome{allowed, allowed, notFound, forbidden}},
			{"AddAliasAs to MOCT's user", func(p directory.Principal, i int) error {
				return second(s.AddAliasAs(ctx, p, fmt.Sprintf("desk%d@mof.gov.sy", i), []string{"rami@moct.gov.sy"}))
			}, [4]outcome{allowed, notFound, notFound, forbidden}},
			{"RemoveAliasAs", func(p directory.Principal, i int) error {
				if _, err := s.AddAlias(ctx, actor, fmt.Sprintf("old%d@mof.gov.sy", i), []string{"sara@mof.gov.sy"}); err != nil {
					t.Fatal(err)
				}
				return s.RemoveAliasAs(ctx, p, fmt.Sprintf("old%d@mof.gov.sy", i))
			}, [4]outcome{allowed, allowed, notFound, forbidden}},
			{"DomainsAs", func(p directory.Principal, _ int) error { return second(s.DomainsAs(ctx, p)) },
				[4]outcome{allowed, forbidden, forbidden, forbidden}},
			{"AddDomainAs", func(p directory.Principal, i int) error {
				return second(s.AddDomainAs(ctx, p, fmt.Sprintf("d%d.mof.gov.sy", i), "MOF"))
			}, [4]outcome{allowed, forbidden, forbidden, forbidden}},
			{"UpdateMinistryAs", func(p directory.Principal, _ int) error {
				return second(s.UpdateMinistryAs(ctx, p, "MOF", directory.MinistryUpdate{NameEN: &name}))
			}, [4]outcome{allowed, forbidden, forbidden, forbidden}},
			{"AddMinistryAs", func(p directory.Principal, i int) error {
				return second(s.AddMinistryAs(ctx, p, directory.Ministry{Code: fmt.Sprintf("M%d", i), NameAR: "و", NameEN: "M"}))
			}, [4]outcome{allowed, forbidden, forbidden, forbidden}},
		}
		who := []string{"admin", "madmin A", "madmin B", "clerk"}
		for _, op := range ops {
			// The refused first, so that what they would have changed is
			// still there to change.
			for _, i := range []int{3, 2, 1, 0} {
				got, ok := outcomeOf(op.call(callers[who[i]], i))
				if !ok || got != op.want[i] {
					t.Errorf("%s as %s: outcome %d (known %v), want %d", op.what, who[i], got, ok, op.want[i])
				}
			}
		}
		if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.disable' AND actor = 'user:hala@mof.gov.sy'"); n != 1 {
			t.Errorf("%d user.disable events by the ministry administrator, want 1", n)
		}
		if u, _ := s.UserByLogin(ctx, "boss@mof.gov.sy"); u.QuotaBytes != 1 {
			t.Errorf("the administrator's quota is %d: changed by a refused call", u.QuotaBytes)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE actor IN ('user:omar@moct.gov.sy', 'user:ali@mof.gov.sy')"); n != 0 {
			t.Errorf("%d events written by refused callers", n)
		}
	})
}

// TestMinistryAdminListsOnlyItsOwnMinistry: the users and aliases a
// ministry administrator lists are those of their ministry; an
// administrator lists all.
func TestMinistryAdminListsOnlyItsOwnMinistry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s, ctx := newService(d, nil), context.Background()
		callers := twoMinistries(t, s)
		if _, err := s.AddAlias(ctx, actor, "info@mof.gov.sy", []string{"sara@mof.gov.sy"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddAlias(ctx, actor, "info@moct.gov.sy", []string{"rami@moct.gov.sy"}); err != nil {
			t.Fatal(err)
		}
		for who, want := range map[string][]string{
			"admin":    {"ali@mof.gov.sy", "boss@mof.gov.sy", "hala@mof.gov.sy", "omar@moct.gov.sy", "rami@moct.gov.sy", "root@mof.gov.sy", "sara@mof.gov.sy"},
			"madmin A": {"ali@mof.gov.sy", "boss@mof.gov.sy", "hala@mof.gov.sy", "root@mof.gov.sy", "sara@mof.gov.sy"},
			"madmin B": {"omar@moct.gov.sy", "rami@moct.gov.sy"},
		} {
			us, n, err := s.ManagedUsersAs(ctx, callers[who], directory.ListOptions{})
			var got []string
			for _, u := range us {
				got = append(got, u.Login)
			}
			if err != nil || !slices.Equal(got, want) || n != int64(len(want)) {
				t.Errorf("ManagedUsersAs %s: %v (%d), %v; want %v", who, got, n, err, want)
			}
		}
		if us, n, err := s.ManagedUsersAs(ctx, callers["madmin B"], directory.ListOptions{Query: "mof"}); err != nil || n != 0 || len(us) != 0 {
			t.Errorf("a search of MOF's users as MOCT's administrator: %v (%d), %v", us, n, err)
		}
		for who, want := range map[string][]string{
			"admin":    {"info@moct.gov.sy", "info@mof.gov.sy"},
			"madmin A": {"info@mof.gov.sy"},
			"madmin B": {"info@moct.gov.sy"},
		} {
			as, err := s.AliasesAs(ctx, callers[who])
			var got []string
			for _, a := range as {
				got = append(got, a.Address)
			}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("AliasesAs %s: %v, %v; want %v", who, got, err, want)
			}
		}
		if _, _, err := s.ManagedUsersAs(ctx, callers["clerk"], directory.ListOptions{}); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("ManagedUsersAs a clerk: %v", err)
		}
	})
}
