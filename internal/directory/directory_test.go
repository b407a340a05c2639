package directory_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// cheapParams keep hashing out of the way where it is not the subject.
var cheapParams = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const (
	actor    = "cli:root"
	password = "correct horse battery"
)

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newService(d *db.DB, clock *fakeClock) *directory.Service {
	if clock == nil {
		clock = newClock()
	}
	return directory.New(d, directory.Options{HashParams: cheapParams, Now: clock.Now})
}

// seed adds the ministry MOF and its domain mof.gov.sy.
func seed(t *testing.T, s *directory.Service) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Ministry of Finance"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDomain(ctx, actor, "mof.gov.sy", "MOF"); err != nil {
		t.Fatal(err)
	}
}

func addUser(t *testing.T, s *directory.Service, address string, roles ...string) directory.User {
	t.Helper()
	if len(roles) == 0 {
		roles = []string{directory.RoleStaff}
	}
	u, err := s.AddUser(context.Background(), actor, directory.NewUser{
		Address: address, Name: "User " + address, Ministry: "MOF", Roles: roles, Password: password})
	if err != nil {
		t.Fatalf("AddUser(%s): %v", address, err)
	}
	return u
}

// events counts audit events of the action on the target.
func events(t *testing.T, d *db.DB, action, target string) int64 {
	t.Helper()
	var n int64
	if err := d.Writer().Raw("SELECT COUNT(*) FROM audit_events WHERE action = ? AND target = ?", action, target).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func count(t *testing.T, d *db.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.Writer().Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAddMinistryChecksItsCodeAndNames(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		m, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "moct", NameAR: " وزارة الاتصالات ", NameEN: "Communications"})
		if err != nil {
			t.Fatal(err)
		}
		if m.Code != "MOCT" || m.NameAR != "وزارة الاتصالات" {
			t.Fatalf("AddMinistry = %+v; want the code upper-cased and the names trimmed", m)
		}
		if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "MoCt", NameAR: "ب", NameEN: "B"}); !errors.Is(err, directory.ErrExists) {
			t.Fatalf("second MOCT: %v, want ErrExists", err)
		}
		bad := []struct {
			m     directory.Ministry
			field string
		}{
			{directory.Ministry{Code: "M", NameAR: "أ", NameEN: "A"}, "code"},
			{directory.Ministry{Code: "ABCDEFGHIJKLMNOPQ", NameAR: "أ", NameEN: "A"}, "code"},
			{directory.Ministry{Code: "MO F", NameAR: "أ", NameEN: "A"}, "code"},
			{directory.Ministry{Code: "-MOF", NameAR: "أ", NameEN: "A"}, "code"},
			{directory.Ministry{Code: "وزارة", NameAR: "أ", NameEN: "A"}, "code"},
			{directory.Ministry{Code: "", NameAR: "أ", NameEN: "A"}, "code"},
			{directory.Ministry{Code: "MOH", NameAR: "  ", NameEN: "A"}, "name_ar"},
			{directory.Ministry{Code: "MOH", NameAR: "أ", NameEN: ""}, "name_en"},
			{directory.Ministry{Code: "MOH", NameAR: "أ\x00", NameEN: "A"}, "name_ar"},
		}
		for _, b := range bad {
			_, err := s.AddMinistry(ctx, actor, b.m)
			wantInputError(t, err, b.field)
		}
		for _, ok := range []string{"MO", "MOF_2", "A-B", "1ST", "ABCDEFGHIJKLMNOP"} {
			if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: ok, NameAR: "أ", NameEN: "A"}); err != nil {
				t.Errorf("AddMinistry(%q): %v", ok, err)
			}
		}
		ms, err := s.Ministries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, m := range ms {
			codes = append(codes, m.Code)
		}
		if want := []string{"1ST", "A-B", "ABCDEFGHIJKLMNOP", "MO", "MOCT", "MOF_2"}; !slices.Equal(codes, want) {
			t.Fatalf("Ministries = %v, want %v", codes, want)
		}
		if n := events(t, d, "ministry.add", "ministry:MOCT"); n != 1 {
			t.Fatalf("%d ministry.add events for MOCT, want 1", n)
		}
		if _, err := s.Ministry(ctx, "nope"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("Ministry(NOPE) = %v, want ErrNotFound", err)
		}
	})
}

