package directory_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

// orgVersion reads org_state's version.
func orgVersion(t *testing.T, d *db.DB) int64 {
	t.Helper()
	return count(t, d, "SELECT version FROM org_state WHERE id = 1")
}

func TestCheckSessionAnswersThePrincipalUntilLogoutOrExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, clock := context.Background(), newClock()
		s := directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now, SessionTTL: time.Hour})
		seed(t, s)
		u := addUser(t, s, "ali@mof.gov.sy", directory.RoleStaff, directory.RoleClerk)
		sess, err := s.CreateSession(ctx, u, "203.0.113.5")
		if err != nil {
			t.Fatal(err)
		}
		if len(sess.Cookie) < 43 || !sess.ExpiresAt.Equal(clock.Now().Add(time.Hour)) {
			t.Fatalf("session %+v", sess)
		}
		// Only the hash is stored.
		if n := count(t, d, "SELECT COUNT(*) FROM web_sessions WHERE token_hash = ?", directory.HashSecret(sess.Cookie)); n != 1 {
			t.Fatalf("%d rows with the cookie's hash", n)
		}
		p, err := s.CheckSession(ctx, sess.Cookie)
		if err != nil {
			t.Fatal(err)
		}
		want := directory.Principal{UserID: u.ID, Login: "ali@mof.gov.sy", MinistryID: p.MinistryID, Ministry: "MOF",
			Roles: []string{directory.RoleClerk, directory.RoleStaff}, OrgVersion: orgVersion(t, d), ExpiresAt: sess.ExpiresAt}
		if p.MinistryID == 0 || !p.ExpiresAt.Equal(want.ExpiresAt) || p.UserID != want.UserID || p.Login != want.Login ||
			p.Ministry != want.Ministry || !slices.Equal(p.Roles, want.Roles) || p.OrgVersion != want.OrgVersion {
			t.Errorf("CheckSession = %+v, want %+v", p, want)
		}
		if _, err := s.CheckSession(ctx, "not-a-cookie"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("unknown cookie: %v", err)
		}

		// Logged out: refused at once.
		if err := s.DeleteSession(ctx, sess.Cookie); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckSession(ctx, sess.Cookie); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("after logout: %v", err)
		}
		// Expired: refused.
		sess, err = s.CreateSession(ctx, u, "203.0.113.5")
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if _, err := s.CheckSession(ctx, sess.Cookie); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("expired: %v", err)
		}
		// Disabled: refused at once, without any keep to wait for.
		clock.Advance(-time.Hour)
		if _, err := s.CheckSession(ctx, sess.Cookie); err != nil {
			t.Fatal(err)
		}
		if err := s.Disable(ctx, actor, u.Login); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckSession(ctx, sess.Cookie); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("disabled user: %v", err)
		}
	})
}

func TestTokenRevocationIsSeenAtOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		u := addUser(t, s, "ali@mof.gov.sy")
		token, err := s.CreateToken(ctx, actor, u.Login)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(token, directory.TokenPrefix) || events(t, d, "user.token", "user:ali@mof.gov.sy") != 1 {
			t.Fatalf("token %q, or no audit event", token)
		}
		p, err := s.CheckToken(ctx, token)
		if err != nil || p.UserID != u.ID || p.Login != u.Login || p.Ministry != "MOF" || p.OrgVersion != orgVersion(t, d) {
			t.Fatalf("CheckToken = %+v, %v", p, err)
		}

		// Revoked through the directory: refused at once by both checks.
		if err := s.RevokeToken(ctx, actor, token); err != nil {
			t.Fatal(err)
		}
		if events(t, d, "user.token_revoked", "user:ali@mof.gov.sy") != 1 {
			t.Error("no audit event of the revocation")
		}
		if _, err := s.CheckToken(ctx, token); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("CheckToken after RevokeToken: %v", err)
		}
		if _, err := s.RecheckToken(ctx, token); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("RecheckToken after RevokeToken: %v", err)
		}
		if err := s.RevokeToken(ctx, actor, token); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("revoking it again: %v", err)
		}

		// Revoked behind this process's back (another process, a tool):
		// the kept answer carries the version it was found valid at, which
		// has moved; RecheckToken reads the database and refuses it.
		token, err = s.CreateToken(ctx, actor, u.Login)
		if err != nil {
			t.Fatal(err)
		}
		kept, err := s.CheckToken(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Writer().Exec("DELETE FROM api_tokens WHERE token_hash = ?", directory.HashSecret(token)).Error; err != nil {
			t.Fatal(err)
		}
		if v := orgVersion(t, d); v == kept.OrgVersion {
			t.Fatalf("deleting a token left org_state at version %d", v)
		}
		again, err := s.CheckToken(ctx, token)
		if err != nil || again.OrgVersion != kept.OrgVersion {
			t.Errorf("CheckToken from the keep = %+v, %v; want the kept answer at version %d", again, err, kept.OrgVersion)
		}
		if _, err := s.RecheckToken(ctx, token); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("RecheckToken after the delete: %v", err)
		}
		// A refused token is no longer kept.
		if _, err := s.CheckToken(ctx, token); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("CheckToken after the refusal: %v", err)
		}

		// A disabled user's token: refused on the recheck; a new token
		// for them is bad input.
		token, err = s.CreateToken(ctx, actor, u.Login)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Disable(ctx, actor, u.Login); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecheckToken(ctx, token); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("RecheckToken of a disabled user's token: %v", err)
		}
		var ie *directory.InputError
		if _, err := s.CreateToken(ctx, actor, u.Login); !errors.As(err, &ie) || ie.Field != "login" {
			t.Errorf("CreateToken for a disabled user: %v", err)
		}
		if _, err := s.CheckToken(ctx, "Bearer nonsense"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("a string without the prefix: %v", err)
		}
	})
}

func TestPrincipalReadsTheUserWithTheOrgVersion(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		u := addUser(t, s, "ali@mof.gov.sy", directory.RoleHead)
		p, err := s.Principal(ctx, u.ID)
		if err != nil || p.Login != u.Login || p.Ministry != "MOF" || !slices.Equal(p.Roles, []string{directory.RoleHead}) ||
			p.Disabled || p.OrgVersion != orgVersion(t, d) {
			t.Fatalf("Principal = %+v, %v", p, err)
		}
		if err := s.Disable(ctx, actor, u.Login); err != nil {
			t.Fatal(err)
		}
		p, err = s.Principal(ctx, u.ID)
		if err != nil || !p.Disabled || p.OrgVersion != orgVersion(t, d) {
			t.Errorf("Principal of a disabled user = %+v, %v", p, err)
		}
		if _, err := s.Principal(ctx, 999999); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("Principal of no user: %v", err)
		}
	})
}
