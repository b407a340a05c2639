package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "diwan.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, path string, environ ...string) (*Config, []string) {
	t.Helper()
	c, warnings, err := Load(path, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, warnings
}

func loadErr(t *testing.T, path string, environ ...string) string {
	t.Helper()
	_, _, err := Load(path, environ)
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	return err.Error()
}

func wantContains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("message %q lacks %q", got, w)
		}
	}
}

func TestLoadWithoutFileGivesDefaults(t *testing.T) {
	c, warnings := mustLoad(t, "")
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(\"\") differs from Default():\n%+v\n%+v", c, Default())
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
}

func TestLoadEmptyOrCommentOnlyFileGivesDefaults(t *testing.T) {
	for _, body := range []string{"", "# nothing here\n", "---\n"} {
		c, _ := mustLoad(t, writeConfig(t, body))
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("file %q: config differs from Default()", body)
		}
	}
}

func TestLoadPartialFileKeepsOtherDefaults(t *testing.T) {
	c, _ := mustLoad(t, writeConfig(t, `
data_dir: /var/lib/diwan
smtp:
  hostname: mail.moct.gov.sy
  max_recipients: 100
database:
  driver: postgres
  dsn: "postgres://u:p@db:5432/diwan"
http:
  shutdown_timeout: 30s
  trusted_proxies: [10.0.0.0/8]
policy:
  national_suffixes: [gov.sy, "وزارة.sy"]
workflow:
  deadlines: {urgent: 2}
  holidays: [2026-04-17, "2026-05-01"]
delivery:
  retry_intervals: [1m, 1h]
  transports: {"moh.gov.sy": "10.1.2.3:25", ".mod.gov.sy": "relay.mod.gov.sy:25"}
dns: {servers: ["127.0.0.1:5353"]}
blob:
  s3:
    part_size: 0x1000000
`))
	want := Default()
	want.DataDir = "/var/lib/diwan"
	want.SMTP.Hostname = "mail.moct.gov.sy"
	want.SMTP.MaxRecipients = 100
	want.Database.Driver = "postgres"
	want.Database.DSN = "postgres://u:p@db:5432/diwan"
	want.HTTP.ShutdownTimeout = Duration(30 * time.Second)
	want.HTTP.TrustedProxies = []string{"10.0.0.0/8"}
	want.Policy.NationalSuffixes = []string{"gov.sy", "وزارة.sy"}
	want.Workflow.Deadlines.Urgent = 2
	want.Workflow.Holidays = []string{"2026-04-17", "2026-05-01"}
	want.Delivery.RetryIntervals = []Duration{Duration(time.Minute), Duration(time.Hour)}
	want.Delivery.Transports = map[string]string{"moh.gov.sy": "10.1.2.3:25", ".mod.gov.sy": "relay.mod.gov.sy:25"}
	want.DNS.Servers = []string{"127.0.0.1:5353"}
	want.Blob.S3.PartSize = 16 << 20
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadNullAndEmptySectionsKeepDefaults(t *testing.T) {
	c, _ := mustLoad(t, writeConfig(t, "tls:\nsmtp:\n  hostname: ~\npolicy:\n  national_suffixes:\n"))
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("config differs from Default(): %+v", c)
	}
}

func TestLoadEmptyListClearsTheDefault(t *testing.T) {
	c, _ := mustLoad(t, writeConfig(t, "policy:\n  national_suffixes: []\n"))
	if len(c.Policy.NationalSuffixes) != 0 {
		t.Errorf("national_suffixes = %q, want empty", c.Policy.NationalSuffixes)
	}
}

func TestLoadFollowsAnchorsAndMergeKeys(t *testing.T) {
	c, _ := mustLoad(t, writeConfig(t, `
imap:
  addr: &a "127.0.0.1:1143"
  tls_addr: "127.0.0.1:1993"
smtp:
  <<: {hostname: base.gov.sy, max_recipients: 7}
  max_recipients: 200
  inbound_addr: *a
`))
	if c.SMTP.Hostname != "base.gov.sy" || c.SMTP.MaxRecipients != 200 || c.SMTP.InboundAddr != "127.0.0.1:1143" {
		t.Errorf("smtp = %+v", c.SMTP)
	}
}