func TestAddDomainRefusesAnotherSpellingOfAHostedDomain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		arabic := "مالية.سوريا"
		dom, err := s.AddDomain(ctx, actor, arabic, "mof")
		if err != nil {
			t.Fatal(err)
		}
		if dom.Name != arabic || dom.ASCII != mustASCII(t, arabic) || dom.Ministry != "MOF" {
			t.Fatalf("AddDomain = %+v", dom)
		}
		for _, again := range []string{"MOF.GOV.SY", "mof.gov.sy.", "Mof.Gov.Sy", mustASCII(t, arabic), strings.ToUpper(mustASCII(t, arabic)) + "."} {
			_, err := s.AddDomain(ctx, actor, again, "MOF")
			if !errors.Is(err, directory.ErrExists) {
				t.Errorf("AddDomain(%q) = %v, want ErrExists", again, err)
			}
		}
		_, err = s.AddDomain(ctx, actor, "moh.gov.sy", "MOH")
		wantInputError(t, err, "ministry")
		_, err = s.AddDomain(ctx, actor, "bad domain..sy", "MOF")
		wantInputError(t, err, "domain")
		_, err = s.AddDomain(ctx, actor, "[::1]", "MOF")
		wantInputError(t, err, "domain")

		ds, err := s.Domains(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 || ds[0].Name != "mof.gov.sy" || ds[1].Name != arabic || ds[1].Ministry != "MOF" || ds[0].CreatedAt.IsZero() {
			t.Fatalf("Domains = %+v", ds)
		}
		got, err := s.Domain(ctx, mustASCII(t, arabic))
		if err != nil || got.Name != arabic {
			t.Fatalf("Domain(xn--) = %+v, %v", got, err)
		}
		if _, err := s.Domain(ctx, "moh.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("Domain(moh.gov.sy) = %v, want ErrNotFound", err)
		}
	})
}

func TestIsHostedComparesCanonically(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		for in, want := range map[string]bool{
			"mof.gov.sy": true, "MOF.GOV.SY.": true, "ｍｏｆ．ｇｏｖ．ｓｙ": true,
			"moh.gov.sy": false, "gov.sy": false, "mof.gov.sy.example.com": false,
			"bad domain..sy": false, "": false, "[::1]": false,
		} {
			got, err := s.IsHosted(ctx, in)
			if err != nil || got != want {
				t.Errorf("IsHosted(%q) = %v, %v; want %v", in, got, err, want)
			}
		}
	})
}

func TestChangeWritesItsAuditEventInTheSameTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		var got struct {
			Actor, Details string
		}
		if err := d.Writer().Raw("SELECT actor, details FROM audit_events WHERE action = 'domain.add' AND target = 'domain:mof.gov.sy'").Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got.Actor != actor || !strings.Contains(got.Details, `"ministry":"MOF"`) {
			t.Fatalf("domain.add event = %+v", got)
		}

		// A change that fails after its writes leaves neither row nor event.
		boom := errors.New("boom")
		directory.SetBeforeCommitForTest(s, func() error { return boom })
		if _, err := s.AddDomain(ctx, actor, "moh.gov.sy", "MOF"); !errors.Is(err, boom) {
			t.Fatalf("AddDomain with failing commit = %v", err)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM domains WHERE name = 'moh.gov.sy'"); n != 0 {
			t.Fatal("domain row survived the rollback")
		}
		if n := events(t, d, "domain.add", "domain:moh.gov.sy"); n != 0 {
			t.Fatal("audit event survived the rollback")
		}
	})
}

