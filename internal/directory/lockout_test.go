package directory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
)

// from is a context whose logins come from the client address ip.
func from(proto, ip string) context.Context {
	return directory.WithClient(context.Background(), proto+":"+ip)
}

const (
	attackerIP = "203.0.113.66"
	ownerIP    = "198.51.100.7"
)

func wrong(t *testing.T, s *directory.Service, ctx context.Context, login string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.Authenticate(ctx, login, "wrong password"); err != directory.ErrInvalidCredentials {
			t.Fatalf("wrong password %d for %s = %v", i+1, login, err)
		}
	}
}

// checks runs fn and returns how many password checks it made.
func checks(s *directory.Service, fn func()) int64 {
	before := directory.HashChecksForTest(s)
	fn()
	return directory.HashChecksForTest(s) - before
}

// Five wrong passwords from one address refuse that address for the
// account, before any check, and nobody else: the owner, from another
// address, still logs in, and so does the administrator.
func TestWrongLoginsFromOneAddressDoNotLockTheOwnerOut(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		clock := newClock()
		s := directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now}) // 5 failures, 10 addresses
		if created, _, err := s.EnsureBootstrapAdmin(context.Background(), password); err != nil || !created {
			t.Fatal(created, err)
		}
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		attacker, owner := from("imap", attackerIP), from("http", ownerIP)
		for _, login := range []string{"ali@mof.gov.sy", directory.BootstrapLogin} {
			wrong(t, s, attacker, login, 5)
			if n := events(t, d, "user.address_locked", "user:"+login); n != 1 {
				t.Fatalf("%s: %d user.address_locked events, want 1", login, n)
			}
			// The attacker's address is refused even with the right
			// password, and nothing is checked.
			if n := checks(s, func() {
				if _, err := s.Authenticate(attacker, login, password); err != directory.ErrInvalidCredentials {
					t.Fatalf("%s: right password from the refused address = %v", login, err)
				}
			}); n != 0 {
				t.Fatalf("%s: %d password checks for a refused address, want 0", login, n)
			}
			// The owner is not.
			u, err := s.Authenticate(owner, login, password)
			if err != nil {
				t.Fatalf("%s: owner from another address refused: %v", login, err)
			}
			if u.Locked(clock.Now()) {
				t.Fatalf("%s: account locked by one address until %v", login, u.LockedUntil)
			}
			// The owner's success does not lift the attacker's refusal.
			if _, err := s.Authenticate(attacker, login, password); err != directory.ErrInvalidCredentials {
				t.Fatalf("%s: right password from the refused address after the owner's login = %v", login, err)
			}
		}
		if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.locked'"); n != 0 {
			t.Fatalf("%d user.locked events, want 0", n)
		}
		// The refusal ends with LockoutDuration.
		clock.Advance(15 * time.Minute)
		if _, err := s.Authenticate(attacker, "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("right password after the address's refusal ended: %v", err)
		}
	})
}

// Failures from IPv6 addresses count by /64: a new address in the same
// network does not start afresh.
func TestIPv6AddressesOfOneNetworkCountTogether(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := directory.New(d, directory.Options{HashParams: cheapParams, LockoutThreshold: 3})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"} {
			wrong(t, s, from("smtp", ip), "ali@mof.gov.sy", 1)
		}
		if _, err := s.Authenticate(from("smtp", "2001:db8:1:2::9"), "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
			t.Fatalf("another address of the refused /64 = %v", err)
		}
		if _, err := s.Authenticate(from("smtp", "2001:db8:1:3::1"), "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("an address of another /64 refused: %v", err)
		}
	})
}

