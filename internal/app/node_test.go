package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// backend is a storage configuration a node runs on.
type backend struct {
	name  string
	apply func(t *testing.T, cfg *config.Config)
}

// backends are the two storage configurations of DESIGN.md §8: one node on
// SQLite and the filesystem store, and PostgreSQL with S3.
var backends = []backend{
	{"sqlite+fs", func(*testing.T, *config.Config) {}},
	{"postgres+s3", func(t *testing.T, cfg *config.Config) {
		s3 := testenv.S3(t)
		cfg.Database = config.Database{Driver: "postgres", DSN: testenv.Postgres(t), AutoMigrate: true}
		cfg.Blob.Driver = "s3"
		cfg.Blob.S3.Endpoint = s3.Endpoint
		cfg.Blob.S3.Bucket = testenv.Bucket(t)
		cfg.Blob.S3.AccessKey = s3.AccessKey
		cfg.Blob.S3.SecretKey = s3.SecretKey
	}},
}

// Passwords of the users every node has.
const (
	aliPassword  = "ali password long"
	saraPassword = "sara password long"
)

// node is app.Serve running in this process on a data directory that does
// not exist before the node starts, with the submission, inbound and IMAP
// listeners on free loopback ports and the users ali@ and sara@mof.gov.sy.
type node struct {
	cfg        *config.Config
	submission string
	inbound    string
	imap       string
	log        *logBuffer
	lines      []string // what serve printed up to "ready"
	stop       func() error
}

// logBuffer keeps what the node logged, for tests that look for a line.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var announced = regexp.MustCompile(`^diwan: (smtp submission|smtp inbound|imap \(STARTTLS\)) on (\S+)$`)

// startNode configures a node on b (edit may change the configuration
// further), creates its users through app.Open and serves it until the test
// ends.
func startNode(t *testing.T, b backend, edit func(*config.Config)) *node {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data") // made by the code under test
	cfg.HTTP.Addr = ""
	cfg.SMTP.Hostname = "mail.mof.gov.sy"
	cfg.SMTP.InboundAddr = "127.0.0.1:0"
	cfg.SMTP.SubmissionAddr = "127.0.0.1:0"
	cfg.SMTP.SubmissionsAddr = ""
	cfg.SMTP.RatePerMinute = 0
	cfg.IMAP.Addr = "127.0.0.1:0"
	cfg.IMAP.TLSAddr = ""
	b.apply(t, cfg)
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()

	e, err := app.Open(ctx, cfg, log, true, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	actor := "cli:test"
	if _, err := e.Directory.AddMinistry(ctx, actor, directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Ministry of Finance"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Directory.AddDomain(ctx, actor, "mof.gov.sy", "MOF"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []directory.NewUser{
		{Address: "ali@mof.gov.sy", Name: "Ali", Ministry: "MOF", Roles: []string{"staff"}, Password: aliPassword},
		{Address: "sara@mof.gov.sy", Name: "Sara", Ministry: "MOF", Roles: []string{"staff"}, Password: saraPassword},
	} {
		if _, err := e.Directory.AddUser(ctx, actor, u); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	return serveNode(t, cfg)
}

// serveNode serves the node of cfg (set up before) until the test ends or
// its stop is called.
func serveNode(t *testing.T, cfg *config.Config) *node {
	t.Helper()
	n := &node{cfg: cfg, log: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(n.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	sctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := app.Serve(sctx, cfg, log, pw, io.Discard)
		pw.CloseWithError(fmt.Errorf("serve returned: %v", err))
		done <- err
	}()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if n.lines != nil && strings.HasPrefix(n.lines[len(n.lines)-1], "diwan: ready") {
				continue // the test reads lines once ready
			}
			n.lines = append(n.lines, line)
			if m := announced.FindStringSubmatch(line); m != nil {
				switch m[1] {
				case "smtp submission":
					n.submission = m[2]
				case "smtp inbound":
					n.inbound = m[2]
				default:
					n.imap = m[2]
				}
			}
			if strings.HasPrefix(line, "diwan: ready") {
				ready <- nil
			}
		}
		ready <- sc.Err()
		io.Copy(io.Discard, pr)
	}()
	var once sync.Once
	var stopErr error
	n.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(60 * time.Second):
				stopErr = fmt.Errorf("serve did not stop within 60s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("serve ended before ready: %v\n%s", err, n.log.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve not ready after 60s:\n%s", n.log.String())
	}
	return n
}

var insecure = &tls.Config{InsecureSkipVerify: true} // the self-signed pair of data_dir

// submit sends msg from ali to sara on the submission listener and returns
// the reply to the end of DATA (nil for 250).
func (n *node) submit(t *testing.T, msg io.Reader) error {
	t.Helper()
	return n.submitBreaking(t, msg, 0, nil)
}