func TestFailedAddUserLeavesNeitherUserNorEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		nu := directory.NewUser{Address: "ali@mof.gov.sy", Name: "Ali", Ministry: "MOF", Roles: []string{"clerk"}, Password: password}

		boom := errors.New("boom")
		directory.SetBeforeCommitForTest(s, func() error { return boom })
		if _, err := s.AddUser(ctx, actor, nu); !errors.Is(err, boom) {
			t.Fatalf("AddUser with failing commit = %v", err)
		}
		directory.SetBeforeCommitForTest(s, nil)
		if n := count(t, d, "SELECT COUNT(*) FROM users"); n != 0 {
			t.Fatalf("%d users after the rollback", n)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM user_roles"); n != 0 {
			t.Fatalf("%d roles after the rollback", n)
		}
		if n := events(t, d, "user.add", "user:ali@mof.gov.sy"); n != 0 {
			t.Fatal("user.add event survived the rollback")
		}

		// Refused input writes nothing either.
		bad := nu
		bad.Roles = []string{"clerk", "king"}
		if _, err := s.AddUser(ctx, actor, bad); err == nil {
			t.Fatal("unknown role accepted")
		}
		if n := count(t, d, "SELECT COUNT(*) FROM audit_events WHERE action LIKE 'user.%'"); n != 0 {
			t.Fatalf("%d user events after refused input", n)
		}

		if _, err := s.AddUser(ctx, actor, nu); err != nil {
			t.Fatal(err)
		}
		if n := events(t, d, "user.add", "user:ali@mof.gov.sy"); n != 1 {
			t.Fatalf("%d user.add events, want 1", n)
		}
	})
}

func TestAddUserRefusesBadInputNamingTheField(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		good := directory.NewUser{Address: "ali@mof.gov.sy", Name: "Ali", Ministry: "MOF", Roles: []string{"staff"}, Password: password}
		tests := []struct {
			name  string
			edit  func(*directory.NewUser)
			field string
			msg   string
		}{
			{"domain not hosted", func(u *directory.NewUser) { u.Address = "ali@moh.gov.sy" }, "address", "not hosted"},
			{"not an address", func(u *directory.NewUser) { u.Address = "ali" }, "address", "no @"},
			{"bootstrap login", func(u *directory.NewUser) { u.Address = "admin" }, "address", "no @"},
			{"postmaster", func(u *directory.NewUser) { u.Address = "Postmaster@mof.gov.sy" }, "address", "reserved"},
			{"unknown ministry", func(u *directory.NewUser) { u.Ministry = "MOH" }, "ministry", "MOH"},
			{"bad ministry code", func(u *directory.NewUser) { u.Ministry = "x" }, "ministry", "2 to 16"},
			{"unknown role", func(u *directory.NewUser) { u.Roles = []string{"staff", "minister"} }, "role", "minister"},
			{"no role", func(u *directory.NewUser) { u.Roles = nil }, "role", "at least one role"},
			{"blank role", func(u *directory.NewUser) { u.Roles = []string{" "} }, "role", "not a role"},
			{"no name", func(u *directory.NewUser) { u.Name = " " }, "name", "required"},
			{"long name", func(u *directory.NewUser) { u.Name = strings.Repeat("ع", 201) }, "name", "limit is 200"},
			{"empty password", func(u *directory.NewUser) { u.Password = "" }, "password", "password must have at least 8 characters"},
			{"short password", func(u *directory.NewUser) { u.Password = "1234567" }, "password", "password must have at least 8 characters"},
			{"long password", func(u *directory.NewUser) { u.Password = strings.Repeat("x", 1025) }, "password", "at most 1024 bytes"},
			{"password not UTF-8", func(u *directory.NewUser) { u.Password = "12345678\xff" }, "password", "UTF-8"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				nu := good
				tt.edit(&nu)
				_, err := s.AddUser(ctx, actor, nu)
				ie := wantInputError(t, err, tt.field)
				if !strings.Contains(ie.Error(), tt.msg) {
					t.Fatalf("error %q does not say %q", ie.Error(), tt.msg)
				}
			})
		}
		if n := count(t, d, "SELECT COUNT(*) FROM users"); n != 0 {
			t.Fatalf("%d users after refused input", n)
		}
		// The limits themselves are fine: 8 characters (Arabic ones count
		// as one each) and 1024 bytes.
		for i, pw := range []string{"12345678", "كلمةسرية", strings.Repeat("x", 1024)} {
			nu := good
			nu.Address, nu.Password = fmt.Sprintf("u%d@mof.gov.sy", i), pw
			if _, err := s.AddUser(ctx, actor, nu); err != nil {
				t.Errorf("password of %d bytes: %v", len(pw), err)
			}
		}
	})
}