// An address that fails AddressMaxFailures times, on any accounts, is
// refused before its login is even read: no password check, and far
// quicker than one with the production parameters. Other addresses are
// not affected.
func TestAnAddressThatFailsTooOftenIsRefusedBeforeHashing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		// Production argon2id parameters: the refusal is compared with a
		// real check. No delay, to time the refusal's own work.
		s := directory.New(d, directory.Options{AddressMaxFailures: 4, ThrottleDelay: -1})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		attacker := from("http", attackerIP)
		var check time.Duration
		for i, login := range []string{"omar@mof.gov.sy", "sara@mof.gov.sy", "ali@mof.gov.sy", "ali@mof.gov.sy"} {
			start := time.Now()
			if _, err := s.Authenticate(attacker, login, "wrong password"); err != directory.ErrInvalidCredentials {
				t.Fatalf("failure %d = %v", i+1, err)
			}
			check = time.Since(start)
		}
		var refusal time.Duration
		if n := checks(s, func() {
			start := time.Now()
			if _, err := s.Authenticate(attacker, "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
				t.Fatalf("right password from a throttled address = %v", err)
			}
			refusal = time.Since(start)
		}); n != 0 {
			t.Fatalf("%d password checks for a throttled address, want 0", n)
		}
		t.Logf("a wrong password took %v, the refusal of the throttled address %v", check, refusal)
		if refusal*10 > check {
			t.Fatalf("the refusal took %v, not far less than a check (%v)", refusal, check)
		}
		if _, err := s.Authenticate(from("http", ownerIP), "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("another address refused: %v", err)
		}
		if n := events(t, d, "user.login_failed", "address:"+attackerIP); n != 1 {
			t.Fatalf("%d events for the throttled address, want 1", n)
		}
	})
}

// Logins under way are not failures: many clients behind one address (an
// office's NAT, a mail client's connections) log in side by side, more of
// them at once than AddressMaxFailures, and none is refused or queued.
func TestConcurrentGoodLoginsFromOneAddressAreNotThrottled(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := directory.New(d, directory.Options{HashParams: cheapParams, AddressMaxFailures: 4})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		office := from("imap", ownerIP)
		const n = 24
		errs := make(chan error, n)
		start := make(chan struct{})
		for range n {
			go func() {
				<-start
				_, err := s.Authenticate(office, "ali@mof.gov.sy", password)
				errs <- err
			}()
		}
		close(start)
		for i := range n {
			if err := <-errs; err != nil {
				t.Fatalf("login %d of %d side by side from one address: %v", i+1, n, err)
			}
		}
	})
}

// From half of AddressMaxFailures on, an address's answers are delayed,
// growing to ThrottleDelay, and so are its refusals; a delay holds no
// check, and another address meanwhile is answered at once.
func TestAnAddressIsSlowedBeforeItIsRefused(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	const delay = 400 * time.Millisecond
	s := directory.New(d, directory.Options{HashParams: cheapParams, AddressMaxFailures: 4, ThrottleDelay: delay})
	seed(t, s)
	addUser(t, s, "ali@mof.gov.sy")
	attacker := from("imap", attackerIP)
	timed := func(ctx context.Context, pw string) time.Duration {
		start := time.Now()
		s.Authenticate(ctx, "ali@mof.gov.sy", pw)
		return time.Since(start)
	}
	for i := range 2 {
		if took := timed(attacker, "wrong password"); took >= delay/2 {
			t.Fatalf("failure %d took %v: slowed before half of the bound", i+1, took)
		}
	}
	// The third and fourth: delay/2 and delay. Meanwhile the owner, from
	// another address, is answered without waiting.
	done := make(chan time.Duration)
	go func() { done <- timed(attacker, "wrong password") }()
	owner := timed(from("imap", ownerIP), password)
	third := <-done
	if third < delay/2 || third >= delay {
		t.Fatalf("the third failure took %v, want [%v, %v)", third, delay/2, delay)
	}
	if owner >= delay/4 {
		t.Fatalf("another address took %v while the slowed one waited", owner)
	}
	if took := timed(attacker, "wrong password"); took < delay {
		t.Fatalf("the fourth failure took %v, want at least %v", took, delay)
	}
	var refused time.Duration
	if n := checks(s, func() { refused = timed(attacker, password) }); n != 0 || refused < delay || refused > 3*delay {
		t.Fatalf("the refusal took %v with %d checks, want about %v and none", refused, n, delay)
	}
}

