package directory_test

import (
	"context"
	"errors"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

func wantInputField(t *testing.T, err error, field string) {
	t.Helper()
	var ie *directory.InputError
	if !errors.As(err, &ie) || ie.Field != field {
		t.Fatalf("error = %v, want an *InputError for %s", err, field)
	}
}

// A user changes their own password: the current one must be right (a
// wrong one counts as a failed login), the new one must pass the rules
// and differ; success clears MustChangePassword, is audited, and the
// session's principal says so (with the org_state version moved, so that
// kept API tokens are checked again).
func TestChangePasswordChecksTheCurrentOneAndClearsMustChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := directory.WithClient(context.Background(), "http:192.0.2.9")
		s := newService(d, nil)
		seed(t, s)
		u := addUser(t, s, "ali@mof.gov.sy")
		if err := s.SetPassword(ctx, actor, u.Login, password, true); err != nil {
			t.Fatal(err)
		}
		sess, err := s.CreateSession(ctx, u, "192.0.2.9")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.CheckSession(ctx, sess.Cookie)
		if err != nil || !p.MustChangePassword {
			t.Fatalf("principal before the change: %+v, %v; want MustChangePassword", p, err)
		}
		before := p.OrgVersion

		wantInputField(t, s.ChangePassword(ctx, u.Login, "wrong password", "a brand new secret"), "current_password")
		if got, _ := s.UserByLogin(ctx, u.Login); got.FailedLogins != 1 {
			t.Errorf("a wrong current password is not counted as a failed login: %d", got.FailedLogins)
		}
		wantInputField(t, s.ChangePassword(ctx, u.Login, "", "a brand new secret"), "current_password")
		wantInputField(t, s.ChangePassword(ctx, u.Login, password, "short"), "new_password")
		wantInputField(t, s.ChangePassword(ctx, u.Login, password, password), "new_password")
		if n := events(t, d, "user.passwd", "user:"+u.Login); n != 1 {
			t.Fatalf("refused changes wrote events: %d", n)
		}

		if err := s.ChangePassword(ctx, u.Login, password, "a brand new secret"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, u.Login, "a brand new secret"); err != nil {
			t.Fatalf("the new password does not log in: %v", err)
		}
		if _, err := s.Authenticate(ctx, u.Login, password); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("the old password still logs in: %v", err)
		}
		p, err = s.CheckSession(ctx, sess.Cookie)
		if err != nil || p.MustChangePassword {
			t.Fatalf("principal after the change: %+v, %v", p, err)
		}
		if p.OrgVersion == before {
			t.Error("clearing must_change_password did not move org_state's version")
		}
		if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.passwd' AND actor = ?", "user:"+u.Login); n != 1 {
			t.Errorf("the change is not audited as the user's own: %d events", n)
		}
	})
}

// The language a user chose is stored with them, audited once per change,
// and read with their session at no extra cost.
func TestSetLanguageIsStoredAndReadWithTheSession(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		u := addUser(t, s, "ali@mof.gov.sy")
		if u.Language != "" {
			t.Fatalf("a new user's language = %q", u.Language)
		}
		wantInputField(t, s.SetLanguage(ctx, "user:"+u.Login, u.Login, "fr"), "language")
		for range 2 {
			if err := s.SetLanguage(ctx, "user:"+u.Login, u.Login, "en"); err != nil {
				t.Fatal(err)
			}
		}
		if n := events(t, d, "user.language", "user:"+u.Login); n != 1 {
			t.Errorf("user.language events = %d, want 1 (the same choice again changes nothing)", n)
		}
		got, err := s.UserByLogin(ctx, u.Login)
		if err != nil || got.Language != "en" {
			t.Fatalf("UserByLogin: %+v, %v", got, err)
		}
		sess, err := s.CreateSession(ctx, got, "192.0.2.9")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.CheckSession(ctx, sess.Cookie)
		if err != nil || p.Language != "en" {
			t.Fatalf("principal %+v, %v: want language en", p, err)
		}
	})
}
