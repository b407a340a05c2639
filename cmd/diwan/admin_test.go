package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
)

// adminInstance is an instance with ministry MOF and domain mof.gov.sy.
func adminInstance(t *testing.T) *instance {
	t.Helper()
	in := newInstance(t, "")
	in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
	in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
	return in
}

func TestAdminDirectoryCommands(t *testing.T) {
	in := adminInstance(t)
	if out := in.ok("", "admin", "ministry", "list"); !strings.Contains(out, "MOF") || !strings.Contains(out, "وزارة المالية") {
		t.Fatalf("ministry list:\n%s", out)
	}
	// An Arabic IDN domain, given in its ACE form, is stored in Unicode.
	in.ok("", "admin", "domain", "add", "xn--mgbaam7a8h.xn--ogbpf8fl", "--ministry", "MOF")
	out := in.ok("", "admin", "domain", "list")
	if !strings.Contains(out, "mof.gov.sy") || !strings.Contains(out, "امارات.سورية") && !strings.Contains(out, "xn--mgbaam7a8h.xn--ogbpf8fl") {
		t.Fatalf("domain list:\n%s", out)
	}

	out = in.ok("correct horse battery\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "clerk,staff", "--password-stdin")
	if !strings.Contains(out, "added user ali@mof.gov.sy") || strings.Contains(out, "password") {
		t.Fatalf("user add with --password-stdin:\n%s", out)
	}
	out = in.ok("", "admin", "user", "add", "sara@MOF.GOV.SY", "--name", "Sara", "--ministry", "MOF", "--role", "head")
	if m := regexp.MustCompile(`password: (\S{16,})`).FindStringSubmatch(out); m == nil {
		t.Fatalf("generated password not printed (16+ characters):\n%s", out)
	}
	out = in.ok("", "admin", "user", "list")
	for _, want := range []string{"ali@mof.gov.sy", "clerk,staff", "sara@mof.gov.sy", "must-change-password"} {
		if !strings.Contains(out, want) {
			t.Fatalf("user list lacks %q:\n%s", want, out)
		}
	}
	in.ok("another good password\r\n", "admin", "user", "passwd", "ali@mof.gov.sy", "--password-stdin")
	in.ok("", "admin", "user", "disable", "ali@mof.gov.sy")
	if out := in.ok("", "admin", "user", "list"); !regexp.MustCompile(`ali@mof.gov.sy.*disabled`).MatchString(out) {
		t.Fatalf("disabled user not shown disabled:\n%s", out)
	}

	// --config before or after the subcommand, overriding $DIWAN_CONFIG.
	other := &instance{t: t, config: filepath.Join(t.TempDir(), "missing.yaml")}
	other.env = nil
	cmdBefore := []string{"admin", "--config", in.config, "ministry", "list"}
	cmdAfter := []string{"admin", "ministry", "list", "--config", in.config}
	for _, args := range [][]string{cmdBefore, cmdAfter} {
		if out := other.ok("", args...); !strings.Contains(out, "MOF") {
			t.Fatalf("diwan %v:\n%s", args, out)
		}
	}

	out = in.ok("", "admin", "audit", "verify")
	if !regexp.MustCompile(`^ok \d+ events \(0 waiting\)\n$`).MatchString(out) {
		t.Fatalf("audit verify: %q", out)
	}
	var n int
	if _, err := fmt.Sscanf(out, "ok %d events", &n); err != nil || n < 7 {
		t.Fatalf("audit verify counts %d events, want every change above (>= 7): %q", n, out)
	}
}

func TestAdminRefusesBadInputAndChangesNothing(t *testing.T) {
	in := adminInstance(t)
	in.ok("correct horse battery\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "clerk", "--password-stdin")
	before := in.ok("", "admin", "audit", "verify")

	cases := []struct {
		name, want, stdin string
		args              []string
	}{
		{"domain with space and empty label", "domain", "", []string{"admin", "domain", "add", "bad domain..sy", "--ministry", "MOF"}},
		{"domain with a 300-character label", "label", "", []string{"admin", "domain", "add", strings.Repeat("a", 300) + ".gov.sy", "--ministry", "MOF"}},
		{"IP address as domain", "domain", "", []string{"admin", "domain", "add", "192.168.1.1", "--ministry", "MOF"}},
		{"hosted domain in another spelling", "exists", "", []string{"admin", "domain", "add", "MOF.GOV.SY.", "--ministry", "MOF"}},
		{"domain for unknown ministry", "ministry", "", []string{"admin", "domain", "add", "moh.gov.sy", "--ministry", "NOPE"}},
		{"user on a domain not hosted", "hosted", "long enough password\n", []string{"admin", "user", "add", "x@gmail.com", "--name", "X", "--ministry", "MOF", "--role", "staff", "--password-stdin"}},
		{"duplicate user in another case", "exists", "long enough password\n", []string{"admin", "user", "add", "ALI@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "staff", "--password-stdin"}},
		{"user of unknown ministry", "ministry", "long enough password\n", []string{"admin", "user", "add", "b@mof.gov.sy", "--name", "B", "--ministry", "NOPE", "--role", "staff", "--password-stdin"}},
		{"user with unknown role", "role", "long enough password\n", []string{"admin", "user", "add", "b@mof.gov.sy", "--name", "B", "--ministry", "MOF", "--role", "king", "--password-stdin"}},
		{"empty password", "password", "\n", []string{"admin", "user", "add", "b@mof.gov.sy", "--name", "B", "--ministry", "MOF", "--role", "staff", "--password-stdin"}},
		{"no password at all", "password", "", []string{"admin", "user", "add", "b@mof.gov.sy", "--name", "B", "--ministry", "MOF", "--role", "staff", "--password-stdin"}},
		{"3-character password", "password", "abc\n", []string{"admin", "user", "add", "b@mof.gov.sy", "--name", "B", "--ministry", "MOF", "--role", "staff", "--password-stdin"}},
		{"passwd of unknown user", "not found", "long enough password\n", []string{"admin", "user", "passwd", "nobody@mof.gov.sy", "--password-stdin"}},
		{"unknown subcommand", "unknown command", "", []string{"admin", "frobnicate"}},
		{"missing argument", "arg", "", []string{"admin", "domain", "add"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in.t = t
			in.fails(c.want, c.stdin, c.args...)
		})
	}
	in.t = t
	if after := in.ok("", "admin", "audit", "verify"); after != before {
		t.Fatalf("refused commands changed the audit log: %q → %q", before, after)
	}
	if out := in.ok("", "admin", "user", "list"); strings.Contains(out, "b@mof.gov.sy") || strings.Contains(out, "x@gmail.com") {
		t.Fatalf("a refused user exists:\n%s", out)
	}
}

func TestAuditVerifyCatchesAnEditedEvent(t *testing.T) {
	in := adminInstance(t)
	in.ok("", "admin", "audit", "verify")

	d, err := db.Open(context.Background(), db.Options{Driver: db.SQLite, DSN: filepath.Join(in.dir, "diwan.db")})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := d.Writer().Raw("SELECT id FROM audit_events WHERE action = 'domain.add'").Row().Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := d.Writer().Exec("UPDATE audit_events SET actor = 'cli:mallory' WHERE id = ?", id).Error; err != nil {
		t.Fatal(err)
	}
	d.Close()

	_, errOut, code := in.run("", "admin", "audit", "verify")
	if code != 1 {
		t.Fatalf("audit verify of an edited chain: exit %d, want 1 (%s)", code, errOut)
	}
	if !strings.Contains(errOut, "event "+strconv.FormatInt(id, 10)) {
		t.Fatalf("audit verify does not name event %d: %s", id, errOut)
	}
}

func TestAuditVerifyReportsDeletedNewestEvents(t *testing.T) {
	in := adminInstance(t)
	out := in.ok("", "admin", "audit", "verify")
	var n int
	if _, err := fmt.Sscanf(out, "ok %d events", &n); err != nil || n < 2 {
		t.Fatalf("audit verify: %q", out)
	}
	if st, err := os.Stat(filepath.Join(in.dir, "audit-head")); err != nil || st.Mode().Perm()&0o022 != 0 {
		t.Fatalf("recorded head under data_dir: %v, %v", st, err)
	}

	d, err := db.Open(context.Background(), db.Options{Driver: db.SQLite, DSN: filepath.Join(in.dir, "diwan.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Writer().Exec("DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)").Error; err != nil {
		t.Fatal(err)
	}
	d.Close()

	want := fmt.Sprintf("chain ends at seq %d but the recorded head is seq %d", n-1, n)
	in.fails(want, "", "admin", "audit", "verify")
	in.fails("1 event missing at the end", "", "admin", "audit", "verify")
}

func TestMasterKeyFileReadableByOthersIsRefused(t *testing.T) {
	in := adminInstance(t)
	key := filepath.Join(in.dir, "master.key")
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("generated master key: %v, %v", st, err)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	in.fails(key+": mode 0644 lets group or others read it", "", "admin", "ministry", "list")
}

// "user list" shows a locked account and until when; "user unlock" lifts
// the lock and the addresses' counts, and is audited. The logins that lock
// the account go through the directory of a configured instance, as a
// server's would: from lockout_addresses distinct client addresses.
func TestAdminUserUnlockLiftsALockShownInUserList(t *testing.T) {
	in := newInstance(t, "auth: {lockout_threshold: 2, lockout_addresses: 2}\n")
	in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
	in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
	in.ok("correct horse battery\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "staff", "--password-stdin")

	ctx := context.Background()
	cfg, err := app.LoadConfig(in.config, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler), false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	login := func(ip, pw string) error {
		_, err := e.Directory.Authenticate(directory.WithClient(ctx, "imap:"+ip), "ali@mof.gov.sy", pw)
		return err
	}
	for _, ip := range []string{"203.0.113.1", "203.0.113.2"} {
		for range 2 {
			if err := login(ip, "wrong password"); err != directory.ErrInvalidCredentials {
				t.Fatalf("wrong password from %s = %v", ip, err)
			}
		}
	}
	if err := login("198.51.100.7", "correct horse battery"); err != directory.ErrInvalidCredentials {
		t.Fatalf("owner during the lock = %v", err)
	}
	e.Close()

	out := in.ok("", "admin", "user", "list")
	if !regexp.MustCompile(`ali@mof.gov.sy.*locked-until 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ`).MatchString(out) {
		t.Fatalf("user list does not show the lock:\n%s", out)
	}
	if out := in.ok("", "admin", "user", "unlock", "ALI@mof.gov.sy"); !strings.Contains(out, "unlocked") {
		t.Fatalf("user unlock: %q", out)
	}
	if out := in.ok("", "admin", "user", "list"); strings.Contains(out, "locked") {
		t.Fatalf("user list after unlock:\n%s", out)
	}
	in.fails("not found", "", "admin", "user", "unlock", "nobody@mof.gov.sy")

	e, err = app.Open(ctx, cfg, slog.New(slog.DiscardHandler), false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := login("198.51.100.7", "correct horse battery"); err != nil {
		t.Fatalf("owner after unlock: %v", err)
	}
	if err := login("203.0.113.1", "correct horse battery"); err != nil {
		t.Fatalf("an address refused before the unlock, after it: %v", err)
	}
	var n int64
	if err := e.DB.Writer().Raw("SELECT COUNT(*) FROM audit_events WHERE action = 'user.unlock' AND target = 'user:ali@mof.gov.sy' AND actor LIKE 'cli:%'").Scan(&n).Error; err != nil || n != 1 {
		t.Fatalf("%d user.unlock events (%v), want 1", n, err)
	}
}
