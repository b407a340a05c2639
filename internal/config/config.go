// Package config holds Diwan's one typed configuration: the defaults, the
// YAML file, the DIWAN_* environment overrides (with *_FILE variants for
// secrets) and the validation that runs at start-up.
//
// The order is fixed: Default, then the file named by --config (strict: an
// unknown key or a value of the wrong type is an error naming the key path),
// then the environment, then Validate. Every key is documented in
// configs/diwan.example.yaml; a test keeps that file and KeyPaths in step.
//
// This package reads files and the environment it is given and nothing else:
// it opens no database, listens on nothing, and keeps no global state. The
// composition root (internal/app) loads the config once and passes the parts
// each service needs explicitly.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // time_zone must load on machines without system tzdata
)

// DefaultPath is the config file used when neither --config nor
// $DIWAN_CONFIG names one.
const DefaultPath = "configs/dev.yaml"

// Duration is a time.Duration that the config file and the environment write
// as Go duration text: "30s", "15m", "1h30m", "0".
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String writes d as the config file does: "15m", "12h", "1h30m", "45s".
func (d Duration) String() string { return fmtDuration(time.Duration(d)) }

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads Go duration text ("15m").
func (d *Duration) UnmarshalText(text []byte) error {
	x, err := time.ParseDuration(strings.TrimSpace(string(text)))
	if err != nil {
		return fmt.Errorf("expected a duration such as \"30s\" or \"15m\", got %q", text)
	}
	*d = Duration(x)
	return nil
}

// Config is every setting of a Diwan node. Relative paths are relative to the
// working directory of the process.
type Config struct {
	// DataDir holds everything a single node keeps on disk by default: the
	// SQLite database, the filesystem blob store, the generated TLS pair and
	// the generated master key.
	DataDir string `yaml:"data_dir"`
	// TimeZone is the IANA zone in which register years, deadlines and
	// working days are counted.
	TimeZone  string    `yaml:"time_zone"`
	Database  Database  `yaml:"database"`
	Blob      Blob      `yaml:"blob"`
	TLS       TLS       `yaml:"tls"`
	HTTP      HTTP      `yaml:"http"`
	SMTP      SMTP      `yaml:"smtp"`
	IMAP      IMAP      `yaml:"imap"`
	Policy    Policy    `yaml:"policy"`
	Secrets   Secrets   `yaml:"secrets"`
	Log       Log       `yaml:"log"`
	Auth      Auth      `yaml:"auth"`
	Workflow  Workflow  `yaml:"workflow"`
	DNS       DNS       `yaml:"dns"`
	Delivery  Delivery  `yaml:"delivery"`
	DKIM      DKIM      `yaml:"dkim"`
	Metrics   Metrics   `yaml:"metrics"`
	Directory Directory `yaml:"directory"`
}

// Database says which metadata database to use.
type Database struct {
	Driver string `yaml:"driver"` // "sqlite" or "postgres"
	// DSN is a file path for SQLite (empty: data_dir/diwan.db) and a URL or
	// key=value string for PostgreSQL.
	DSN string `yaml:"dsn" secret:"true"`
	// AutoMigrate applies pending migrations when serve starts; false makes
	// serve refuse a schema that is behind (run `diwan migrate` instead).
	AutoMigrate bool `yaml:"auto_migrate"`
	// MaxOpenConns bounds the connection pool; 0 lets internal/db choose.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// Blob says where message and attachment blobs are stored.
type Blob struct {
	Driver string `yaml:"driver"` // "fs" or "s3"
	Dir    string `yaml:"dir"`    // fs only; empty: data_dir/blobs
	S3     BlobS3 `yaml:"s3"`
}

// BlobS3 is an S3-compatible object store.
type BlobS3 struct {
	Endpoint  string `yaml:"endpoint"` // host:port, no scheme
	Bucket    string `yaml:"bucket"`
	AccessKey string `yaml:"access_key" secret:"true"`
	SecretKey string `yaml:"secret_key" secret:"true"`
	Region    string `yaml:"region"`
	UseTLS    bool   `yaml:"use_tls"`
	// PartSize is the multipart upload part size in bytes (minio-go
	// PutObjectOptions.PartSize); with Threads it bounds upload memory.
	PartSize uint64 `yaml:"part_size"`
	Threads  uint   `yaml:"threads"` // parallel part uploads per object
}

// TLS is the certificate served by every TLS listener. Both empty: a
// self-signed pair is generated under data_dir/tls.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is a PEM bundle of extra certificate authorities (a
	// government CA) trusted besides the system roots, for outbound TLS
	// and peers. Empty: the system roots only.
	CAFile string `yaml:"ca_file"`
}