func TestLoadMissingFileIsAnError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	msg := loadErr(t, missing)
	wantContains(t, msg, "config "+missing, "not found", "--config")
}

func TestLoadUnknownKeyIsNamedWithItsPath(t *testing.T) {
	cases := []struct {
		name, yaml string
		wants      []string
	}{
		{"typo in a section", "smtp:\n  hostnmae: x\n",
			[]string{`line 2: unknown key "smtp.hostnmae"`, `did you mean "smtp.hostname"?`}},
		{"nested section", "blob:\n  s3:\n    secret: x\n", []string{`unknown key "blob.s3.secret"`}},
		{"top level", "datadir: x\n", []string{`unknown key "datadir"`, `did you mean "data_dir"?`}},
		{"key in the wrong section", "hostname: x\n", []string{`unknown key "hostname"`, `did you mean "smtp.hostname"?`}},
		{"unknown section", "webmail:\n  addr: x\n", []string{`unknown key "webmail"`}},
		{"dotted key", "smtp.hostname: x\n", []string{`key "smtp.hostname" is written with dots`, "smtp: hostname"}},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", []string{`line 3: key "log.level" appears twice (first at line 2)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yaml)
			msg := loadErr(t, path)
			wantContains(t, msg, append([]string{"config " + path + ": "}, tc.wants...)...)
		})
	}
}

func TestLoadWrongTypeNamesKeyAndExpectedType(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"integer", "smtp:\n  max_recipients: many\n", `line 2: smtp.max_recipients: expected an integer, got "many"`},
		{"integer overflow", "smtp:\n  max_recipients: 99999999999999999999\n", `smtp.max_recipients: "99999999999999999999" is out of range`},
		{"unsigned", "blob:\n  s3:\n    part_size: -1\n", `blob.s3.part_size: expected a non-negative integer, got "-1"`},
		{"bool", "http:\n  tls: yes\n", `http.tls: expected true or false, got "yes"`},
		{"duration", "http:\n  shutdown_timeout: 15\n", `http.shutdown_timeout: expected a duration such as "30s" or "15m", got "15"`},
		{"list item", "delivery:\n  retry_intervals: [5m, soon]\n", `delivery.retry_intervals[1]: expected a duration`},
		{"list given a scalar", "policy:\n  national_suffixes: gov.sy\n", `policy.national_suffixes: expected a list of strings, got "gov.sy"`},
		{"string given a mapping", "time_zone: {a: b}\n", `time_zone: expected a string, got a mapping`},
		{"section given a scalar", "smtp: mail.gov.sy\n", `smtp: expected a mapping of keys, got "mail.gov.sy"`},
		{"top level list", "- a\n", `expected a mapping of keys at the top level`},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n", `a second YAML document`},
		{"syntax", "smtp:\n  hostname: [\n", `config `},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantContains(t, loadErr(t, writeConfig(t, tc.yaml)), tc.want)
		})
	}
}

func TestLoadReportsEveryFileProblemAtOnce(t *testing.T) {
	msg := loadErr(t, writeConfig(t, "smtp:\n  max_recipients: many\n  hostnmae: x\nlog:\n  levle: info\n"))
	wantContains(t, msg, "smtp.max_recipients", `"smtp.hostnmae"`, `"log.levle"`)
}

