package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateNamesTheKeyAndTheFix(t *testing.T) {
	cases := []struct {
		name   string
		change func(c *Config)
		wants  []string
	}{
		{"bad database driver", func(c *Config) { c.Database.Driver = "mysql" },
			[]string{`database.driver: "mysql" is not supported; use "sqlite" or "postgres"`}},
		{"postgres without dsn", func(c *Config) { c.Database.Driver = "postgres" },
			[]string{`database.dsn: is required when database.driver is "postgres"`, "DIWAN_DATABASE_DSN_FILE"}},
		{"sqlite given a postgres url", func(c *Config) { c.Database.DSN = "postgres://u@h/db" },
			[]string{`database.dsn: is a PostgreSQL URL`, "database.driver: postgres"}},
		{"negative pool size", func(c *Config) { c.Database.MaxOpenConns = -1 },
			[]string{"database.max_open_conns: -1 is not allowed; use 0 or more (default 0)"}},
		{"bad blob driver", func(c *Config) { c.Blob.Driver = "gcs" },
			[]string{`blob.driver: "gcs" is not supported; use "fs" or "s3"`}},
		{"s3 without endpoint and bucket", func(c *Config) { c.Blob.Driver = "s3" },
			[]string{`blob.s3.endpoint: is required when blob.driver is "s3"`, `blob.s3.bucket: is required when blob.driver is "s3"`}},
		{"s3 endpoint with scheme", func(c *Config) {
			c.Blob.Driver, c.Blob.S3.Endpoint, c.Blob.S3.Bucket = "s3", "https://s3.gov.sy", "diwan"
		}, []string{`blob.s3.endpoint: "https://s3.gov.sy" has a scheme`, "use_tls"}},
		{"s3 bucket name", func(c *Config) {
			c.Blob.Driver, c.Blob.S3.Endpoint, c.Blob.S3.Bucket = "s3", "s3.gov.sy:443", "Diwan_Blobs"
		}, []string{`blob.s3.bucket: "Diwan_Blobs" is not a valid bucket name`}},
		{"s3 access key without secret", func(c *Config) {
			c.Blob.Driver, c.Blob.S3.Endpoint, c.Blob.S3.Bucket, c.Blob.S3.AccessKey = "s3", "s3.gov.sy:443", "diwan", "AK"
		}, []string{"blob.s3.secret_key: is required when blob.s3.access_key is set"}},
		{"part size below 5 MiB", func(c *Config) { c.Blob.S3.PartSize = 1 << 20 },
			[]string{"blob.s3.part_size: 1048576 is outside what S3 allows; use 5242880 (5 MiB) to 5368709120 (5 GiB) bytes"}},
		{"no upload threads", func(c *Config) { c.Blob.S3.Threads = 0 },
			[]string{"blob.s3.threads: 0 is out of range; use 1 to 256"}},
		{"tls cert without key", func(c *Config) { c.TLS.CertFile = "cert.pem" },
			[]string{"tls.key_file: is required when tls.cert_file is set"}},
		{"tls key without cert", func(c *Config) { c.TLS.KeyFile = "key.pem" },
			[]string{"tls.cert_file: is required when tls.key_file is set"}},
		{"empty data dir", func(c *Config) { c.DataDir = "" },
			[]string{"data_dir: must not be empty"}},
		{"bad time zone", func(c *Config) { c.TimeZone = "Mars/Olympus" },
			[]string{`time_zone: "Mars/Olympus" is not a known time zone; use an IANA zone such as "Asia/Damascus"`}},
		{"local time zone", func(c *Config) { c.TimeZone = "Local" },
			[]string{`time_zone: "Local" differs from machine to machine`}},
		{"bad listener address", func(c *Config) { c.SMTP.InboundAddr = "2525" },
			[]string{`smtp.inbound_addr: "2525" is not host:port; write e.g. "127.0.0.1:2525" or ":2525"`}},
		{"listener port out of range", func(c *Config) { c.IMAP.Addr = ":70000" },
			[]string{`imap.addr: ":70000" is not host:port`}},
		{"two listeners on one port", func(c *Config) { c.IMAP.TLSAddr = "127.0.0.1:2525" },
			[]string{`imap.tls_addr: "127.0.0.1:2525" collides with smtp.inbound_addr ":2525"`}},
		{"relative base url", func(c *Config) { c.HTTP.BaseURL = "localhost:8080" },
			[]string{`http.base_url: "localhost:8080" is not an absolute http(s) URL`}},
		{"bad trusted proxy", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "proxy"} },
			[]string{`http.trusted_proxies[1]: "proxy" is not an IP address or CIDR`}},
		{"negative shutdown timeout", func(c *Config) { c.HTTP.ShutdownTimeout = Duration(-time.Second) },
			[]string{"http.shutdown_timeout: -1s is not allowed; use 0 or a positive duration (default 15s)"}},
		{"bad smtp hostname", func(c *Config) { c.SMTP.Hostname = "mail server" },
			[]string{`smtp.hostname: "mail server" is not a fully qualified host name`}},
		{"single-label smtp hostname", func(c *Config) { c.SMTP.Hostname = "localhost" },
			[]string{`smtp.hostname: "localhost" is not a fully qualified host name`}},
		{"negative message size", func(c *Config) { c.SMTP.MaxMessageBytes = -1 },
			[]string{"smtp.max_message_bytes: -1 is not allowed; use a positive number (default 52428800)"}},
		{"zero recipients", func(c *Config) { c.SMTP.MaxRecipients = 0 },
			[]string{"smtp.max_recipients: 0 is not allowed; use a positive number (default 500)"}},
		{"negative rate", func(c *Config) { c.SMTP.RatePerMinute = -1 },
			[]string{"smtp.rate_per_minute: -1 is not allowed; use 0 or more (default 600)"}},
		{"no smtp read timeout", func(c *Config) { c.SMTP.ReadTimeout = 0 },
			[]string{"smtp.read_timeout: 0s is not allowed; use a duration of at least 1s (default 5m)"}},
		{"negative append limit", func(c *Config) { c.IMAP.AppendLimit = -5 },
			[]string{"imap.append_limit: -5 is not allowed; use 0 or more (default 0)"}},
		{"bad inbound auth", func(c *Config) { c.Policy.InboundAuth = "off" },
			[]string{`policy.inbound_auth: "off" is not supported; use "enforce"`, `"report"`}},
		{"bad national suffix", func(c *Config) { c.Policy.NationalSuffixes = []string{"gov.sy", "*.gov.sy", ""} },
			[]string{`policy.national_suffixes[1]: "*.gov.sy" is not a domain`, `policy.national_suffixes[2]: "" is not a domain`}},
		{"bad log level", func(c *Config) { c.Log.Level = "verbose" },
			[]string{`log.level: "verbose" is not a level; use "debug", "info", "warn" or "error"`}},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" },
			[]string{`log.format: "xml" is not supported; use "text" or "json"`}},
		{"negative lockout threshold", func(c *Config) { c.Auth.LockoutThreshold = -1 },
			[]string{"auth.lockout_threshold: -1 is not allowed; use 0 or more (default 5)"}},
		{"lockout without duration", func(c *Config) { c.Auth.LockoutDuration = 0 },
			[]string{"auth.lockout_duration: 0s is not allowed; use a duration of at least 1s (default 15m)"}},
		{"short session", func(c *Config) { c.Auth.SessionTTL = Duration(time.Second) },
			[]string{"auth.session_ttl: 1s is not allowed; use a duration of at least 1m (default 12h)"}},
		{"short passwords", func(c *Config) { c.Auth.MinPasswordLength = 4 },
			[]string{"auth.min_password_length: 4 is out of range; use 8 to 128"}},
		{"negative deadline", func(c *Config) { c.Workflow.Deadlines.Immediate = -1 },
			[]string{"workflow.deadlines.immediate: -1 is not allowed; use 0 or more (default 1)"}},
		{"urgent longer than normal", func(c *Config) { c.Workflow.Deadlines.Urgent = 20 },
			[]string{"workflow.deadlines.urgent: 20 working days is longer than workflow.deadlines.normal (10)"}},
		{"bad weekend day", func(c *Config) { c.Workflow.Weekend = []string{"friday", "juma"} },
			[]string{`workflow.weekend[1]: "juma" is not a day; use English day names such as "friday"`}},
		{"every day a weekend", func(c *Config) {
			c.Workflow.Weekend = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
		}, []string{"workflow.weekend: lists every day of the week"}},
		{"bad holiday", func(c *Config) { c.Workflow.Holidays = []string{"2026-02-30"} },
			[]string{`workflow.holidays[0]: "2026-02-30" is not a date; write YYYY-MM-DD`}},
		{"negative attachment size", func(c *Config) { c.Workflow.MaxAttachmentBytes = -1 },
			[]string{"workflow.max_attachment_bytes: -1 is not allowed; use a positive number (default 26214400)"}},
		{"attachment larger than letter", func(c *Config) { c.Workflow.MaxAttachmentBytes = c.Workflow.MaxLetterBytes + 1 },
			[]string{"workflow.max_attachment_bytes: 36700161 is larger than workflow.max_letter_bytes (36700160)"}},
		{"transport of no domain", func(c *Config) { c.Delivery.Transports = map[string]string{"moh gov": "relay:25"} },
			[]string{`delivery.transports["moh gov"]: is not a domain`}},
		{"transport without port", func(c *Config) { c.Delivery.Transports = map[string]string{".mod.gov.sy": "relay"} },
			[]string{`delivery.transports[".mod.gov.sy"]: "relay" is not host:port`}},
		{"dns server without port", func(c *Config) { c.DNS.Servers = []string{"127.0.0.1"} },
			[]string{`dns.servers[0]: "127.0.0.1" is not host:port`}},
		{"no retry intervals", func(c *Config) { c.Delivery.RetryIntervals = nil },
			[]string{"delivery.retry_intervals: is empty"}},
		{"zero retry interval", func(c *Config) { c.Delivery.RetryIntervals = []Duration{Duration(time.Minute), 0} },
			[]string{"delivery.retry_intervals[1]: 0s is too short"}},
		{"delay notice after max age", func(c *Config) { c.Delivery.DelayNotice = Duration(200 * time.Hour) },
			[]string{"delivery.delay_notice: 200h is not before delivery.max_age 72h"}},
		{"no delivery workers", func(c *Config) { c.Delivery.Concurrency = 0 },
			[]string{"delivery.concurrency: 0 is not allowed; use a positive number (default 8)"}},
		{"dkim overlap too short", func(c *Config) { c.DKIM.RotationOverlap = Duration(time.Minute) },
			[]string{"dkim.rotation_overlap: 1m is not allowed; use a duration of at least 1h (default 168h)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := Default()
	c.Database.Driver = "mysql"
	c.Log.Format = "xml"
	c.TimeZone = "Nowhere/Land"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Errorf("got %d problems, want 3:\n%s", len(lines), err)
	}
}