// HTTP is the web UI and JSON API listener.
type HTTP struct {
	Addr    string `yaml:"addr"`     // empty: disabled
	BaseURL string `yaml:"base_url"` // absolute URL users reach; links in mail and QR codes
	// TLS serves HTTPS on Addr; false only behind a TLS-terminating proxy.
	TLS             bool     `yaml:"tls"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the IPs or CIDRs whose X-Forwarded-For is believed;
	// empty trusts none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// SMTP is the inbound (MX) and submission listeners.
type SMTP struct {
	Hostname        string   `yaml:"hostname"`         // this server's name: greeting, EHLO, Received, DSNs
	InboundAddr     string   `yaml:"inbound_addr"`     // MX, port 25 role; empty: disabled
	SubmissionAddr  string   `yaml:"submission_addr"`  // port 587 role, STARTTLS; empty: disabled
	SubmissionsAddr string   `yaml:"submissions_addr"` // port 465 role, implicit TLS; empty: disabled
	MaxMessageBytes int64    `yaml:"max_message_bytes"`
	MaxRecipients   int      `yaml:"max_recipients"`
	RatePerMinute   int      `yaml:"rate_per_minute"` // 0: no rate limit
	ReadTimeout     Duration `yaml:"read_timeout"`
	WriteTimeout    Duration `yaml:"write_timeout"`
	// MaxConnectionsPerIP bounds the open connections from one client
	// address, on each SMTP listener; 0: no bound.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
}

// IMAP is the IMAP listeners.
type IMAP struct {
	Addr        string   `yaml:"addr"`     // port 143 role, STARTTLS; empty: disabled
	TLSAddr     string   `yaml:"tls_addr"` // port 993 role, implicit TLS; empty: disabled
	IdleTimeout Duration `yaml:"idle_timeout"`
	// AppendLimit is the largest message APPEND accepts; 0: the same as
	// smtp.max_message_bytes (see IMAPAppendLimit).
	AppendLimit int64 `yaml:"append_limit"`
	// MaxConnectionsPerIP bounds the open connections from one client
	// address across both IMAP listeners; 0: no bound.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// MaxConnectionsPerUserIP bounds one user's logged-in connections from
	// one address (Dovecot's mail_max_userip_connections); 0: no bound.
	MaxConnectionsPerUserIP int `yaml:"max_connections_per_user_ip"`
}

// Policy is the static part of the national-mail-only policy; the rules
// administrators manage live in the database.
type Policy struct {
	// NationalSuffixes are suffix rules: "gov.sy" makes gov.sy and every
	// subdomain national.
	NationalSuffixes []string `yaml:"national_suffixes"`
	// InboundAuth is "enforce" (refuse mail failing DMARC, or failing SPF
	// and DKIM without a DMARC record) or "report" (accept it, with the
	// results in Authentication-Results). A From of a hosted domain must
	// pass in both.
	InboundAuth string `yaml:"inbound_auth"`
}

// Secrets says where key material lives.
type Secrets struct {
	// MasterKeyFile holds the key that encrypts registry signing keys;
	// empty: generated under data_dir on first start (see MasterKeyPath).
	MasterKeyFile string `yaml:"master_key_file"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Auth governs logins on every protocol.
type Auth struct {
	// LockoutThreshold is the failed logins in a row for one account from
	// one client address before that address is refused for that account
	// for LockoutDuration; 0: never.
	LockoutThreshold int      `yaml:"lockout_threshold"`
	LockoutDuration  Duration `yaml:"lockout_duration"`
	// LockoutAddresses is how many distinct client addresses must reach
	// LockoutThreshold against one account before the account locks for
	// everyone (until LockoutDuration passes or an administrator unlocks
	// it); 0: an account never locks for everyone.
	LockoutAddresses int `yaml:"lockout_addresses"`
	// AddressMaxFailures is the failed logins from one client address, on
	// any accounts, within LockoutDuration, after which the address is
	// refused before any password is checked; half of it slows the
	// address down first. 0: no per-address bound.
	AddressMaxFailures int      `yaml:"address_max_failures"`
	SessionTTL         Duration `yaml:"session_ttl"` // web session lifetime
	MinPasswordLength  int      `yaml:"min_password_length"`
	// CacheTTL is how long a verified password is remembered (as an HMAC),
	// so that mail clients' logins, one per connection, skip the argon2id
	// check; 0 disables it.
	CacheTTL Duration `yaml:"cache_ttl"`
}

// Metrics guards GET /metrics.
type Metrics struct {
	// Allow are the IPs or CIDRs that may read /metrics without a token.
	Allow []string `yaml:"allow"`
	// Token, when set, also lets any client read /metrics with the header
	// "Authorization: Bearer TOKEN".
	Token string `yaml:"token" secret:"true"`
}

// Directory says how much of the organisation users of other ministries see.
type Directory struct {
	// NationalUsers lets every user find the users (names and addresses
	// only) of every ministry; false: outside their own ministry users see
	// only registries, ministries and departments.
	NationalUsers bool `yaml:"national_users"`
}

// Workflow governs correspondence: deadlines, the working calendar and
// upload limits.
type Workflow struct {
	Deadlines Deadlines `yaml:"deadlines"`
	// Weekend names the days that are not working days, in English
	// ("friday"; case does not matter).
	Weekend []string `yaml:"weekend"`
	// Holidays are non-working dates, YYYY-MM-DD, in time_zone.
	Holidays           []string `yaml:"holidays"`
	MaxAttachmentBytes int64    `yaml:"max_attachment_bytes"` // one attachment
	MaxLetterBytes     int64    `yaml:"max_letter_bytes"`     // one correspondence: body plus all attachments
	// EscalationInterval is how often overdue entries and referrals are
	// looked for.
	EscalationInterval Duration `yaml:"escalation_interval"`
	// DueDateHorizon is how far ahead a due date given for a letter or a
	// referral may lie, from today in time_zone.
	DueDateHorizon Duration `yaml:"due_date_horizon"`
}

// Deadlines are the default number of working days to act on a letter, per
// priority; 0 means the same working day.
type Deadlines struct {
	Normal    int `yaml:"normal"`
	Urgent    int `yaml:"urgent"`
	Immediate int `yaml:"immediate"`
}

// Delivery is the outbound queue to other national mail servers.
type Delivery struct {
	Concurrency int `yaml:"concurrency"` // deliveries in flight per node
	// RetryIntervals are the waits between attempts; after the last one the
	// last interval repeats until MaxAge.
	RetryIntervals []Duration `yaml:"retry_intervals"`
	// MaxAge is how long a message is retried before it bounces.
	MaxAge Duration `yaml:"max_age"`
	// DelayNotice sends the sender one "delayed" DSN once a message has
	// waited this long; 0: never.
	DelayNotice    Duration `yaml:"delay_notice"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	CommandTimeout Duration `yaml:"command_timeout"`
	// Transports route a domain to a host:port instead of its MX, like
	// Postfix's transport_maps: "moh.gov.sy" names that domain exactly,
	// ".mod.gov.sy" that domain and every subdomain.
	Transports map[string]string `yaml:"transports"`
	// RequireTLS refuses to send over a connection without verified TLS.
	RequireTLS bool `yaml:"require_tls"`
}

// DKIM is the signing of submitted mail (RFC 6376) with the hosted
// domains' keys.
type DKIM struct {
	// RotationOverlap is how long a key replaced by `diwan admin domain dkim
	// DOMAIN --rotate` keeps its DNS record valid, so that mail signed with
	// it just before the rotation still verifies where it arrives.
	RotationOverlap Duration `yaml:"rotation_overlap"`
}

// DNS is how Diwan looks up MX, A/AAAA and the TXT records of SPF, DKIM
// and DMARC.
type DNS struct {
	// Servers are resolvers as host:port; empty: the system's
	// (/etc/resolv.conf).
	Servers []string `yaml:"servers"`
}

// Default returns a config in which every key has its working default; it
// passes Validate as it stands.
func Default() *Config {
	return &Config{
		DataDir:  "./data",
		TimeZone: "Asia/Damascus",
		Database: Database{Driver: "sqlite", AutoMigrate: true},
		Blob: Blob{
			Driver: "fs",
			S3: BlobS3{
				Region:   "us-east-1",
				PartSize: 16 << 20,
				Threads:  4,
			},
		},
		HTTP: HTTP{
			Addr:            "127.0.0.1:8080",
			BaseURL:         "https://localhost:8080",
			TLS:             true,
			ShutdownTimeout: Duration(15 * time.Second),
		},
		SMTP: SMTP{
			Hostname:        "mail.example.gov",
			InboundAddr:     ":2525",
			SubmissionAddr:  ":2587",
			SubmissionsAddr: ":2465",
			MaxMessageBytes: 50 << 20,
			MaxRecipients:   500,
			RatePerMinute:   600,
			// RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for
			// the next command.
			ReadTimeout:         Duration(5 * time.Minute),
			WriteTimeout:        Duration(5 * time.Minute),
			MaxConnectionsPerIP: 20,
		},
		IMAP: IMAP{
			Addr:    ":2143",
			TLSAddr: ":2993",
			// RFC 9051 §5.4: the autologout timer is at least 30 minutes.
			IdleTimeout:             Duration(30 * time.Minute),
			MaxConnectionsPerIP:     100,
			MaxConnectionsPerUserIP: 20,
		},
		Policy: Policy{
			NationalSuffixes: []string{"gov.sy"},
			InboundAuth:      "enforce",
		},
		Log: Log{Level: "info", Format: "text"},
		Auth: Auth{
			LockoutThreshold:   5,
			LockoutDuration:    Duration(15 * time.Minute),
			LockoutAddresses:   10,
			AddressMaxFailures: 30,
			SessionTTL:         Duration(12 * time.Hour),
			CacheTTL:           Duration(10 * time.Minute),
			MinPasswordLength:  12,
		},
		Workflow: Workflow{
			Deadlines:          Deadlines{Normal: 10, Urgent: 3, Immediate: 1},
			Weekend:            []string{"friday", "saturday"},
			Holidays:           []string{},
			MaxAttachmentBytes: 25 << 20,
			MaxLetterBytes:     35 << 20,
			EscalationInterval: Duration(15 * time.Minute),
			DueDateHorizon:     Duration(365 * 24 * time.Hour),
		},
		Delivery: Delivery{
			Concurrency: 8,
			RetryIntervals: []Duration{
				Duration(time.Minute), Duration(5 * time.Minute), Duration(15 * time.Minute),
				Duration(time.Hour), Duration(2 * time.Hour),
			},
			MaxAge:         Duration(72 * time.Hour),
			DelayNotice:    Duration(4 * time.Hour),
			ConnectTimeout: Duration(30 * time.Second),
			CommandTimeout: Duration(5 * time.Minute),
			Transports:     map[string]string{},
			RequireTLS:     true,
		},
		DKIM:    DKIM{RotationOverlap: Duration(168 * time.Hour)},
		Metrics: Metrics{Allow: []string{"127.0.0.0/8", "::1/128"}},
	}
}

// ResolvePath returns the config file to load: flag when set, else
// $DIWAN_CONFIG, else DefaultPath.
func ResolvePath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv("DIWAN_CONFIG"); p != "" {
		return p
	}
	return DefaultPath
}

