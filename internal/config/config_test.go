package config

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultsMatchTheDesignContract(t *testing.T) {
	c := Default()
	checks := []struct {
		key       string
		got, want any
	}{
		{"data_dir", c.DataDir, "./data"},
		{"time_zone", c.TimeZone, "Asia/Damascus"},
		{"database.driver", c.Database.Driver, "sqlite"},
		{"database.dsn", c.Database.DSN, ""},
		{"database.auto_migrate", c.Database.AutoMigrate, true},
		{"blob.driver", c.Blob.Driver, "fs"},
		{"blob.dir", c.Blob.Dir, ""},
		{"blob.s3.region", c.Blob.S3.Region, "us-east-1"},
		{"blob.s3.use_tls", c.Blob.S3.UseTLS, false},
		{"blob.s3.part_size", c.Blob.S3.PartSize, uint64(16777216)},
		{"blob.s3.threads", c.Blob.S3.Threads, uint(4)},
		{"http.addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"http.base_url", c.HTTP.BaseURL, "https://localhost:8080"},
		{"http.tls", c.HTTP.TLS, true},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout, Duration(15 * time.Second)},
		{"smtp.hostname", c.SMTP.Hostname, "mail.example.gov"},
		{"smtp.inbound_addr", c.SMTP.InboundAddr, ":2525"},
		{"smtp.submission_addr", c.SMTP.SubmissionAddr, ":2587"},
		{"smtp.submissions_addr", c.SMTP.SubmissionsAddr, ":2465"},
		{"smtp.max_message_bytes", c.SMTP.MaxMessageBytes, int64(52428800)},
		{"smtp.max_recipients", c.SMTP.MaxRecipients, 500},
		{"smtp.rate_per_minute", c.SMTP.RatePerMinute, 600},
		{"imap.addr", c.IMAP.Addr, ":2143"},
		{"imap.tls_addr", c.IMAP.TLSAddr, ":2993"},
		{"policy.national_suffixes", c.Policy.NationalSuffixes, []string{"gov.sy"}},
		{"policy.inbound_auth", c.Policy.InboundAuth, "enforce"},
		{"secrets.master_key_file", c.Secrets.MasterKeyFile, ""},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"auth.lockout_threshold", c.Auth.LockoutThreshold, 5},
		{"auth.lockout_duration", c.Auth.LockoutDuration, Duration(15 * time.Minute)},
		{"auth.session_ttl", c.Auth.SessionTTL, Duration(12 * time.Hour)},
		{"workflow.weekend", c.Workflow.Weekend, []string{"friday", "saturday"}},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.key, tc.got, tc.want)
		}
	}
}

func TestKeyPathsCoverEveryLeafWithDistinctVariables(t *testing.T) {
	paths := Default().KeyPaths()
	for _, want := range []string{
		"data_dir", "time_zone", "database.dsn", "blob.s3.secret_key",
		"smtp.max_message_bytes", "workflow.deadlines.urgent", "delivery.retry_intervals",
	} {
		if !slices.Contains(paths, want) {
			t.Errorf("KeyPaths() lacks %q", want)
		}
	}
	seen := map[string]string{}
	for _, p := range paths {
		name := EnvName(p)
		if other, dup := seen[name]; dup {
			t.Errorf("keys %q and %q share the variable %s", other, p, name)
		}
		seen[name] = p
		if notConfigKeys[name] || notConfigKeys[name+"_FILE"] {
			t.Errorf("key %q collides with a variable that is not a config key", p)
		}
	}
	secrets := Default().SecretKeyPaths()
	for _, want := range []string{"database.dsn", "blob.s3.secret_key"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("SecretKeyPaths() lacks %q", want)
		}
	}
}

