package directory_test

import (
	"context"
	"errors"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

// TestAddMinistryAsIsTheAdministratorsAlone: an administrator adds a
// ministry, audited with them as actor; a clerk, or a disabled
// administrator, is refused and nothing is written.
func TestAddMinistryAsIsTheAdministratorsAlone(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s, ctx := newService(d, nil), context.Background()
		seed(t, s)
		moh := directory.Ministry{Code: "moh", NameAR: "وزارة الصحة", NameEN: "Ministry of Health"}
		for _, who := range []directory.Principal{
			{UserID: 2, Login: "ali@mof.gov.sy", Roles: []string{directory.RoleClerk}},
			{UserID: 3, Login: "old@mof.gov.sy", Roles: []string{directory.RoleAdmin}, Disabled: true},
		} {
			if _, err := s.AddMinistryAs(ctx, who, moh); !errors.Is(err, directory.ErrForbidden) {
				t.Errorf("AddMinistryAs as %s: %v, want ErrForbidden", who.Login, err)
			}
		}
		if n := events(t, d, "ministry.add", "ministry:MOH"); n != 0 {
			t.Fatalf("%d events written by refused calls", n)
		}
		admin := directory.Principal{UserID: 1, Login: "admin", Roles: []string{directory.RoleAdmin}}
		m, err := s.AddMinistryAs(ctx, admin, moh)
		if err != nil || m.Code != "MOH" {
			t.Fatalf("AddMinistryAs as admin: %+v, %v", m, err)
		}
		var actor string
		if err := d.Writer().Raw("SELECT actor FROM audit_events WHERE action = 'ministry.add' AND target = 'ministry:MOH'").Scan(&actor).Error; err != nil || actor != "user:admin" {
			t.Errorf("ministry.add actor %q, %v", actor, err)
		}
	})
}