// An account locks for everyone only when LockoutAddresses addresses have
// each reached the threshold; Unlock lifts the lock and every address's
// count, and says so in the audit log.
func TestAccountLocksForEveryoneOnlyAfterManyAddressesAndUnlockLiftsIt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		clock := newClock()
		s := directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now, LockoutThreshold: 2, LockoutAddresses: 3})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		owner := from("http", ownerIP)
		ctx := context.Background()
		for _, ip := range []string{"203.0.113.1", "203.0.113.2"} {
			wrong(t, s, from("imap", ip), "ali@mof.gov.sy", 2)
		}
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.Locked(clock.Now()) {
			t.Fatal("locked after two addresses of three")
		}
		wrong(t, s, from("smtp", "203.0.113.3"), "ali@mof.gov.sy", 2)
		u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy")
		if !u.Locked(clock.Now()) || !u.LockedUntil.Equal(clock.Now().Add(15*time.Minute)) {
			t.Fatalf("after three addresses LockedUntil = %v", u.LockedUntil)
		}
		if n := count(t, d, `SELECT COUNT(*) FROM audit_events WHERE action = 'user.locked' AND details LIKE '%"addresses":3%'`); n != 1 {
			t.Fatalf("%d user.locked events naming 3 addresses, want 1", n)
		}
		// Everyone is refused now, the owner included, without a check.
		if n := checks(s, func() {
			if _, err := s.Authenticate(owner, "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
				t.Fatalf("owner during the lock = %v", err)
			}
		}); n != 0 {
			t.Fatalf("%d checks during the lock, want 0", n)
		}
		// The lock is shown in the list of users.
		us, err := s.Users(ctx, directory.ListOptions{Query: "ali"})
		if err != nil || len(us) != 1 || !us[0].Locked(clock.Now()) {
			t.Fatalf("Users = %+v, %v; want ali locked", us, err)
		}

		if err := s.Unlock(ctx, actor, "ALI@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if n := count(t, d, `SELECT COUNT(*) FROM audit_events WHERE action = 'user.unlock' AND actor = ? AND target = 'user:ali@mof.gov.sy'
			AND details LIKE '%"refused_addresses":3%'`, actor); n != 1 {
			t.Fatalf("%d user.unlock events, want 1", n)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM login_failures"); n != 0 {
			t.Fatalf("%d login_failures rows after unlock, want 0", n)
		}
		if _, err := s.Authenticate(owner, "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("owner after unlock: %v", err)
		}
		// The addresses' counts are lifted too: one failure more does not
		// refuse an address again.
		wrong(t, s, from("imap", "203.0.113.1"), "ali@mof.gov.sy", 1)
		if _, err := s.Authenticate(from("imap", "203.0.113.1"), "ali@mof.gov.sy", password); err != nil {
			t.Fatalf("address after unlock: %v", err)
		}
		// Nothing to lift: no event.
		if err := s.Unlock(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if n := events(t, d, "user.unlock", "user:ali@mof.gov.sy"); n != 1 {
			t.Fatalf("%d user.unlock events after a second unlock, want 1", n)
		}
		if err := s.Unlock(ctx, actor, "nobody@mof.gov.sy"); err == nil {
			t.Fatal("unlock of an unknown user succeeded")
		}
	})
}

// With LockoutAddresses 0 in the configuration (negative here), no number
// of addresses locks an account.
func TestAccountNeverLocksWhenLockoutAddressesIsOff(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	s := directory.New(d, directory.Options{HashParams: cheapParams, LockoutThreshold: 1, LockoutAddresses: -1})
	seed(t, s)
	addUser(t, s, "ali@mof.gov.sy")
	for _, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"} {
		wrong(t, s, from("imap", ip), "ali@mof.gov.sy", 1)
	}
	if _, err := s.Authenticate(from("imap", ownerIP), "ali@mof.gov.sy", password); err != nil {
		t.Fatalf("locked although lockout_addresses is off: %v", err)
	}
}

// Two nodes on one database: an address refused for an account on one is
// refused on the other, and the account's lock holds on both.
func TestLockoutHoldsAcrossNodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		o := directory.Options{HashParams: cheapParams, LockoutThreshold: 2, LockoutAddresses: 2}
		a, b := directory.New(d, o), directory.New(d, o)
		seed(t, a)
		addUser(t, a, "ali@mof.gov.sy")
		wrong(t, a, from("imap", "203.0.113.1"), "ali@mof.gov.sy", 2)
		if n := checks(b, func() {
			if _, err := b.Authenticate(from("imap", "203.0.113.1"), "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
				t.Fatalf("the other node let the refused address in: %v", err)
			}
		}); n != 0 {
			t.Fatalf("the other node checked the refused address's password (%d)", n)
		}
		wrong(t, b, from("imap", "203.0.113.2"), "ali@mof.gov.sy", 2)
		if _, err := a.Authenticate(from("imap", ownerIP), "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
			t.Fatalf("the account locked on one node is open on the other: %v", err)
		}
	})
}

// A flood of refusals that need no check adds one audit event per client,
// target and reason, not one per attempt.
func TestRefusalsOfAFloodAreSummedInTheAuditLog(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := directory.New(d, directory.Options{HashParams: cheapParams, LockoutThreshold: 2, AddressMaxFailures: 50, ThrottleDelay: -1})
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		attacker := from("imap", attackerIP)
		wrong(t, s, attacker, "ali@mof.gov.sy", 2)
		before := count(t, d, "SELECT COUNT(*) FROM audit_events")
		// 48 refusals for the address's lock on the account, then the
		// address is throttled: 200 more.
		for range 248 {
			if _, err := s.Authenticate(attacker, "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
				t.Fatalf("refused address = %v", err)
			}
		}
		if n := count(t, d, "SELECT COUNT(*) FROM audit_events") - before; n != 2 {
			t.Fatalf("%d audit events for 248 refusals, want 2 (one per reason)", n)
		}
		for target, reason := range map[string]string{"user:ali@mof.gov.sy": "address locked", "address:" + attackerIP: "address throttled"} {
			if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.login_failed' AND target = ? AND details LIKE ?",
				target, `%"reason":"`+reason+`"%`); n != 1 {
				t.Errorf("%d events for %s with reason %q, want 1", n, target, reason)
			}
		}
	})
}

// A refusal during a lock checks no password but answers after as long as
// a wrong password does, so its time does not tell the lock apart.
func TestRefusalDuringALockTakesAsLongAsAWrongPassword(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	s := directory.New(d, directory.Options{LockoutAddresses: 1}) // production argon2id parameters
	seed(t, s)
	addUser(t, s, "ali@mof.gov.sy")
	addUser(t, s, "sara@mof.gov.sy")
	attacker := from("imap", attackerIP)
	wrong(t, s, attacker, "ali@mof.gov.sy", 5)
	var wrongTook, lockedTook time.Duration
	for range 3 {
		start := time.Now()
		s.Authenticate(attacker, "sara@mof.gov.sy", "wrong password")
		wrongTook += time.Since(start)
		start = time.Now()
		if n := checks(s, func() { s.Authenticate(from("imap", ownerIP), "ali@mof.gov.sy", password) }); n != 0 {
			t.Fatalf("%d checks during the lock", n)
		}
		lockedTook += time.Since(start)
	}
	t.Logf("wrong password %v, locked %v (3 each)", wrongTook/3, lockedTook/3)
	if lockedTook < wrongTook/2 || lockedTook > wrongTook*2 {
		t.Fatalf("a locked account's refusal took %v, a wrong password %v: not alike", lockedTook/3, wrongTook/3)
	}
}

// BenchmarkThrottledRefusal compares the refusal of a throttled address
// (counted in memory, answered before any read) with a wrong password
// whose check is made cheap, so that what remains is the cost of counting
// the failure in the database: what counting every attempt of a flood in
// the database would cost.
//
//	go test -run '^$' -bench ThrottledRefusal -benchtime 2000x ./internal/directory/
func BenchmarkThrottledRefusal(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver, func(b *testing.B) { benchmarkThrottledRefusal(b, dbtest.Open(b, driver)) })
	}
}

func benchmarkThrottledRefusal(b *testing.B, d *db.DB) {
	{
		s := directory.New(d, directory.Options{HashParams: cheapParams, LockoutThreshold: -1, AddressMaxFailures: 1, ThrottleDelay: -1})
		ctx := context.Background()
		if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Finance"}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.AddDomain(ctx, actor, "mof.gov.sy", "MOF"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.AddUser(ctx, actor, directory.NewUser{Address: "ali@mof.gov.sy", Name: "Ali", Roles: []string{"staff"}, Password: password}); err != nil {
			b.Fatal(err)
		}
		b.Run("throttled", func(b *testing.B) {
			attacker := from("imap", attackerIP)
			s.Authenticate(attacker, "ali@mof.gov.sy", "wrong password")
			for b.Loop() {
				if _, err := s.Authenticate(attacker, "ali@mof.gov.sy", password); err != directory.ErrInvalidCredentials {
					b.Fatal(err)
				}
			}
		})
		b.Run("counted-in-db", func(b *testing.B) {
			i := 0
			for b.Loop() {
				// A new address each time: never throttled, every failure
				// written.
				i++
				ctx := from("imap", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", "wrong password"); err != directory.ErrInvalidCredentials {
					b.Fatal(err)
				}
			}
		})
	}
}
