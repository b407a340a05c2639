package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of S3 multipart uploads (AWS S3 user guide, "multipart upload
// limits"), which every S3-compatible store keeps.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// Validate checks every key and reports all problems at once (errors.Join),
// each naming the key and the fix:
//
//	database.driver: "mysql" is not supported; use "sqlite" or "postgres"
func (c *Config) Validate() error {
	v := &validator{}
	v.validateBase(c)
	v.validateDatabase(c)
	v.validateBlob(c)
	v.validateTLS(c)
	v.validateHTTP(c)
	v.validateSMTP(c)
	v.validateIMAP(c)
	v.validateListeners(c)
	v.validatePolicy(c)
	v.validateLog(c)
	v.validateAuth(c)
	v.validateWorkflow(&c.Workflow)
	v.validateDelivery(c)
	v.atLeastDuration("dkim.rotation_overlap", c.DKIM.RotationOverlap, time.Hour)
	for i, srv := range c.DNS.Servers {
		if _, _, err := net.SplitHostPort(srv); err != nil {
			v.add(fmt.Sprintf("dns.servers[%d]", i), "%q is not host:port; give e.g. \"127.0.0.1:53\"", srv)
		}
	}
	return errors.Join(v.errs...)
}

// validateBase checks data_dir and time_zone.
func (v *validator) validateBase(c *Config) {
	if strings.TrimSpace(c.DataDir) == "" {
		v.add("data_dir", `must not be empty; give a directory such as "./data"`)
	}
	switch c.TimeZone {
	case "":
		v.add("time_zone", `must not be empty; use an IANA zone such as "Asia/Damascus"`)
	case "Local":
		v.add("time_zone", `"Local" differs from machine to machine; use an IANA zone such as "Asia/Damascus"`)
	default:
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			v.add("time_zone", "%q is not a known time zone; use an IANA zone such as \"Asia/Damascus\"", c.TimeZone)
		}
	}
}

// validateDatabase checks database.*.
func (v *validator) validateDatabase(c *Config) {
	switch c.Database.Driver {
	case "sqlite":
		if d := strings.ToLower(c.Database.DSN); strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://") {
			v.add("database.dsn", `is a PostgreSQL URL but database.driver is "sqlite"; set database.driver: postgres`)
		}
	case "postgres":
		if strings.TrimSpace(c.Database.DSN) == "" {
			v.add("database.dsn", `is required when database.driver is "postgres"; set it (or DIWAN_DATABASE_DSN, or DIWAN_DATABASE_DSN_FILE) to e.g. "postgres://user:password@host:5432/diwan?sslmode=verify-full"`)
		}
	default:
		v.add("database.driver", "%q is not supported; use \"sqlite\" or \"postgres\"", c.Database.Driver)
	}
	v.atLeast("database.max_open_conns", int64(c.Database.MaxOpenConns), 0)
}

// validateBlob checks blob.*; the s3 ranges are checked whatever the
// driver, so that a bad value is found before the day the driver changes.
func (v *validator) validateBlob(c *Config) {
	if p := c.Blob.S3.PartSize; p < minPartSize || p > maxPartSize {
		v.add("blob.s3.part_size", "%d is outside what S3 allows; use %d (5 MiB) to %d (5 GiB) bytes (default 16777216)", p, minPartSize, uint64(maxPartSize))
	}
	if n := c.Blob.S3.Threads; n < 1 || n > 256 {
		v.add("blob.s3.threads", "%d is out of range; use 1 to 256 (default 4)", n)
	}
	switch c.Blob.Driver {
	case "fs":
	case "s3":
		v.validateS3(&c.Blob.S3)
	default:
		v.add("blob.driver", "%q is not supported; use \"fs\" or \"s3\"", c.Blob.Driver)
	}
}

// validateTLS checks tls.*.
func (v *validator) validateTLS(c *Config) {
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		v.add("tls.key_file", "is required when tls.cert_file is set; give the certificate's private key file (or leave both empty for a generated self-signed pair)")
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		v.add("tls.cert_file", "is required when tls.key_file is set; give the certificate file (or leave both empty for a generated self-signed pair)")
	}
}

// validateHTTP checks http.* and metrics.allow.
func (v *validator) validateHTTP(c *Config) {
	v.listenAddr("http.addr", c.HTTP.Addr)
	if u, err := url.Parse(c.HTTP.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		v.add("http.base_url", "%q is not an absolute http(s) URL; give the address users reach, e.g. \"https://diwan.moct.gov.sy\"", c.HTTP.BaseURL)
	}
	v.atLeastDuration("http.shutdown_timeout", c.HTTP.ShutdownTimeout, 0)
	v.addrsOrCIDRs("http.trusted_proxies", c.HTTP.TrustedProxies)
	v.addrsOrCIDRs("metrics.allow", c.Metrics.Allow)
}

