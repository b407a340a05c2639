package directory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

func TestAuthenticateAcceptsAnySpellingOfTheLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		for _, login := range []string{"ali@mof.gov.sy", "ALI@MOF.GOV.SY", "Ali@mof.gov.sy."} {
			u, err := s.Authenticate(ctx, login, password)
			if err != nil || u.Login != "ali@mof.gov.sy" || u.Ministry != "MOF" || len(u.Roles) != 1 {
				t.Errorf("Authenticate(%q) = %+v, %v", login, u, err)
			}
		}
	})
}

// With LockoutAddresses 1, one address reaching the threshold locks the
// account for everyone.
func TestAuthenticateLocksAfterThresholdFailuresUntilExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := directory.WithClient(context.Background(), "imap:192.0.2.7")
		clock := newClock()
		// Defaults otherwise: 5 failures, 15 minutes.
		s := directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now, LockoutAddresses: 1})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		const target = "user:ali@mof.gov.sy"

		// Four failures, then a success, reset the count.
		for range 4 {
			if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password"); err != directory.ErrInvalidCredentials {
				t.Fatalf("wrong password = %v", err)
			}
		}
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.FailedLogins != 4 {
			t.Fatalf("FailedLogins = %d, want 4", u.FailedLogins)
		}
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("right password after 4 failures: %v", err)
		}
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.FailedLogins != 0 {
			t.Fatalf("FailedLogins after success = %d, want 0", u.FailedLogins)
		}

		// Five failures lock the account.
		for i := range 5 {
			clock.Advance(time.Second)
			if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password"); err != directory.ErrInvalidCredentials {
				t.Fatalf("failure %d = %v", i+1, err)
			}
		}
		lockedAt := clock.Now()
		u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy")
		if !u.Locked(clock.Now()) || !u.LockedUntil.Equal(lockedAt.Add(15*time.Minute)) {
			t.Fatalf("after 5 failures LockedUntil = %v, want %v", u.LockedUntil, lockedAt.Add(15*time.Minute))
		}
		if n := events(t, d, "user.locked", target); n != 1 {
			t.Fatalf("%d user.locked events, want 1", n)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.locked' AND actor = 'imap:192.0.2.7'"); n != 1 {
			t.Fatal("user.locked event does not name the client")
		}

		// While locked, the right password gets the same answer, and the
		// password is not even checked against the real hash.
		clock.Advance(15*time.Minute - time.Second)
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
			t.Fatalf("right password while locked = %v, want ErrInvalidCredentials", err)
		}
		if u2, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); !u2.LockedUntil.Equal(u.LockedUntil) {
			t.Fatalf("an attempt while locked moved the lock to %v", u2.LockedUntil)
		}

		// After expiry it is accepted and the lock is cleared.
		clock.Advance(time.Second)
		got, err := s.Authenticate(ctx, "ali@mof.gov.sy", password)
		if err != nil {
			t.Fatalf("right password after the lock expired: %v", err)
		}
		if !got.LockedUntil.IsZero() || got.FailedLogins != 0 {
			t.Fatalf("after success LockedUntil = %v, FailedLogins = %d", got.LockedUntil, got.FailedLogins)
		}
	})
}

func TestAuthenticateAfterAnExpiredLockAllowsAFullSetOfAttempts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := newClock()
		s := directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now, LockoutThreshold: 3, LockoutDuration: time.Minute,
			LockoutAddresses: 1})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		for range 3 {
			s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password")
		}
		clock.Advance(time.Minute)
		for range 2 {
			s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password")
		}
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("2 failures after an expired lock locked again: %v", err)
		}
		if n := events(t, d, "user.locked", "user:ali@mof.gov.sy"); n != 1 {
			t.Fatalf("%d user.locked events, want 1", n)
		}
	})
}

func TestAuthenticateNeverLocksWithANegativeThreshold(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := directory.New(d, directory.Options{HashParams: cheapParams, LockoutThreshold: -1})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		for range 12 {
			s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password")
		}
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("locked although lockout is off: %v", err)
		}
	})
}