// submitBreaking is submit that calls mid once after sending the first at
// octets of msg, before the rest and the end of DATA. Any refusal on the
// way is returned.
func (n *node) submitBreaking(t *testing.T, msg io.Reader, at int64, mid func()) error {
	t.Helper()
	return n.send(t, "sara@mof.gov.sy", msg, at, mid)
}

// send is submitBreaking to any recipient.
func (n *node) send(t *testing.T, rcpt string, msg io.Reader, at int64, mid func()) error {
	t.Helper()
	c, err := smtp.Dial(n.submission)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(insecure); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", "ali@mof.gov.sy", aliPassword, "127.0.0.1")); err != nil {
		return err
	}
	if err := c.Mail("ali@mof.gov.sy"); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if mid != nil {
		if _, err := io.CopyN(w, msg, at); err != nil {
			return err
		}
		mid()
	}
	if _, err := io.Copy(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	c.Quit()
	return nil
}

// imapLogin logs in as user over IMAP with STARTTLS.
func (n *node) imapLogin(t *testing.T, user, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(n.imap, &imapclient.Options{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// fetched is a message as FETCH BODY[] returned it, summed while it
// streamed: skip bytes at its start are left out of the sum (the trace
// fields the server put on top) and kept in prefix.
type fetched struct {
	size   int64
	prefix string
	sum    [sha256.Size]byte
}

// fetchRaw streams BODY[] of the message with the UID in the selected
// mailbox, leaving out its first len(RFC822.SIZE) - want bytes.
func fetchRaw(t *testing.T, c *imapclient.Client, uid imap.UID, want int64) fetched {
	t.Helper()
	cmd := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
		RFC822Size:  true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()
	msg := cmd.Next()
	if msg == nil {
		t.Fatalf("FETCH UID %d: no message", uid)
	}
	var f fetched
	var size int64 = -1
	for {
		item := msg.Next()
		if item == nil {
			break
		}
		switch it := item.(type) {
		case imapclient.FetchItemDataRFC822Size:
			size = it.Size
		case imapclient.FetchItemDataBodySection:
			if size < 0 {
				t.Fatal("FETCH answered BODY[] before RFC822.SIZE")
			}
			skip := size - want
			if skip < 0 {
				t.Fatalf("stored message has %d bytes, fewer than the %d sent", size, want)
			}
			var head bytes.Buffer
			if _, err := io.CopyN(&head, it.Literal, skip); err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			m, err := io.Copy(h, it.Literal)
			if err != nil {
				t.Fatal(err)
			}
			f.size, f.prefix = skip+m, head.String()
			copy(f.sum[:], h.Sum(nil))
		}
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// testMessage is a message of exactly size bytes (at least 200) from ali to
// sara, with lines of 78 octets: readable by every check on the way in,
// different for every size and seed.
type testMessage struct {
	header []byte
	size   int64
	seed   string
	off    int64
	line   [80]byte
}

func newTestMessage(size int64, seed string) *testMessage {
	h := fmt.Sprintf("From: Ali <ali@mof.gov.sy>\r\nTo: sara@mof.gov.sy\r\nSubject: %d bytes (%s)\r\nMessage-ID: <%s.%d@mof.gov.sy>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", size, seed, seed, size)
	return &testMessage{header: []byte(h), size: size, seed: seed}
}

const testAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// byteAt is the octet at offset off of the message body.
func (m *testMessage) byteAt(off int64) byte {
	body := off - int64(len(m.header))
	col := body % 80
	last := m.size - off // octets left, this one included
	switch {
	case last <= 2:
		return "\r\n"[2-last]
	case col == 78 && last == 3:
		return 'z' // no CR right before the final CRLF
	case col == 78:
		return '\r'
	case col == 79:
		return '\n'
	}
	return testAlphabet[((body/80)*7+col+int64(len(m.seed)))%36]
}

func (m *testMessage) Read(p []byte) (int, error) {
	if m.off >= m.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && m.off < m.size {
		if m.off < int64(len(m.header)) {
			k := copy(p[n:], m.header[m.off:])
			n += k
			m.off += int64(k)
			continue
		}
		// Whole lines are copied; the last bytes go one by one.
		if body := m.off - int64(len(m.header)); m.size-m.off > 2*int64(len(m.line)) {
			line, col := body/80, int(body%80)
			for i := range 78 {
				m.line[i] = testAlphabet[(line*7+int64(i)+int64(len(m.seed)))%36]
			}
			m.line[78], m.line[79] = '\r', '\n'
			k := copy(p[n:], m.line[col:])
			n += k
			m.off += int64(k)
			continue
		}
		p[n] = m.byteAt(m.off)
		n++
		m.off++
	}
	return n, nil
}

// sum is the SHA-256 of the whole message.
func (m *testMessage) sum(t *testing.T) [sha256.Size]byte {
	t.Helper()
	h := sha256.New()
	c := *m
	c.off = 0
	if _, err := io.Copy(h, &c); err != nil {
		t.Fatal(err)
	}
	var s [sha256.Size]byte
	copy(s[:], h.Sum(nil))
	return s
}