func TestAddUserRefusesAnotherSpellingOfAnExistingLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		u := addUser(t, s, "ali@mof.gov.sy", "clerk", "Staff", "clerk")
		if u.Login != "ali@mof.gov.sy" || u.Ministry != "MOF" || !slices.Equal(u.Roles, []string{"clerk", "staff"}) || u.ID == 0 {
			t.Fatalf("AddUser = %+v", u)
		}
		for _, again := range []string{"Ali@MOF.gov.sy", "ALI@mof.gov.sy.", "ali@ｍｏｆ．ｇｏｖ．ｓｙ"} {
			_, err := s.AddUser(ctx, actor, directory.NewUser{Address: again, Name: "Ali 2", Ministry: "MOF", Roles: []string{"staff"}, Password: password})
			if !errors.Is(err, directory.ErrExists) {
				t.Errorf("AddUser(%q) = %v, want ErrExists", again, err)
			}
		}
		if n := count(t, d, "SELECT COUNT(*) FROM users"); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
	})
}

func TestAddUserTakesTheDomainsMinistryWhenNoneIsGiven(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		if _, err := s.AddMinistry(ctx, actor, directory.Ministry{Code: "PMO", NameAR: "رئاسة مجلس الوزراء", NameEN: "Prime Minister's Office"}); err != nil {
			t.Fatal(err)
		}
		u, err := s.AddUser(ctx, actor, directory.NewUser{Address: "sara@mof.gov.sy", Name: "Sara", Roles: []string{"head"}, Password: password})
		if err != nil || u.Ministry != "MOF" {
			t.Fatalf("AddUser without ministry = %+v, %v; want ministry MOF", u, err)
		}
		u, err = s.AddUser(ctx, actor, directory.NewUser{Address: "omar@mof.gov.sy", Name: "Omar", Ministry: "pmo", Roles: []string{"head"}, Password: password})
		if err != nil || u.Ministry != "PMO" {
			t.Fatalf("AddUser with ministry PMO = %+v, %v", u, err)
		}
	})
}

func TestUsersListsSearchesAndPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		for _, a := range []string{"ali@mof.gov.sy", "alia@mof.gov.sy", "bashar@mof.gov.sy", "100%_x@mof.gov.sy"} {
			addUser(t, s, a)
		}
		if _, err := s.AddUser(ctx, actor, directory.NewUser{Address: "rana@mof.gov.sy", Name: "رنا الحسن", Roles: []string{"clerk", "admin"}, Password: password}); err != nil {
			t.Fatal(err)
		}
		logins := func(us []directory.User) []string {
			var out []string
			for _, u := range us {
				out = append(out, u.Login)
			}
			return out
		}
		all, err := s.Users(ctx, directory.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"100%_x@mof.gov.sy", "ali@mof.gov.sy", "alia@mof.gov.sy", "bashar@mof.gov.sy", "rana@mof.gov.sy"}; !slices.Equal(logins(all), want) {
			t.Fatalf("Users = %v, want %v", logins(all), want)
		}
		if r := all[4]; !slices.Equal(r.Roles, []string{"admin", "clerk"}) || r.Ministry != "MOF" || r.Name != "رنا الحسن" {
			t.Fatalf("rana = %+v", r)
		}
		for q, want := range map[string][]string{
			"ALI":    {"ali@mof.gov.sy", "alia@mof.gov.sy"},
			"الحسن":  {"rana@mof.gov.sy"},
			"%_":     {"100%_x@mof.gov.sy"}, // wildcards are literal
			"_":      {"100%_x@mof.gov.sy"},
			"nobody": nil,
		} {
			got, err := s.Users(ctx, directory.ListOptions{Query: q})
			if err != nil || !slices.Equal(logins(got), want) {
				t.Errorf("Users(%q) = %v, %v; want %v", q, logins(got), err, want)
			}
			n, err := s.CountUsers(ctx, q)
			if err != nil || n != int64(len(want)) {
				t.Errorf("CountUsers(%q) = %d, %v; want %d", q, n, err, len(want))
			}
		}
		page, err := s.Users(ctx, directory.ListOptions{Limit: 2, Offset: 2})
		if err != nil || !slices.Equal(logins(page), []string{"alia@mof.gov.sy", "bashar@mof.gov.sy"}) {
			t.Fatalf("page = %v, %v", logins(page), err)
		}
	})
}