// validateSMTP checks smtp.*.
func (v *validator) validateSMTP(c *Config) {
	if !isHostname(c.SMTP.Hostname) || !strings.Contains(strings.TrimSuffix(c.SMTP.Hostname, "."), ".") {
		v.add("smtp.hostname", "%q is not a fully qualified host name; give this server's name in ASCII (xn-- form for IDN), e.g. \"mail.moct.gov.sy\"", c.SMTP.Hostname)
	}
	v.listenAddr("smtp.inbound_addr", c.SMTP.InboundAddr)
	v.listenAddr("smtp.submission_addr", c.SMTP.SubmissionAddr)
	v.listenAddr("smtp.submissions_addr", c.SMTP.SubmissionsAddr)
	v.atLeast("smtp.max_message_bytes", c.SMTP.MaxMessageBytes, 1)
	v.atLeast("smtp.max_recipients", int64(c.SMTP.MaxRecipients), 1)
	v.atLeast("smtp.rate_per_minute", int64(c.SMTP.RatePerMinute), 0)
	v.atLeastDuration("smtp.read_timeout", c.SMTP.ReadTimeout, time.Second)
	v.atLeastDuration("smtp.write_timeout", c.SMTP.WriteTimeout, time.Second)
	v.atLeast("smtp.max_connections_per_ip", int64(c.SMTP.MaxConnectionsPerIP), 0)
}

// validateIMAP checks imap.*.
func (v *validator) validateIMAP(c *Config) {
	v.listenAddr("imap.addr", c.IMAP.Addr)
	v.listenAddr("imap.tls_addr", c.IMAP.TLSAddr)
	v.atLeastDuration("imap.idle_timeout", c.IMAP.IdleTimeout, time.Second)
	v.atLeast("imap.append_limit", c.IMAP.AppendLimit, 0)
	v.atLeast("imap.max_connections_per_ip", int64(c.IMAP.MaxConnectionsPerIP), 0)
	v.atLeast("imap.max_connections_per_user_ip", int64(c.IMAP.MaxConnectionsPerUserIP), 0)
}

// validateListeners checks that no two listeners share a port.
func (v *validator) validateListeners(c *Config) {
	v.distinctListeners([][2]string{
		{"http.addr", c.HTTP.Addr},
		{"smtp.inbound_addr", c.SMTP.InboundAddr},
		{"smtp.submission_addr", c.SMTP.SubmissionAddr},
		{"smtp.submissions_addr", c.SMTP.SubmissionsAddr},
		{"imap.addr", c.IMAP.Addr},
		{"imap.tls_addr", c.IMAP.TLSAddr},
	})
}

// validatePolicy checks policy.*.
func (v *validator) validatePolicy(c *Config) {
	for i, s := range c.Policy.NationalSuffixes {
		if !isDomainSuffix(s) {
			v.add(fmt.Sprintf("policy.national_suffixes[%d]", i), "%q is not a domain; write a domain such as \"gov.sy\" (it covers every subdomain)", s)
		}
	}
	switch c.Policy.InboundAuth {
	case "enforce", "report":
	default:
		v.add("policy.inbound_auth", "%q is not supported; use \"enforce\" (refuse failing mail) or \"report\" (accept and log only)", c.Policy.InboundAuth)
	}
}

// validateLog checks log.*.
func (v *validator) validateLog(c *Config) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q is not a level; use \"debug\", \"info\", \"warn\" or \"error\"", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", "%q is not supported; use \"text\" or \"json\"", c.Log.Format)
	}
}

// validateAuth checks auth.*.
func (v *validator) validateAuth(c *Config) {
	v.atLeast("auth.lockout_threshold", int64(c.Auth.LockoutThreshold), 0)
	if c.Auth.LockoutThreshold > 0 {
		v.atLeastDuration("auth.lockout_duration", c.Auth.LockoutDuration, time.Second)
	} else {
		v.atLeastDuration("auth.lockout_duration", c.Auth.LockoutDuration, 0)
	}
	v.atLeast("auth.lockout_addresses", int64(c.Auth.LockoutAddresses), 0)
	v.atLeast("auth.address_max_failures", int64(c.Auth.AddressMaxFailures), 0)
	v.atLeastDuration("auth.session_ttl", c.Auth.SessionTTL, time.Minute)
	v.atLeastDuration("auth.cache_ttl", c.Auth.CacheTTL, 0)
	if n := c.Auth.MinPasswordLength; n < 8 || n > 128 {
		v.add("auth.min_password_length", "%d is out of range; use 8 to 128 (default 12)", n)
	}
}