// DatabaseDSN is the DSN to open: database.dsn, or for SQLite with an empty
// dsn the file data_dir/diwan.db.
func (c *Config) DatabaseDSN() string {
	if c.Database.Driver == "sqlite" && c.Database.DSN == "" {
		return filepath.Join(c.DataDir, "diwan.db")
	}
	return c.Database.DSN
}

// BlobDir is the filesystem blob store's directory: blob.dir, or
// data_dir/blobs.
func (c *Config) BlobDir() string {
	if c.Blob.Dir != "" {
		return c.Blob.Dir
	}
	return filepath.Join(c.DataDir, "blobs")
}

// Location is time_zone loaded. Call Validate first: an unloadable zone
// gives UTC here.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// MasterKeyPath is the master key file: secrets.master_key_file, or
// data_dir/master.key (created on first start when missing).
func (c *Config) MasterKeyPath() string {
	if c.Secrets.MasterKeyFile != "" {
		return c.Secrets.MasterKeyFile
	}
	return filepath.Join(c.DataDir, "master.key")
}

// IMAPAppendLimit is the largest message IMAP APPEND accepts:
// imap.append_limit, or smtp.max_message_bytes when that is 0.
func (c *Config) IMAPAppendLimit() int64 {
	if c.IMAP.AppendLimit > 0 {
		return c.IMAP.AppendLimit
	}
	return c.SMTP.MaxMessageBytes
}

// WeekendDays are workflow.weekend as weekdays; names that are not days are
// left out (Validate reports them).
func (w Workflow) WeekendDays() []time.Weekday {
	var days []time.Weekday
	for _, name := range w.Weekend {
		if d, ok := parseWeekday(name); ok {
			days = append(days, d)
		}
	}
	return days
}

// IsWorkingDay reports whether the calendar day of t, in t's location, is
// neither a weekend day nor a holiday. Pass t in time_zone (Location).
func (w Workflow) IsWorkingDay(t time.Time) bool {
	wd := t.Weekday()
	for _, d := range w.WeekendDays() {
		if d == wd {
			return false
		}
	}
	day := t.Format(time.DateOnly)
	for _, h := range w.Holidays {
		if h == day {
			return false
		}
	}
	return true
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday,
	"friday": time.Friday, "saturday": time.Saturday,
}

func parseWeekday(name string) (time.Weekday, bool) {
	d, ok := weekdays[strings.ToLower(strings.TrimSpace(name))]
	return d, ok
}