func TestEnvironmentOverridesFileIncludingKeysWithUnderscores(t *testing.T) {
	path := writeConfig(t, "data_dir: /from/file\nsmtp:\n  max_message_bytes: 1000\n")
	c, warnings := mustLoad(t, path,
		"PATH=/usr/bin",
		"DIWAN_DATA_DIR=/from/env",
		"DIWAN_SMTP_MAX_MESSAGE_BYTES=104857600",
		"DIWAN_BLOB_S3_SECRET_KEY=s3cret",
		"DIWAN_HTTP_TLS=false",
		"DIWAN_HTTP_SHUTDOWN_TIMEOUT=1m",
		"DIWAN_BLOB_S3_PART_SIZE=8388608",
		"DIWAN_BLOB_S3_THREADS=2",
		"DIWAN_POLICY_NATIONAL_SUFFIXES= gov.sy, edu.sy ,",
		"DIWAN_DELIVERY_RETRY_INTERVALS=1m,10m",
		"DIWAN_WORKFLOW_DEADLINES_NORMAL=7",
		"DIWAN_DELIVERY_TRANSPORTS=moh.gov.sy=127.0.0.3:25, .mod.gov.sy=relay:25",
		"DIWAN_CONFIG="+path,
		"DIWAN_BOOTSTRAP_ADMIN_PASSWORD=x",
	)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"data_dir", c.DataDir, "/from/env"},
		{"smtp.max_message_bytes", c.SMTP.MaxMessageBytes, int64(104857600)},
		{"blob.s3.secret_key", c.Blob.S3.SecretKey, "s3cret"},
		{"http.tls", c.HTTP.TLS, false},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout, Duration(time.Minute)},
		{"blob.s3.part_size", c.Blob.S3.PartSize, uint64(8 << 20)},
		{"blob.s3.threads", c.Blob.S3.Threads, uint(2)},
		{"policy.national_suffixes", c.Policy.NationalSuffixes, []string{"gov.sy", "edu.sy"}},
		{"delivery.retry_intervals", c.Delivery.RetryIntervals, []Duration{Duration(time.Minute), Duration(10 * time.Minute)}},
		{"workflow.deadlines.normal", c.Workflow.Deadlines.Normal, 7},
		{"delivery.transports", c.Delivery.Transports, map[string]string{"moh.gov.sy": "127.0.0.3:25", ".mod.gov.sy": "relay:25"}},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.key, tc.got, tc.want)
		}
	}
}

func TestEnvironmentEmptyValueSetsEmpty(t *testing.T) {
	c, _ := mustLoad(t, writeConfig(t, "imap:\n  tls_addr: \":993\"\n"), "DIWAN_IMAP_TLS_ADDR=", "DIWAN_WORKFLOW_WEEKEND=")
	if c.IMAP.TLSAddr != "" {
		t.Errorf("imap.tls_addr = %q, want empty (listener disabled)", c.IMAP.TLSAddr)
	}
	if len(c.Workflow.Weekend) != 0 {
		t.Errorf("workflow.weekend = %q, want empty", c.Workflow.Weekend)
	}
}

func TestEnvironmentWrongTypeNamesVariableAndKey(t *testing.T) {
	cases := []struct{ env, want string }{
		{"DIWAN_SMTP_MAX_RECIPIENTS=many", `environment DIWAN_SMTP_MAX_RECIPIENTS: smtp.max_recipients: expected an integer, got "many"`},
		{"DIWAN_HTTP_TLS=maybe", `environment DIWAN_HTTP_TLS: http.tls: expected true or false, got "maybe"`},
		{"DIWAN_AUTH_SESSION_TTL=12", `environment DIWAN_AUTH_SESSION_TTL: auth.session_ttl: expected a duration`},
		{"DIWAN_DELIVERY_RETRY_INTERVALS=5m,later", `environment DIWAN_DELIVERY_RETRY_INTERVALS: delivery.retry_intervals: list item "later": expected a duration`},
		{"DIWAN_BLOB_S3_PART_SIZE=-5", `environment DIWAN_BLOB_S3_PART_SIZE: blob.s3.part_size: expected a non-negative integer`},
		{"DIWAN_BLOB_S3_THREADS=-1", `environment DIWAN_BLOB_S3_THREADS: blob.s3.threads: expected a non-negative integer, got "-1"`},
	}
	for _, tc := range cases {
		t.Run(tc.env, func(t *testing.T) {
			wantContains(t, loadErr(t, "", tc.env), tc.want)
		})
	}
}