// validateDelivery checks delivery.*.
func (v *validator) validateDelivery(c *Config) {
	d := &c.Delivery
	v.atLeast("delivery.concurrency", int64(d.Concurrency), 1)
	if len(d.RetryIntervals) == 0 {
		v.add("delivery.retry_intervals", "is empty; give at least one wait, e.g. [5m, 30m, 1h, 4h]")
	}
	for i, r := range d.RetryIntervals {
		if r.Duration() < time.Second {
			v.add(fmt.Sprintf("delivery.retry_intervals[%d]", i), "%s is too short; use a duration of at least 1s, e.g. 5m", r)
		}
	}
	v.atLeastDuration("delivery.max_age", d.MaxAge, time.Minute)
	v.atLeastDuration("delivery.delay_notice", d.DelayNotice, 0)
	if d.DelayNotice > 0 && d.MaxAge > 0 && d.DelayNotice >= d.MaxAge {
		v.add("delivery.delay_notice", "%s is not before delivery.max_age %s, so no delay notice would be sent; make it shorter, or 0 to send none", d.DelayNotice, d.MaxAge)
	}
	for _, dom := range slices.Sorted(maps.Keys(d.Transports)) {
		key := "delivery.transports[" + strconv.Quote(dom) + "]"
		if !isHostname(strings.TrimPrefix(dom, ".")) {
			v.add(key, "is not a domain; use \"moh.gov.sy\" for one domain or \".mod.gov.sy\" for it and its subdomains")
		}
		if _, _, err := net.SplitHostPort(d.Transports[dom]); err != nil {
			v.add(key, "%q is not host:port; give e.g. \"relay.mod.gov.sy:25\"", d.Transports[dom])
		}
	}
	v.atLeastDuration("delivery.connect_timeout", d.ConnectTimeout, time.Second)
	v.atLeastDuration("delivery.command_timeout", d.CommandTimeout, time.Second)
}

func (v *validator) validateS3(s *BlobS3) {
	switch {
	case strings.TrimSpace(s.Endpoint) == "":
		v.add("blob.s3.endpoint", `is required when blob.driver is "s3"; give host:port, e.g. "s3.moct.gov.sy:443"`)
	case strings.Contains(s.Endpoint, "://"):
		v.add("blob.s3.endpoint", "%q has a scheme; give host:port only and set blob.s3.use_tls for https", s.Endpoint)
	case strings.ContainsAny(s.Endpoint, "/ "):
		v.add("blob.s3.endpoint", "%q is not host:port; give e.g. \"s3.moct.gov.sy:443\" (the bucket goes in blob.s3.bucket)", s.Endpoint)
	}
	switch {
	case s.Bucket == "":
		v.add("blob.s3.bucket", `is required when blob.driver is "s3"; give the bucket name, e.g. "diwan"`)
	case !bucketName.MatchString(s.Bucket) || strings.Contains(s.Bucket, ".."):
		v.add("blob.s3.bucket", "%q is not a valid bucket name; use 3 to 63 lower-case letters, digits, dots and hyphens", s.Bucket)
	}
	switch {
	case s.AccessKey != "" && s.SecretKey == "":
		v.add("blob.s3.secret_key", "is required when blob.s3.access_key is set; set it (or DIWAN_BLOB_S3_SECRET_KEY, or DIWAN_BLOB_S3_SECRET_KEY_FILE)")
	case s.AccessKey == "" && s.SecretKey != "":
		v.add("blob.s3.access_key", "is required when blob.s3.secret_key is set; set it (or DIWAN_BLOB_S3_ACCESS_KEY)")
	}
}