func TestUserByLoginFindsAnySpelling(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy", "head")
		u, err := s.UserByLogin(ctx, "ALI@Mof.Gov.Sy.")
		if err != nil || u.Login != "ali@mof.gov.sy" || !u.HasRole("head") || u.HasRole("admin") {
			t.Fatalf("UserByLogin = %+v, %v", u, err)
		}
		if _, err := s.UserByLogin(ctx, "omar@mof.gov.sy"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("UserByLogin(unknown) = %v, want ErrNotFound", err)
		}
		_, err = s.UserByLogin(ctx, "not an address")
		wantInputError(t, err, "login")
	})
}

func TestAccountCareChangesAreAudited(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy")
		const target = "user:ali@mof.gov.sy"

		if err := s.SetQuota(ctx, actor, "Ali@mof.gov.sy", 2<<30); err != nil {
			t.Fatal(err)
		}
		if err := s.SetQuota(ctx, actor, "ali@mof.gov.sy", 2<<30); err != nil { // no change
			t.Fatal(err)
		}
		wantInputError(t, s.SetQuota(ctx, actor, "ali@mof.gov.sy", -1), "quota")
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.QuotaBytes != 2<<30 {
			t.Fatalf("quota = %d", u.QuotaBytes)
		}
		if n := events(t, d, "user.quota", target); n != 1 {
			t.Fatalf("%d user.quota events, want 1", n)
		}

		if err := s.Disable(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if err := s.Disable(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); !u.Disabled {
			t.Fatal("not disabled")
		}
		if err := s.Enable(ctx, actor, "ali@mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.UserByLogin(ctx, "ali@mof.gov.sy"); u.Disabled {
			t.Fatal("not enabled")
		}
		if a, b := events(t, d, "user.disable", target), events(t, d, "user.enable", target); a != 1 || b != 1 {
			t.Fatalf("%d user.disable and %d user.enable events, want 1 and 1", a, b)
		}

		wantInputError(t, s.SetPassword(ctx, actor, "ali@mof.gov.sy", "short", false), "password")
		if err := s.SetPassword(ctx, actor, "ali@mof.gov.sy", "a new long password", true); err != nil {
			t.Fatal(err)
		}
		if n := events(t, d, "user.passwd", target); n != 1 {
			t.Fatalf("%d user.passwd events, want 1", n)
		}
		u, err := s.Authenticate(ctx, "ali@mof.gov.sy", "a new long password")
		if err != nil || !u.MustChangePassword {
			t.Fatalf("Authenticate with the new password = %+v, %v; want MustChangePassword", u, err)
		}
		if _, err := s.Authenticate(ctx, "ali@mof.gov.sy", password); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("old password = %v, want ErrInvalidCredentials", err)
		}

		for _, err := range []error{
			s.SetQuota(ctx, actor, "omar@mof.gov.sy", 1),
			s.Disable(ctx, actor, "omar@mof.gov.sy"),
			s.Enable(ctx, actor, "omar@mof.gov.sy"),
			s.SetPassword(ctx, actor, "omar@mof.gov.sy", password, false),
		} {
			if !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("change of an unknown user = %v, want ErrNotFound", err)
			}
		}
	})
}

func TestDisableRefusesTheLastEnabledAdministrator(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		if _, _, err := s.EnsureBootstrapAdmin(ctx, password); err != nil {
			t.Fatal(err)
		}
		seed(t, s)
		wantInputError(t, s.Disable(ctx, actor, "admin"), "login")
		addUser(t, s, "rana@mof.gov.sy", "admin")
		if err := s.Disable(ctx, actor, "admin"); err != nil {
			t.Fatalf("Disable(admin) with another admin: %v", err)
		}
		wantInputError(t, s.Disable(ctx, actor, "rana@mof.gov.sy"), "login")
	})
}

