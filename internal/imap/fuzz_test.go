package imap_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzCommands feeds arbitrary bytes to the command front door of a
// logged-in session (PREAUTH, no TLS) and checks that the server neither
// panics nor logs an error, closes the connection once the client has
// finished sending, and still greets the next client. Under plain
// `go test` it runs the seed corpus below; `go test -fuzz FuzzCommands`
// explores further.
func FuzzCommands(f *testing.F) {
	for _, seed := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (FLAGS BODY[] BODYSTRUCTURE ENVELOPE)\r\n",
		"a APPEND INBOX (\\Seen $k) {5}\r\nhello\r\nb SELECT INBOX\r\nc FETCH 1 (BODY[1.2.3.MIME] BINARY[1]<0.10> BINARY.SIZE[2])\r\n",
		"a APPEND INBOX {26}\r\nContent-Type: multipart/x\r\n\r\nd SELECT INBOX\r\ne FETCH * BODY[TEXT]<5.1>\r\n",
		"a SELECT INBOX\r\nb SEARCH OR (FROM x) NOT (TO y) UID 1:* LARGER 5 SINCE 1-Jan-2026\r\n",
		"a SELECT INBOX\r\nb SEARCH RETURN (MIN MAX COUNT SAVE) ALL\r\nc FETCH $ UID\r\n",
		"a SELECT INBOX\r\nb SEARCH CHARSET UTF-8 SUBJECT {6}\r\n\xd8\xaa\xd9\x82\xd8\xb1\r\n",
		"a LIST \"\" \"*\" RETURN (STATUS (MESSAGES SIZE) SPECIAL-USE CHILDREN)\r\nb LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"\r\n",
		"a SELECT INBOX\r\nb STORE 1:* +FLAGS.SILENT (\\Seen $x)\r\nc UID STORE 1:* FLAGS ()\r\n",
		"a SELECT INBOX\r\nb IDLE\r\nDONE\r\nc NOOP\r\n",
		"a SELECT INBOX\r\nb UID MOVE 1:* Trash\r\nc UID COPY 1:* Nowhere\r\nd EXPUNGE\r\ne CLOSE\r\n",
		"a APPEND INBOX {99999999999}\r\n",
		"a APPEND INBOX {10+}\r\n0123",
		"a FETCH 1 BODY[HEADER.FIELDS (Subject",
		"a CREATE \"&Jjo\"\r\nb CREATE \"a/../b\"\r\nc RENAME INBOX Old\r\nd DELETE Old\r\n",
		"a ENABLE IMAP4rev2 UTF8=ACCEPT\r\nb SELECT INBOX\r\nc STATUS INBOX (MESSAGES UIDNEXT DELETED-STORAGE)\r\n",
		"a EXAMINE INBOX\r\nb STORE 1 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\nd UNSELECT\r\ne UNAUTHENTICATE\r\nf NOOP\r\n",
		"\x00\xff\r\n* BAD\r\n+\r\n",
		"a SELECT INBOX\r\nb FETCH 4294967295:1 FLAGS\r\nc UID FETCH 0 FLAGS\r\n",
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, envOptions{preAuth: user1})
	f.Fuzz(func(t *testing.T, script []byte) {
		c, err := net.Dial("tcp", e.starttls)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		greeting, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(greeting, "* PREAUTH") {
			t.Fatalf("greeting %q: %v", greeting, err)
		}
		// Read concurrently: a script may make the server write more than
		// the socket buffers before the client has finished sending.
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, r)
			done <- err
		}()
		c.Write(script)
		c.(*net.TCPConn).CloseWrite()
		if err := <-done; err != nil && !isReset(err) {
			t.Fatalf("reading until the server closed: %v", err)
		}
		if msgs := e.errors.messages(); len(msgs) > 0 {
			t.Fatalf("the server logged errors:\n%s", strings.Join(msgs, "\n"))
		}
		// Still serving.
		c2, err := net.Dial("tcp", e.starttls)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		if l, err := bufio.NewReader(c2).ReadString('\n'); err != nil || !strings.HasPrefix(l, "* PREAUTH") {
			t.Fatalf("next greeting %q: %v", l, err)
		}
	})
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}