func (v *validator) validateWorkflow(w *Workflow) {
	dl := w.Deadlines
	v.atLeast("workflow.deadlines.normal", int64(dl.Normal), 0)
	v.atLeast("workflow.deadlines.urgent", int64(dl.Urgent), 0)
	v.atLeast("workflow.deadlines.immediate", int64(dl.Immediate), 0)
	if dl.Urgent > dl.Normal {
		v.add("workflow.deadlines.urgent", "%d working days is longer than workflow.deadlines.normal (%d); urgent letters must not get more time than normal ones", dl.Urgent, dl.Normal)
	}
	if dl.Immediate > dl.Urgent {
		v.add("workflow.deadlines.immediate", "%d working days is longer than workflow.deadlines.urgent (%d); immediate letters must not get more time than urgent ones", dl.Immediate, dl.Urgent)
	}
	seen := map[time.Weekday]bool{}
	for i, name := range w.Weekend {
		d, ok := parseWeekday(name)
		switch {
		case !ok:
			v.add(fmt.Sprintf("workflow.weekend[%d]", i), "%q is not a day; use English day names such as \"friday\"", name)
		case seen[d]:
			v.add(fmt.Sprintf("workflow.weekend[%d]", i), "%q is listed twice; list each day once", name)
		default:
			seen[d] = true
		}
	}
	if len(seen) == 7 {
		v.add("workflow.weekend", "lists every day of the week, so no deadline could fall due; leave at least one working day")
	}
	for i, h := range w.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			v.add(fmt.Sprintf("workflow.holidays[%d]", i), "%q is not a date; write YYYY-MM-DD, e.g. \"2026-04-17\"", h)
		}
	}
	v.atLeast("workflow.max_attachment_bytes", w.MaxAttachmentBytes, 1)
	v.atLeast("workflow.max_letter_bytes", w.MaxLetterBytes, 1)
	if w.MaxAttachmentBytes > w.MaxLetterBytes && w.MaxLetterBytes > 0 {
		v.add("workflow.max_attachment_bytes", "%d is larger than workflow.max_letter_bytes (%d), which bounds all attachments of a letter together; lower it or raise max_letter_bytes", w.MaxAttachmentBytes, w.MaxLetterBytes)
	}
	v.atLeastDuration("workflow.escalation_interval", w.EscalationInterval, time.Second)
	v.atLeastDuration("workflow.due_date_horizon", w.DueDateHorizon, 24*time.Hour)
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

type validator struct {
	errs []error
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// atLeast reports n < lowest, naming the key's default as the fix.
func (v *validator) atLeast(key string, n, lowest int64) {
	if n >= lowest {
		return
	}
	what := "a positive number"
	if lowest == 0 {
		what = "0 or more"
	} else if lowest > 1 {
		what = fmt.Sprintf("%d or more", lowest)
	}
	v.add(key, "%d is not allowed; use %s (default %s)", n, what, defaultText(key))
}

// atLeastDuration reports d < lowest, naming the key's default as the fix.
func (v *validator) atLeastDuration(key string, d Duration, lowest time.Duration) {
	if d.Duration() >= lowest {
		return
	}
	what := "0 or a positive duration"
	if lowest > 0 {
		what = "a duration of at least " + fmtDuration(lowest)
	}
	v.add(key, "%s is not allowed; use %s (default %s)", d, what, defaultText(key))
}

// listenAddr checks a listener address; empty disables the listener.
func (v *validator) listenAddr(key, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		v.add(key, "%q is not host:port; write e.g. \"127.0.0.1:%s\" or \":%s\" (empty disables the listener)", addr, defaultPort(key), defaultPort(key))
	}
}

// distinctListeners reports two listeners on one port of one address.
func (v *validator) distinctListeners(ls [][2]string) {
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	for i := range ls {
		hi, pi, err := net.SplitHostPort(ls[i][1])
		if err != nil || pi == "0" {
			continue
		}
		for j := range i {
			hj, pj, err := net.SplitHostPort(ls[j][1])
			if err != nil || pj != pi {
				continue
			}
			if hi == hj || wildcard(hi) || wildcard(hj) {
				v.add(ls[i][0], "%q collides with %s %q; give each listener its own port", ls[i][1], ls[j][0], ls[j][1])
			}
		}
	}
}

func defaultPort(key string) string {
	_, port, err := net.SplitHostPort(defaultText(key))
	if err != nil || port == "" {
		return "8080"
	}
	return port
}

// defaultText is the default value of the key at path, as the file writes it.
func defaultText(path string) string {
	f, ok := schema().byPath[path]
	if !ok {
		return "?"
	}
	x := reflect.ValueOf(Default()).Elem().FieldByIndex(f.index)
	return fmt.Sprint(x.Interface())
}

// fmtDuration writes d as the config would: "15m", "12h", "1h30m", "45s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// isHostname accepts an ASCII DNS name: letters, digits and hyphens in
// labels of 1 to 63, no leading or trailing hyphen, at most 253 in all.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// isDomainSuffix accepts a domain for a suffix rule, in ASCII or Unicode
// (Arabic IDN labels are first-class), with an optional leading dot.
func isDomainSuffix(s string) bool {
	s = strings.TrimPrefix(s, ".")
	if s == "" || len(s) > 253 || strings.ContainsAny(s, " \t@*/:\\,;") {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
	}
	return true
}

// addrsOrCIDRs checks that every item of a list is an IP address or a CIDR.
func (v *validator) addrsOrCIDRs(key string, list []string) {
	for i, p := range list {
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		v.add(fmt.Sprintf("%s[%d]", key, i), "%q is not an IP address or CIDR; write e.g. \"10.0.0.5\" or \"10.0.0.0/24\"", p)
	}
}
