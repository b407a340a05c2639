package directory_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

// TestAdministrationAsRefusesWhoIsNotAdministrator: every method that
// takes the caller refuses one without the role admin, or disabled, and
// writes nothing.
func TestAdministrationAsRefusesWhoIsNotAdministrator(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s, ctx := newService(d, nil), context.Background()
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy", directory.RoleClerk)
		clerk := directory.Principal{UserID: 2, Login: "ali@mof.gov.sy", Roles: []string{directory.RoleClerk}}
		gone := directory.Principal{UserID: 3, Login: "old@mof.gov.sy", Roles: []string{directory.RoleAdmin}, Disabled: true}
		name := "x"
		for _, who := range []directory.Principal{clerk, gone} {
			for what, err := range map[string]error{
				"DomainsAs":        second(s.DomainsAs(ctx, who)),
				"AddDomainAs":      second(s.AddDomainAs(ctx, who, "moh.gov.sy", "MOF")),
				"AliasesAs":        second(s.AliasesAs(ctx, who)),
				"AddAliasAs":       second(s.AddAliasAs(ctx, who, "info@mof.gov.sy", []string{"ali@mof.gov.sy"})),
				"RemoveAliasAs":    s.RemoveAliasAs(ctx, who, "info@mof.gov.sy"),
				"UpdateMinistryAs": second(s.UpdateMinistryAs(ctx, who, "MOF", directory.MinistryUpdate{NameEN: &name})),
				"SetRolesAs":       second(s.SetRolesAs(ctx, who, "ali@mof.gov.sy", []string{"admin"})),
			} {
				if !errors.Is(err, directory.ErrForbidden) {
					t.Errorf("%s as %s: %v, want ErrForbidden", what, who.Login, err)
				}
			}
		}
		if n := events(t, d, "user.roles", "user:ali@mof.gov.sy") + events(t, d, "ministry.update", "ministry:MOF"); n != 0 {
			t.Errorf("%d events written by refused calls", n)
		}
	})
}

func second[T any](_ T, err error) error { return err }

// TestSetRolesReplacesRolesAndKeepsAnAdministrator: roles are replaced in
// canonical order and audited with before and after; the same roles write
// nothing; the last enabled administrator keeps the role admin.
func TestSetRolesReplacesRolesAndKeepsAnAdministrator(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s, ctx := newService(d, nil), context.Background()
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy", directory.RoleAdmin)
		addUser(t, s, "sara@mof.gov.sy", directory.RoleStaff)
		rs, err := s.SetRoles(ctx, actor, "Sara@MOF.gov.sy", []string{"staff", "Clerk", "staff"})
		if err != nil || !slices.Equal(rs, []string{"clerk", "staff"}) {
			t.Fatalf("SetRoles: %v, %v", rs, err)
		}
		if u, _ := s.UserByLogin(ctx, "sara@mof.gov.sy"); !slices.Equal(u.Roles, []string{"clerk", "staff"}) {
			t.Errorf("stored roles %v", u.Roles)
		}
		if _, err := s.SetRoles(ctx, actor, "sara@mof.gov.sy", []string{"staff", "clerk"}); err != nil {
			t.Fatal(err)
		}
		if n := events(t, d, "user.roles", "user:sara@mof.gov.sy"); n != 1 {
			t.Errorf("%d user.roles events, want 1 (the same roles write nothing)", n)
		}
		var ie *directory.InputError
		if _, err := s.SetRoles(ctx, actor, "ali@mof.gov.sy", []string{"clerk"}); !errors.As(err, &ie) || ie.Field != "role" {
			t.Errorf("the last administrator's role taken: %v", err)
		}
		if _, err := s.SetRoles(ctx, actor, "nobody@mof.gov.sy", []string{"clerk"}); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if _, err := s.SetRoles(ctx, actor, "sara@mof.gov.sy", []string{"admin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetRoles(ctx, actor, "ali@mof.gov.sy", []string{"clerk"}); err != nil {
			t.Errorf("with another administrator: %v", err)
		}
	})
}