func TestEnsureBootstrapAdminCreatesOnceOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		created, generated, err := s.EnsureBootstrapAdmin(ctx, "")
		if err != nil || !created || len(generated) < 16 {
			t.Fatalf("EnsureBootstrapAdmin = %v, %q, %v; want created with a generated password", created, generated, err)
		}
		u, err := s.Authenticate(ctx, "admin", generated)
		if err != nil {
			t.Fatalf("Authenticate(admin, generated): %v", err)
		}
		if u.Login != "admin" || u.Ministry != "" || !slices.Equal(u.Roles, []string{"admin"}) || !u.MustChangePassword {
			t.Fatalf("bootstrap admin = %+v", u)
		}
		if n := events(t, d, "user.add", "user:admin"); n != 1 {
			t.Fatalf("%d user.add events for admin, want 1", n)
		}
		for range 2 {
			created, generated, err = s.EnsureBootstrapAdmin(ctx, "")
			if err != nil || created || generated != "" {
				t.Fatalf("second EnsureBootstrapAdmin = %v, %q, %v; want nothing done", created, generated, err)
			}
		}
		if n := count(t, d, "SELECT COUNT(*) FROM users"); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
	})
}

func TestEnsureBootstrapAdminUsesTheGivenPassword(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		_, _, err := s.EnsureBootstrapAdmin(ctx, "short")
		wantInputError(t, err, "password")
		created, generated, err := s.EnsureBootstrapAdmin(ctx, password)
		if err != nil || !created || generated != "" {
			t.Fatalf("EnsureBootstrapAdmin(password) = %v, %q, %v", created, generated, err)
		}
		u, err := s.Authenticate(ctx, "ADMIN", password)
		if err != nil || u.MustChangePassword {
			t.Fatalf("Authenticate = %+v, %v; want no forced change for a given password", u, err)
		}
	})
}

func TestEnsureBootstrapAdminLeavesAPopulatedDirectoryAlone(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newService(d, nil)
		seed(t, s)
		addUser(t, s, "ali@mof.gov.sy", "admin")
		created, _, err := s.EnsureBootstrapAdmin(context.Background(), "")
		if err != nil || created {
			t.Fatalf("EnsureBootstrapAdmin with users = %v, %v; want nothing done", created, err)
		}
	})
}

func TestEnsureBootstrapAdminConcurrentlyCreatesOne(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		createdN := 0
		for range 4 {
			wg.Go(func() {
				s := newService(d, nil) // one per node
				created, _, err := s.EnsureBootstrapAdmin(context.Background(), password)
				if err != nil {
					t.Error(err)
				}
				if created {
					mu.Lock()
					createdN++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if createdN != 1 || count(t, d, "SELECT COUNT(*) FROM users") != 1 {
			t.Fatalf("%d nodes created the administrator, want 1", createdN)
		}
	})
}

// Quota answers the mail store: each known user's quota as set a moment
// ago (0 unlimited), and nothing for an ID that names no user.
func TestQuotaGivesKnownUsersTheirCurrentQuota(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(d, nil)
		seed(t, s)
		ali := addUser(t, s, "ali@mof.gov.sy")
		sara := addUser(t, s, "sara@mof.gov.sy")
		if err := s.SetQuota(ctx, actor, "ali@mof.gov.sy", 5000); err != nil {
			t.Fatal(err)
		}
		got, err := s.Quota(ctx, []int64{ali.ID, sara.ID, sara.ID + 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[ali.ID] != 5000 || got[sara.ID] != 0 {
			t.Fatalf("Quota = %v, want ali 5000, sara 0 and no third", got)
		}
		if err := s.SetQuota(ctx, actor, "ali@mof.gov.sy", 7000); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Quota(ctx, []int64{ali.ID}); err != nil || got[ali.ID] != 7000 {
			t.Fatalf("Quota after a change = %v, %v; want 7000", got, err)
		}
	})
}