// Every refusal is the same error and costs one password check, so that
// neither the answer nor its time tells which accounts exist; a locked
// account's refusal checks nothing and waits as long as a check instead
// (TestRefusalDuringALockTakesAsLongAsAWrongPassword).
func TestAuthenticateRefusalsAreIndistinguishable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := newClock()
		s := directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now, LockoutThreshold: 2, LockoutAddresses: 1})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		addUser(t, s, "dana@mof.gov.sy")
		addUser(t, s, "lina@mof.gov.sy")
		if err := s.Disable(ctx, actor, "dana@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			s.Authenticate(ctx, "lina@mof.gov.sy", "wrong password")
		}
		cases := []struct {
			name, login, password string
			checks                int64
		}{
			{"wrong password", "ali@mof.gov.sy", "wrong password", 1},
			{"unknown login", "omar@mof.gov.sy", password, 1},
			{"unknown domain", "ali@moh.gov.sy", password, 1},
			{"disabled with the right password", "dana@mof.gov.sy", password, 1},
			{"locked with the right password", "lina@mof.gov.sy", password, 0},
			{"malformed login", "not an address", password, 1},
			{"empty", "", "", 1},
		}
		for _, c := range cases {
			before := directory.HashChecksForTest(s)
			_, err := s.Authenticate(ctx, c.login, c.password)
			if err != directory.ErrInvalidCredentials {
				t.Errorf("%s: %v, want exactly ErrInvalidCredentials", c.name, err)
			}
			if n := directory.HashChecksForTest(s) - before; n != c.checks {
				t.Errorf("%s: %d password checks, want %d", c.name, n, c.checks)
			}
		}
		for target, reason := range map[string]string{
			"user:omar@mof.gov.sy": "unknown login", "user:dana@mof.gov.sy": "disabled", "user:lina@mof.gov.sy": "locked",
		} {
			if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.login_failed' AND target = ? AND details LIKE ?",
				target, `%"reason":"`+reason+`"%`); n != 1 {
				t.Errorf("%d user.login_failed events for %s with reason %q, want 1", n, target, reason)
			}
		}
		// The disabled account is accepted again once enabled.
		if err := s.Enable(ctx, actor, "dana@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "dana@mof.gov.sy", password); err != nil {
			t.Fatalf("enabled user refused: %v", err)
		}
	})
}

func TestAuthenticateRefusesADisabledUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		if err := s.Disable(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("disabled user = %v, want ErrInvalidCredentials", err)
		}
		// Attempts on a disabled account do not count towards a lockout.
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.FailedLogins != 0 {
			t.Fatalf("FailedLogins = %d", u.FailedLogins)
		}
	})
}

func TestAuthenticateRehashesAPasswordHashedWithOldParameters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		old := newService(d, nil)
		seed(t, old)
		addUser(t, old, "ali@mof.gov.sy")
		hashOf := func() string {
			var h string
			if err := d.Writer().Raw("SELECT password_hash FROM users WHERE login = 'ali@mof.gov.sy'").Scan(&h).Error; err != nil {
				t.Fatal(err)
			}
			return h
		}
		newer := &argon2id.Params{Memory: 128, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
		s := directory.New(d, directory.Options{HashParams: newer})
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password"); err == nil {
			t.Fatal("wrong password accepted")
		}
		before := hashOf()
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err != nil {
			t.Fatal(err)
		}
		p, _, _, err := argon2id.DecodeHash(hashOf())
		if err != nil || *p != *newer || hashOf() == before {
			t.Fatalf("hash parameters after login = %+v, %v; want %+v", p, err, newer)
		}
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("login with the rehashed password: %v", err)
		}
	})
}

func TestAuthenticateNormalisesPasswordsToNFC(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		if _, err := s.AddUser(ctx, actor, directory.NewUser{Address: "ali@mof.gov.sy", Name: "Ali", Roles: []string{"staff"},
			Password: "caf\u00e9-au-lait"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", "cafe\u0301-au-lait"); err != nil {
			t.Fatalf("decomposed spelling of the password refused: %v", err)
		}
	})
}

func TestAuthenticateGivesUpWhenTheContextEnds(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	s := directory.New(d, directory.Options{HashParams: cheapParams, MaxConcurrentHashes: 1})
	seed(t, s)
	addUser(t, s, "ali@mof.gov.sy")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err == nil || errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("Authenticate with a cancelled context = %v, want the context's error", err)
	}
}

