package smtp_test

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/smtp"
)

// replyLine is one line of an SMTP reply (RFC 5321 §4.2).
var (
	replyLine    = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)
	enhancedCode = regexp.MustCompile(`^[245][0-9][0-9] [245]\.[0-9]{1,3}\.[0-9]{1,3} `)
)

// FuzzInboundFrontDoor throws arbitrary bytes at the MX listener after the
// greeting and checks what comes back: the server never panics (go-smtp
// would recover, answer 421 and log it; the log is checked), every line is
// a reply line, and every final reply line carries an enhanced status code
// (RFC 2034) — except the EHLO list and the 354 and 334 prompts. The seeds
// run as a plain test; `go test -fuzz FuzzInboundFrontDoor` explores.
func FuzzInboundFrontDoor(f *testing.F) {
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy>\r\nRCPT TO:<ali@mof.gov.sy>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy>\r\nRCPT TO:<victim%gmail.com@mof.gov.sy>\r\nRCPT TO:<@mof.gov.sy:v@gmail.com>\r\n",
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy>\r\nRCPT TO:<\"v@gmail.com\"@mof.gov.sy>\r\nRCPT TO:<a\xff@mof.gov.sy>\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@mof.gov.sy>\r\nDATA\r\nbare\nLF\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy>\r\nRCPT TO:<ali@mof.gov.sy>\r\nDATA\r\nx\n.\nMAIL FROM:<b@c>\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy>\r\nRCPT TO:<ali@mof.gov.sy>\r\nBDAT 5\r\nabcdeBDAT 0 LAST\r\n",
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy>\r\nRCPT TO:<ali@mof.gov.sy>\r\nBDAT 99999999999\r\n",
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy> SIZE=99999999999 BODY=BINARYMIME SMTPUTF8 AUTH=<>\r\n",
		"EHLO x\r\nAUTH PLAIN AGFsaQBwdw==\r\nAUTH LOGIN\r\n*\r\nSTARTTLS\r\n\x16\x03\x01garbage\r\n",
		"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
		"EHLO " + strings.Repeat("a", 3000) + "\r\n",
		"EHLO x\r\nMAIL FROM:<a@moct.gov.sy>\r\nRCPT TO:<ali@mof.gov.sy>\r\nDATA\r\n" + strings.Repeat("y", 1200) + "\r\n.\r\n",
		"EHLO x\r\nVRFY ali\r\nEXPN all\r\nHELP\r\nNOOP\r\nRSET\r\nTURN\r\n\r\nXX\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@g\u043ev.sy> SMTPUTF8\r\nMAIL FROM:<a@" + arabic + ">\r\nRCPT TO:<ديوان@" + arabic + ">\r\n",
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, db.SQLite, func(o *smtp.Options) {
		o.ReadTimeout = 2 * time.Second
		o.MaxMessageBytes = 4096
	})
	addr := e.addr(smtp.Inbound)
	f.Fuzz(func(t *testing.T, input []byte) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(input); err != nil {
			return // the server may close early (too many errors)
		}
		conn.(*net.TCPConn).CloseWrite()
		out, _ := io.ReadAll(conn)
		checkReplies(t, string(out))
	})
}

func checkReplies(t *testing.T, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	first, ehlo := true, false
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if !replyLine.MatchString(line) {
			t.Fatalf("not a reply line: %q\nin\n%s", line, out)
		}
		final := line[3] == ' '
		switch {
		case first:
			first = false // the greeting
		case strings.HasPrefix(line, "250-Hello "):
			ehlo = true
		case ehlo && final:
			ehlo = false
		case ehlo, !final, strings.HasPrefix(line, "354 "), strings.HasPrefix(line, "334 "):
		default:
			if !enhancedCode.MatchString(line) {
				t.Fatalf("reply without an enhanced status code: %q\nin\n%s", line, out)
			}
		}
	}
}
