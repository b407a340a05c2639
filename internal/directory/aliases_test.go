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

func TestAliasesAddListRemove(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		ali := addUser(t, s, "ali@mof.gov.sy")
		sara := addUser(t, s, "sara@mof.gov.sy")

		a, err := s.AddAlias(ctx, actor, "Info@MOF.gov.sy", []string{"sara@mof.gov.sy", " ALI@mof.gov.sy", "ali@mof.gov.sy"})
		if err != nil {
			t.Fatal(err)
		}
		if a.Address != "info@mof.gov.sy" || !slices.Equal(a.Targets, []string{"ali@mof.gov.sy", "sara@mof.gov.sy"}) || a.CreatedBy != actor {
			t.Fatalf("AddAlias = %+v", a)
		}
		if _, err := s.AddAlias(ctx, actor, "info@mof.gov.sy.", []string{"ali@mof.gov.sy"}); !errors.Is(err, directory.ErrExists) {
			t.Fatalf("second alias: %v, want ErrExists", err)
		}
		for _, c := range []struct {
			address string
			to      []string
			field   string
		}{
			{"x@moh.gov.sy", []string{"ali@mof.gov.sy"}, "address"},    // not hosted
			{"ali@mof.gov.sy", []string{"sara@mof.gov.sy"}, "address"}, // a user's login
			{"bad address", []string{"ali@mof.gov.sy"}, "address"},
			{"x@mof.gov.sy", nil, "to"},
			{"x@mof.gov.sy", []string{" "}, "to"},
			{"x@mof.gov.sy", []string{"nobody@mof.gov.sy"}, "to"},
			{"x@mof.gov.sy", []string{"info@mof.gov.sy"}, "to"}, // an alias, not a user
			{"x@mof.gov.sy", []string{"x@mof.gov.sy"}, "to"},
			{"x@mof.gov.sy", []string{"a b@mof.gov.sy"}, "to"},
		} {
			_, err := s.AddAlias(ctx, actor, c.address, c.to)
			wantInputError(t, err, c.field)
		}
		as, err := s.Aliases(ctx)
		if err != nil || len(as) != 1 || as[0].Address != "info@mof.gov.sy" || len(as[0].Targets) != 2 {
			t.Fatalf("Aliases = %+v, %v", as, err)
		}
		ids, err := s.ResolveAddress(ctx, "INFO@mof.gov.sy")
		if err != nil || !slices.Equal(ids, []int64{ali.ID, sara.ID}) {
			t.Fatalf("ResolveAddress(alias) = %v, %v", ids, err)
		}
		if n := events(t, d, "alias.add", "alias:info@mof.gov.sy"); n != 1 {
			t.Fatalf("%d alias.add events, want 1", n)
		}
		if err := s.RemoveAlias(ctx, actor, "info@MOF.GOV.SY"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveAlias(ctx, actor, "info@mof.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("second RemoveAlias = %v, want ErrNotFound", err)
		}
		if n := events(t, d, "alias.remove", "alias:info@mof.gov.sy"); n != 1 {
			t.Fatalf("%d alias.remove events, want 1", n)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM alias_targets"); n != 0 {
			t.Fatalf("%d alias targets left after remove", n)
		}
		if _, err := s.ResolveAddress(ctx, "info@mof.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("ResolveAddress(removed alias) = %v, want ErrNotFound", err)
		}
	})
}

func TestResolveAddressUsersPostmasterAndForeignDomains(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		if _, _, err := s.EnsureBootstrapAdmin(ctx, password); err != nil {
			t.Fatal(err)
		}
		boot, err := s.UserByLogin(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		seed(t, s)
		if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MOH", NameAR: "الصحة", NameEN: "Health"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDomain(ctx, actor, "moh.gov.sy", "MOH"); err != nil {
			t.Fatal(err)
		}
		ali := addUser(t, s, "ali@mof.gov.sy")
		mofAdmin := addUser(t, s, "root@mof.gov.sy", directory.RoleAdmin)

		if ids, err := s.ResolveAddress(ctx, "Ali@Mof.Gov.Sy."); err != nil || !slices.Equal(ids, []int64{ali.ID}) {
			t.Fatalf("ResolveAddress(user) = %v, %v", ids, err)
		}
		// postmaster@ reaches the domain's ministry's administrators …
		if ids, err := s.ResolveAddress(ctx, "POSTMASTER@mof.gov.sy"); err != nil || !slices.Equal(ids, []int64{mofAdmin.ID}) {
			t.Fatalf("ResolveAddress(postmaster@mof) = %v, %v; want the MOF admin", ids, err)
		}
		// … or every administrator when that ministry has none.
		if ids, err := s.ResolveAddress(ctx, "postmaster@moh.gov.sy"); err != nil || !slices.Equal(ids, []int64{boot.ID, mofAdmin.ID}) {
			t.Fatalf("ResolveAddress(postmaster@moh) = %v, %v; want all admins", ids, err)
		}
		// An alias sends it on.
		if _, err := s.AddAlias(ctx, actor, "postmaster@mof.gov.sy", []string{"ali@mof.gov.sy"}); err != nil {
			t.Fatal(err)
		}
		if ids, err := s.ResolveAddress(ctx, "postmaster@mof.gov.sy"); err != nil || !slices.Equal(ids, []int64{ali.ID}) {
			t.Fatalf("ResolveAddress(postmaster alias) = %v, %v", ids, err)
		}
		if _, err := s.ResolveAddress(ctx, "nobody@mof.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("unknown mailbox: %v, want ErrNotFound", err)
		}
		if _, err := s.ResolveAddress(ctx, "victim@gmail.com"); !errors.Is(err, directory.ErrNotHosted) {
			t.Fatalf("foreign: %v, want ErrNotHosted", err)
		}
		for _, bad := range []string{`"victim@gmail.com"@mof.gov.sy`, "@mof.gov.sy:victim@gmail.com", "a\xff@mof.gov.sy"} {
			_, err := s.ResolveAddress(ctx, bad)
			wantInputError(t, err, "address")
		}
	})
}

func TestMaySendAs(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, db.SQLite)
	s := newService(d, nil)
	seed(t, s)
	ali := addUser(t, s, "ali@mof.gov.sy")
	sara := addUser(t, s, "sara@mof.gov.sy")
	admin := addUser(t, s, "root@mof.gov.sy", directory.RoleAdmin)
	if _, err := s.AddAlias(ctx, actor, "info@mof.gov.sy", []string{"ali@mof.gov.sy"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user    directory.User
		address string
		want    bool
	}{
		{ali, "ali@mof.gov.sy", true},
		{ali, "ALI@mof.gov.sy.", true},
		{ali, "info@mof.gov.sy", true},
		{ali, "sara@mof.gov.sy", false},
		{sara, "info@mof.gov.sy", false},
		{ali, "postmaster@mof.gov.sy", false},
		{admin, "postmaster@mof.gov.sy", true},
		{ali, "ali@gmail.com", false},
		{ali, "not an address", false},
	} {
		got, err := s.MaySendAs(ctx, c.user.ID, c.address)
		if err != nil || got != c.want {
			t.Errorf("MaySendAs(%s, %q) = %v, %v; want %v", c.user.Login, c.address, got, err, c.want)
		}
	}
}
