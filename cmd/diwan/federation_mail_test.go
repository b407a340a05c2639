package main

// Mail clients of the federation tests: submission with AUTH over
// STARTTLS verified against the test CA, a stranger's SMTP client on port
// 25, and an IMAP INBOX watched with IDLE.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fedMessage is a plain message from from to to with a Message-ID of id.
func fedMessage(from, to, id, subject string) string {
	return fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nمرحبا من %s\r\n",
		from, to, subject, id, time.Now().Format(time.RFC1123Z), from)
}

// submit sends msg as login (envelope sender login) to rcpts on the
// peer's submission listener; the first refusal is returned.
func (p *peer) submit(login string, rcpts []string, msg string) error {
	return p.submitAs(login, login, rcpts, msg)
}

// submitAs is submit with the envelope sender from.
func (p *peer) submitAs(login, from string, rcpts []string, msg string) error {
	c, err := smtp.Dial(p.submission)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(p.ca.client(p.host)); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", login, p.users[login], "127.0.0.1")); err != nil {
		return err
	}
	return sendOn(c, from, rcpts, msg)
}

// sendOn runs one mail transaction on c and QUIT.
func sendOn(c *smtp.Client, from string, rcpts []string, msg string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// inject sends msg straight to the peer's port 25 from the local address
// from (a server that is not the sender domain's), over STARTTLS.
func (p *peer) inject(from, envFrom string, rcpts []string, msg string) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", p.ip+":25")
	if err != nil {
		return err
	}
	c, err := smtp.NewClient(conn, p.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("stranger.example"); err != nil {
		return err
	}
	if err := c.StartTLS(p.ca.client(p.host)); err != nil {
		return err
	}
	return sendOn(c, envFrom, rcpts, msg)
}

// smtpCode fails the test unless err is an SMTP reply code with text
// containing want.
func smtpCode(t testing.TB, what string, err error, code int, want string) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != code || !strings.Contains(te.Msg, want) {
		t.Fatalf("%s: %v, want %d %s", what, err, code, want)
	}
}

// mailbox is a user's INBOX of a peer, selected over IMAP (STARTTLS,
// verified against the test CA) and watched with IDLE: every EXISTS the
// server sends is seen at once.
type mailbox struct {
	t      testing.TB
	c      *imapclient.Client
	mu     sync.Mutex
	exists uint32
	moved  chan struct{} // closed and replaced on every change of exists
	idle   *imapclient.IdleCommand
}

// openMailbox logs in as login on the peer and selects its INBOX in IDLE.
func (p *peer) openMailbox(t testing.TB, login string) *mailbox {
	t.Helper()
	m := &mailbox{t: t, moved: make(chan struct{})}
	c, err := imapclient.DialStartTLS(p.imap, &imapclient.Options{
		TLSConfig: p.ca.client(p.host),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					m.set(*d.NumMessages)
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.c = c
	t.Cleanup(func() { c.Close() })
	if err := c.Login(login, p.users[login]).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	m.set(sel.NumMessages)
	m.startIdle()
	return m
}

func (m *mailbox) set(n uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n != m.exists {
		m.exists = n
		close(m.moved)
		m.moved = make(chan struct{})
	}
}

func (m *mailbox) startIdle() {
	idle, err := m.c.Idle()
	if err != nil {
		m.t.Fatal(err)
	}
	m.idle = idle
}

// wait waits until the INBOX holds at least n messages, at most d.
func (m *mailbox) wait(n uint32, d time.Duration) {
	m.t.Helper()
	deadline := time.After(d)
	for {
		m.mu.Lock()
		have, moved := m.exists, m.moved
		m.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-moved:
		case <-deadline:
			m.t.Fatalf("INBOX holds %d messages after %s, want %d", have, d, n)
		}
	}
}

// headers ends IDLE and returns the header section of every message of
// the INBOX, by Message-ID, failing on a Message-ID seen twice.
func (m *mailbox) headers() map[string]string {
	m.t.Helper()
	if err := m.idle.Close(); err != nil {
		m.t.Fatal(err)
	}
	if err := m.idle.Wait(); err != nil {
		m.t.Fatal(err)
	}
	defer m.startIdle()
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	msgs, err := m.c.Fetch(all, &imap.FetchOptions{
		Envelope:    true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
	}).Collect()
	if err != nil {
		m.t.Fatal(err)
	}
	out := map[string]string{}
	for _, msg := range msgs {
		id := msg.Envelope.MessageID
		if _, dup := out[id]; dup {
			m.t.Errorf("message <%s> is in the INBOX twice", id)
		}
		for _, b := range msg.BodySection {
			out[id] = string(b.Bytes)
		}
	}
	return out
}

// count is how many messages the INBOX holds, as the server last said.
func (m *mailbox) count() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exists
}

// waitFor waits, at most d, until every message of ids is in the INBOX,
// and fails if one is there twice.
func (m *mailbox) waitFor(ids []string, d time.Duration) map[string]string {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var missing []string
		var hs map[string]string
		seen := m.count()
		if seen > 0 {
			hs = m.headers()
		}
		for _, id := range ids {
			if _, ok := hs[id]; !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return hs
		}
		left := time.Until(deadline)
		if left <= 0 {
			m.t.Fatalf("after %s, %d of %d messages are not in the INBOX: %v", d, len(missing), len(ids), missing)
		}
		m.wait(seen+1, left)
	}
}
