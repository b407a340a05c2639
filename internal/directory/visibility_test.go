package directory_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

// TestUsersAsShowsOtherMinistriesOnlyWhatAddressingNeeds: outside their
// own ministry a user sees no one, or with the national address book only
// names and addresses; colleagues with their roles; whether an account is
// disabled or locked only administrators (and the user) see.
func TestUsersAsShowsOtherMinistriesOnlyWhatAddressingNeeds(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		national := directory.New(d, directory.Options{HashParams: cheapParams, NationalUsers: true})
		if _, _, err := s.EnsureBootstrapAdmin(ctx, password); err != nil {
			t.Fatal(err)
		}
		seed(t, s)
		if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MOH", NameAR: "الصحة", NameEN: "Health"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDomain(ctx, actor, "moh.gov.sy", "MOH"); err != nil {
			t.Fatal(err)
		}
		ali := addUser(t, s, "ali@mof.gov.sy", directory.RoleClerk)
		addUser(t, s, "sami@mof.gov.sy", directory.RoleHead)
		if err := s.Disable(ctx, actor, "sami@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddUser(ctx, actor, directory.NewUser{Address: "huda@moh.gov.sy", Name: "Huda", Roles: []string{directory.RoleStaff}, Password: password}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddUser(ctx, actor, directory.NewUser{Address: "root@moh.gov.sy", Name: "Root", Roles: []string{directory.RoleAdmin}, Password: password}); err != nil {
			t.Fatal(err)
		}
		viewer := func(login string) directory.User {
			u, err := s.UserByLogin(ctx, login)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		type seen struct {
			login    string
			detail   directory.Detail
			roles    []string
			disabled bool
		}
		list := func(svc *directory.Service, who, q string) ([]seen, int64) {
			t.Helper()
			ls, n, err := svc.UsersAs(ctx, viewer(who), directory.ListOptions{Query: q})
			if err != nil {
				t.Fatal(err)
			}
			var out []seen
			for _, l := range ls {
				out = append(out, seen{l.Login, l.Detail, l.Roles, l.Disabled})
				if l.Detail < directory.DetailFull && (!l.CreatedAt.IsZero() || l.FailedLogins != 0 || !l.LockedUntil.Equal(time.Time{}) || l.MustChangePassword) {
					t.Errorf("%s sees the account state of %s: %+v", who, l.Login, l.User)
				}
			}
			return out, n
		}

		// Without the national address book, MOF's clerk sees MOF only:
		// roles yes, disabled no.
		got, n := list(s, "ali@mof.gov.sy", "")
		want := []seen{{"ali@mof.gov.sy", directory.DetailFull, []string{"clerk"}, false},
			{"sami@mof.gov.sy", directory.DetailColleague, []string{"head"}, false}}
		if !slices.EqualFunc(got, want, func(a, b seen) bool {
			return a.login == b.login && a.detail == b.detail && slices.Equal(a.roles, b.roles) && a.disabled == b.disabled
		}) || n != 2 {
			t.Errorf("MOF clerk sees %+v (total %d), want %+v", got, n, want)
		}
		if got, n := list(s, "ali@mof.gov.sy", "moh"); len(got) != 0 || n != 0 {
			t.Errorf("MOF clerk finds MOH users: %+v (total %d)", got, n)
		}
		if _, err := s.UserAs(ctx, viewer("ali@mof.gov.sy"), "huda@moh.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("MOF clerk reads a MOH user: %v", err)
		}
		if _, err := s.UserAs(ctx, viewer("ali@mof.gov.sy"), "admin"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("MOF clerk reads the bootstrap administrator: %v", err)
		}

		// With it, other ministries' users by name and address only.
		got, n = list(national, "ali@mof.gov.sy", "moh")
		if len(got) != 2 || n != 2 || got[0].detail != directory.DetailAddress || got[0].roles != nil {
			t.Errorf("MOF clerk with the national book sees %+v (total %d)", got, n)
		}
		l, err := national.UserAs(ctx, viewer("ali@mof.gov.sy"), "Huda@MOH.gov.sy")
		if err != nil || l.Name != "Huda" || l.Ministry != "MOH" || l.Roles != nil || l.Detail != directory.DetailAddress {
			t.Errorf("MOF clerk reads huda@moh.gov.sy: %+v, %v", l, err)
		}
		if got, n := list(national, "ali@mof.gov.sy", "admin"); len(got) != 0 || n != 0 {
			t.Errorf("the bootstrap administrator is listed: %+v", got)
		}

		// Administrators see every account whole, wherever they are.
		for _, admin := range []string{"admin", "root@moh.gov.sy"} {
			got, n = list(s, admin, "")
			if n != 5 || len(got) != 5 {
				t.Errorf("%s sees %d users (total %d), want 5", admin, len(got), n)
			}
			for _, u := range got {
				if u.detail != directory.DetailFull || len(u.roles) == 0 || u.disabled != (u.login == "sami@mof.gov.sy") {
					t.Errorf("%s sees %+v", admin, u)
				}
			}
		}
		// A user sees their own account whole.
		if l, err := s.UserAs(ctx, viewer("ali@mof.gov.sy"), "ali@mof.gov.sy"); err != nil || l.Detail != directory.DetailFull || l.ID != ali.ID {
			t.Errorf("own account: %+v, %v", l, err)
		}
	})
}
