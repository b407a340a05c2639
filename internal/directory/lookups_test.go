package directory_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

func TestLookupsAnswerWhatOtherPartsNameAndNotFoundForTheRest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MOCT", NameAR: "وزارة الاتصالات", NameEN: "Communications"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.EnsureBootstrapAdmin(ctx, password); err != nil {
			t.Fatal(err)
		}
		ali := addUser(t, s, "ali@mof.gov.sy", directory.RoleStaff, directory.RoleHead)
		if err := s.Disable(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}

		mof, err := s.MinistryID(ctx, "MOF")
		if err != nil || mof == 0 {
			t.Fatalf("MinistryID(MOF) = %d, %v", mof, err)
		}
		if _, err := s.MinistryID(ctx, "NONE"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("MinistryID(NONE): %v, want ErrNotFound", err)
		}
		moct, err := s.MinistryID(ctx, "MOCT")
		if err != nil {
			t.Fatal(err)
		}
		codes, err := s.MinistryCodes(ctx, []int64{mof, moct, mof, 999999})
		if want := map[int64]string{mof: "MOF", moct: "MOCT"}; err != nil || !maps.Equal(codes, want) {
			t.Errorf("MinistryCodes = %v, %v; want %v", codes, err, want)
		}

		if m, err := s.DomainMinistry(ctx, "mof.gov.sy"); err != nil || m != mof {
			t.Errorf("DomainMinistry(mof.gov.sy) = %d, %v; want %d", m, err, mof)
		}
		if _, err := s.DomainMinistry(ctx, "moh.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("DomainMinistry of a domain not hosted: %v, want ErrNotFound", err)
		}

		a, err := s.AccountByLogin(ctx, "ali@mof.gov.sy")
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != ali.ID || a.Login != "ali@mof.gov.sy" || a.MinistryID != mof || a.Ministry != "MOF" || !a.Disabled ||
			!slices.Equal(a.Roles, []string{directory.RoleHead, directory.RoleStaff}) || !a.HasRole(directory.RoleHead) {
			t.Errorf("AccountByLogin(ali) = %+v", a)
		}
		admin, err := s.AccountByLogin(ctx, directory.BootstrapLogin)
		if err != nil || admin.MinistryID != 0 || admin.Ministry != "" || !admin.HasRole(directory.RoleAdmin) {
			t.Errorf("AccountByLogin(admin) = %+v, %v", admin, err)
		}
		if _, err := s.AccountByLogin(ctx, "nobody@mof.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("AccountByLogin of no user: %v, want ErrNotFound", err)
		}

		for login, want := range map[string]bool{"ali@mof.gov.sy": true, "diwan@mof.gov.sy": false} {
			if got, err := s.LoginTaken(ctx, login); err != nil || got != want {
				t.Errorf("LoginTaken(%s) = %v, %v; want %v", login, got, err, want)
			}
		}
		logins, err := s.Logins(ctx, []int64{ali.ID, admin.ID, ali.ID, 999999})
		if want := map[int64]string{ali.ID: "ali@mof.gov.sy", admin.ID: directory.BootstrapLogin}; err != nil || !maps.Equal(logins, want) {
			t.Errorf("Logins = %v, %v; want %v", logins, err, want)
		}
		if none, err := s.Logins(ctx, nil); err != nil || len(none) != 0 {
			t.Errorf("Logins(nil) = %v, %v", none, err)
		}
	})
}