func TestUnknownEnvironmentVariableIsAWarning(t *testing.T) {
	c, warnings := mustLoad(t, "",
		"DIWAN_SMTP_HOSTNMAE=x",
		"DIWAN_WHATEVER=1",
		"DIWAN_HTTP_ADDR_FILE=/x",
		"DIWAN_CONFIG=/etc/diwan.yaml",
		"DIWAN_BOOTSTRAP_ADMIN_PASSWORD=pw",
		"HOME=/root",
		"diwan_lower=1",
	)
	if c == nil {
		t.Fatal("no config")
	}
	if len(warnings) != 3 {
		t.Fatalf("warnings = %q, want 3", warnings)
	}
	wantContains(t, warnings[0], "DIWAN_HTTP_ADDR_FILE", "http.addr is not a secret", "set DIWAN_HTTP_ADDR")
	wantContains(t, warnings[1], "DIWAN_SMTP_HOSTNMAE", "not a config key", "did you mean DIWAN_SMTP_HOSTNAME?")
	wantContains(t, warnings[2], "DIWAN_WHATEVER", "not a config key")
}

func TestSecretsAreReadFromFileVariables(t *testing.T) {
	dsn := writeSecret(t, "dsn", "postgres://u:p@db/diwan\n")
	key := writeSecret(t, "key", "s3cret\r\n")
	c, warnings := mustLoad(t, "",
		"DIWAN_DATABASE_DRIVER=postgres",
		"DIWAN_DATABASE_DSN_FILE="+dsn,
		"DIWAN_BLOB_S3_SECRET_KEY_FILE="+key,
	)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
	if c.Database.DSN != "postgres://u:p@db/diwan" {
		t.Errorf("database.dsn = %q", c.Database.DSN)
	}
	if c.Blob.S3.SecretKey != "s3cret" {
		t.Errorf("blob.s3.secret_key = %q", c.Blob.S3.SecretKey)
	}
}

func TestSecretFileVariableErrors(t *testing.T) {
	dsn := writeSecret(t, "dsn", "postgres://u:p@db/diwan\n")
	cases := []struct {
		name  string
		env   []string
		wants []string
	}{
		{"both set", []string{"DIWAN_DATABASE_DSN=postgres://x", "DIWAN_DATABASE_DSN_FILE=" + dsn},
			[]string{"DIWAN_DATABASE_DSN and DIWAN_DATABASE_DSN_FILE are both set for database.dsn; set only one"}},
		{"missing file", []string{"DIWAN_BLOB_S3_SECRET_KEY_FILE=/nonexistent/key"},
			[]string{"environment DIWAN_BLOB_S3_SECRET_KEY_FILE: blob.s3.secret_key:", "/nonexistent/key"}},
		{"empty path", []string{"DIWAN_DATABASE_DSN_FILE="},
			[]string{"environment DIWAN_DATABASE_DSN_FILE: database.dsn: empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantContains(t, loadErr(t, "", tc.env...), tc.wants...)
		})
	}
}

func TestLoadAdvisesAboutLikelyMistakes(t *testing.T) {
	_, warnings := mustLoad(t, writeConfig(t, `
http: {base_url: "http://diwan.gov.sy", tls: true}
smtp: {max_recipients: 10}
workflow: {max_letter_bytes: 52428800, max_attachment_bytes: 1048576}
`))
	joined := strings.Join(warnings, "\n")
	wantContains(t, joined, "http.base_url", "smtp.max_recipients 10", "workflow.max_letter_bytes")
	if len(warnings) != 3 {
		t.Errorf("warnings = %q, want 3", warnings)
	}
}

func TestLoadRefusesWhatTheFileAndEnvironmentGetWrongTogether(t *testing.T) {
	msg := loadErr(t, writeConfig(t, "log:\n  levle: x\n"), "DIWAN_SMTP_MAX_RECIPIENTS=x")
	wantContains(t, msg, `"log.levle"`, "DIWAN_SMTP_MAX_RECIPIENTS")
	if n := len(strings.Split(msg, "\n")); n != 2 {
		t.Errorf("%d lines, want 2: %s", n, msg)
	}
}