func TestValidateAcceptsWorkingAlternatives(t *testing.T) {
	cases := []struct {
		name   string
		change func(c *Config)
	}{
		{"postgres with dsn", func(c *Config) {
			c.Database.Driver, c.Database.DSN = "postgres", "postgres://app:app@127.0.0.1:5432/postgres?sslmode=disable"
		}},
		{"s3 as in the design", func(c *Config) {
			c.Blob.Driver = "s3"
			c.Blob.S3.Endpoint, c.Blob.S3.Bucket = "127.0.0.1:7070", "diwan"
			c.Blob.S3.AccessKey, c.Blob.S3.SecretKey = "KEY", "SECRET"
			c.Blob.S3.PartSize = 5 << 20
		}},
		{"every listener disabled", func(c *Config) {
			c.HTTP.Addr, c.SMTP.InboundAddr, c.SMTP.SubmissionAddr, c.SMTP.SubmissionsAddr, c.IMAP.Addr, c.IMAP.TLSAddr = "", "", "", "", "", ""
		}},
		{"listeners on port 0 for tests", func(c *Config) {
			c.HTTP.Addr, c.SMTP.InboundAddr, c.SMTP.SubmissionAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			c.SMTP.SubmissionsAddr, c.IMAP.Addr, c.IMAP.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		}},
		{"same port on different addresses", func(c *Config) {
			c.SMTP.InboundAddr, c.IMAP.Addr = "10.0.0.1:2525", "10.0.0.2:2525"
		}},
		{"plain http behind a proxy", func(c *Config) {
			c.HTTP.TLS, c.HTTP.BaseURL, c.HTTP.TrustedProxies = false, "https://diwan.moct.gov.sy", []string{"10.0.0.5", "fd00::/8"}
		}},
		{"tls files", func(c *Config) { c.TLS = TLS{CertFile: "c.pem", KeyFile: "k.pem"} }},
		{"report mode and json logs", func(c *Config) { c.Policy.InboundAuth, c.Log.Format, c.Log.Level = "report", "json", "debug" }},
		{"arabic suffix and leading dot", func(c *Config) { c.Policy.NationalSuffixes = []string{".gov.sy", "سوريا"} }},
		{"no lockout", func(c *Config) { c.Auth.LockoutThreshold, c.Auth.LockoutDuration = 0, 0 }},
		{"same-day deadlines", func(c *Config) { c.Workflow.Deadlines = Deadlines{} }},
		{"no delay notice", func(c *Config) { c.Delivery.DelayNotice = 0 }},
		{"holidays and capitalised weekend", func(c *Config) {
			c.Workflow.Weekend, c.Workflow.Holidays = []string{"Friday"}, []string{"2026-04-17"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}