// BenchmarkAuthenticate measures one login check with the production
// argon2id parameters (DefaultHashParams) on SQLite: the cost that SMTP
// AUTH, IMAP LOGIN and the web login pay per check. "ok" is a good
// password (no write); "unknown" is an unknown login (a dummy check and the
// audit event of the refusal). The figure is dominated by argon2id.
//
//	go test -run '^$' -bench Authenticate -benchtime 20x ./internal/directory/
func BenchmarkAuthenticate(b *testing.B) {
	d := dbtest.Open(b, db.SQLite)
	ctx := context.Background()
	s := directory.New(d, directory.Options{})
	if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Finance"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.AddDomain(ctx, actor, "mof.gov.sy", "MOF"); err != nil {
		b.Fatal(err)
	}
	if _, err := s.AddUser(ctx, actor, directory.NewUser{Address: "ali@mof.gov.sy", Name: "Ali", Roles: []string{"staff"}, Password: password}); err != nil {
		b.Fatal(err)
	}
	p := directory.DefaultHashParams
	b.Logf("argon2id m=%d KiB t=%d p=%d salt=%d key=%d", p.Memory, p.Iterations, p.Parallelism, p.SaltLength, p.KeyLength)
	b.Run("ok", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unknown", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Authenticate(ctx, "omar@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
				b.Fatal(err)
			}
		}
	})
}

// A password verified a moment ago is not checked in full again; a wrong
// one always is, and still counts; a changed password, a disabled or a
// locked account are seen at once; and the remembered password expires.
func TestVerifiedPasswordsAreRememberedOnlyAsLongAsTheyHold(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := newClock()
		s := directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now, LockoutThreshold: 2,
			AuthCacheTTL: 10 * time.Minute})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		login := func(pw string) (int64, error) {
			before := directory.HashChecksForTest(s)
			_, err := s.Authenticate(ctx, "ali@mof.gov.sy", pw)
			return directory.HashChecksForTest(s) - before, err
		}
		if n, err := login(password); err != nil || n != 1 {
			t.Fatalf("first login: %v, %d checks, want 1", err, n)
		}
		if n, err := login(password); err != nil || n != 0 {
			t.Fatalf("second login: %v, %d checks, want 0", err, n)
		}
		if n, err := login("wrong password"); err != directory.ErrInvalidCredentials || n != 1 {
			t.Fatalf("wrong password: %v, %d checks, want 1", err, n)
		}
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.FailedLogins != 1 {
			t.Fatalf("FailedLogins = %d, want 1", u.FailedLogins)
		}
		if n, err := login(password); err != nil || n != 0 {
			t.Fatalf("login after one failure: %v, %d checks", err, n)
		}
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.FailedLogins != 0 {
			t.Fatalf("a remembered login did not reset FailedLogins (%d)", u.FailedLogins)
		}

		// A new password: the old one fails at once, in full.
		const newPassword = "a brand new passphrase"
		if err := s.SetPassword(ctx, actor, "ali@mof.gov.sy", newPassword, false); err != nil {
			t.Fatal(err)
		}
		if n, err := login(password); err != directory.ErrInvalidCredentials || n != 1 {
			t.Fatalf("old password after change: %v, %d checks", err, n)
		}
		if n, err := login(newPassword); err != nil || n != 1 {
			t.Fatalf("new password: %v, %d checks", err, n)
		}
		// Disabled: refused although remembered.
		if err := s.Disable(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if _, err := login(newPassword); err != directory.ErrInvalidCredentials {
			t.Fatalf("disabled account: %v", err)
		}
		if err := s.Enable(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		// Locked: refused although remembered, until the lock expires.
		login("wrong password")
		login("wrong password")
		if _, err := login(newPassword); err != directory.ErrInvalidCredentials {
			t.Fatalf("locked account: %v", err)
		}
		clock.Advance(16 * time.Minute) // past the lock, and past the TTL
		if n, err := login(newPassword); err != nil || n != 1 {
			t.Fatalf("after the lock and the TTL: %v, %d checks, want a full check", err, n)
		}
	})
}

// Concurrent logins with one password may share one check; each still
// gets its own answer, and each wrong one counts.
func TestConcurrentLoginsEachCount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := directory.New(d, directory.Options{HashParams: cheapParams, LockoutThreshold: 100, AuthCacheTTL: time.Minute})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		const n = 8
		errs := make(chan error, 2*n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password")
				errs <- err
			})
		}
		wg.Wait()
		for range n {
			wg.Go(func() {
				_, err := s.Authenticate(ctx, "ali@mof.gov.sy", password)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		var refused, accepted int
		for err := range errs {
			switch err {
			case directory.ErrInvalidCredentials:
				refused++
			case nil:
				accepted++
			default:
				t.Fatal(err)
			}
		}
		if refused != n || accepted != n {
			t.Fatalf("%d refused, %d accepted; want %d each", refused, accepted, n)
		}
		if c := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.login_failed' AND target = 'user:ali@mof.gov.sy'"); c != n {
			t.Fatalf("%d failed logins recorded, want %d", c, n)
		}
	})
}