func TestEnvNameUpperCasesThePath(t *testing.T) {
	for path, want := range map[string]string{
		"data_dir":               "DIWAN_DATA_DIR",
		"smtp.max_message_bytes": "DIWAN_SMTP_MAX_MESSAGE_BYTES",
		"blob.s3.secret_key":     "DIWAN_BLOB_S3_SECRET_KEY",
	} {
		if got := EnvName(path); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestResolvePathPrefersFlagThenEnvironmentThenDev(t *testing.T) {
	t.Setenv("DIWAN_CONFIG", "")
	if got := ResolvePath(""); got != "configs/dev.yaml" {
		t.Errorf("no flag, no env: %q", got)
	}
	t.Setenv("DIWAN_CONFIG", "/etc/diwan/diwan.yaml")
	if got := ResolvePath(""); got != "/etc/diwan/diwan.yaml" {
		t.Errorf("env: %q", got)
	}
	if got := ResolvePath("x.yaml"); got != "x.yaml" {
		t.Errorf("flag: %q", got)
	}
}

func TestDerivedPathsFallBackToDataDir(t *testing.T) {
	c := Default()
	c.DataDir = "/var/lib/diwan"
	if got, want := c.DatabaseDSN(), filepath.Join("/var/lib/diwan", "diwan.db"); got != want {
		t.Errorf("DatabaseDSN() = %q, want %q", got, want)
	}
	if got, want := c.BlobDir(), filepath.Join("/var/lib/diwan", "blobs"); got != want {
		t.Errorf("BlobDir() = %q, want %q", got, want)
	}
	if got, want := c.MasterKeyPath(), filepath.Join("/var/lib/diwan", "master.key"); got != want {
		t.Errorf("MasterKeyPath() = %q, want %q", got, want)
	}
	c.Database = Database{Driver: "sqlite", DSN: "/srv/x.db?_pragma=foo"}
	if got := c.DatabaseDSN(); got != "/srv/x.db?_pragma=foo" {
		t.Errorf("sqlite DatabaseDSN() with dsn = %q", got)
	}
	c.Database = Database{Driver: "postgres", DSN: "postgres://a@b/c"}
	if got := c.DatabaseDSN(); got != "postgres://a@b/c" {
		t.Errorf("postgres DatabaseDSN() = %q", got)
	}
	c.Blob.Dir = "/srv/blobs"
	if got := c.BlobDir(); got != "/srv/blobs" {
		t.Errorf("BlobDir() with dir = %q", got)
	}
}

func TestIMAPAppendLimitDefaultsToMaxMessageBytes(t *testing.T) {
	c := Default()
	if got := c.IMAPAppendLimit(); got != c.SMTP.MaxMessageBytes {
		t.Errorf("IMAPAppendLimit() = %d, want %d", got, c.SMTP.MaxMessageBytes)
	}
	c.IMAP.AppendLimit = 1000
	if got := c.IMAPAppendLimit(); got != 1000 {
		t.Errorf("IMAPAppendLimit() = %d, want 1000", got)
	}
}

func TestLocationLoadsTheZoneWithoutSystemTZData(t *testing.T) {
	c := Default()
	loc := c.Location()
	if loc.String() != "Asia/Damascus" {
		t.Fatalf("Location() = %v", loc)
	}
	// Syria has kept UTC+3 all year since 2022.
	_, off := time.Date(2026, 1, 15, 12, 0, 0, 0, loc).Zone()
	if off != 3*3600 {
		t.Errorf("offset in Asia/Damascus = %d s, want 10800", off)
	}
}

func TestWorkingDaysSkipWeekendAndHolidays(t *testing.T) {
	w := Default().Workflow
	w.Weekend = []string{"Friday", "saturday"}
	w.Holidays = []string{"2026-04-17"}
	loc := Default().Location()
	cases := []struct {
		day  string
		want bool
	}{
		{"2026-04-16", true},  // Thursday
		{"2026-04-17", false}, // Friday, and a holiday
		{"2026-04-18", false}, // Saturday
		{"2026-04-19", true},  // Sunday
		{"2026-05-04", true},  // Monday
	}
	for _, tc := range cases {
		day, _ := time.ParseInLocation(time.DateOnly, tc.day, loc)
		if got := w.IsWorkingDay(day); got != tc.want {
			t.Errorf("IsWorkingDay(%s) = %v, want %v", tc.day, got, tc.want)
		}
	}
	w.Holidays = []string{"2026-05-04"}
	day, _ := time.ParseInLocation(time.DateOnly, "2026-05-04", loc)
	if w.IsWorkingDay(day) {
		t.Error("a listed holiday on a Monday is a working day")
	}
	if got := w.WeekendDays(); !reflect.DeepEqual(got, []time.Weekday{time.Friday, time.Saturday}) {
		t.Errorf("WeekendDays() = %v", got)
	}
}

func TestDurationReadsAndWritesConfigText(t *testing.T) {
	for text, want := range map[string]time.Duration{
		"15m": 15 * time.Minute, "12h": 12 * time.Hour, "1h30m": 90 * time.Minute, "45s": 45 * time.Second, "0": 0,
	} {
		var d Duration
		if err := d.UnmarshalText([]byte(text)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", text, err)
			continue
		}
		if d.Duration() != want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", text, d.Duration(), want)
		}
		if text != "0" && d.String() != text {
			t.Errorf("String() = %q, want %q", d.String(), text)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("15")); err == nil {
		t.Error(`UnmarshalText("15") succeeded; a duration needs a unit`)
	}
}
