package imap_test

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
)

// readsBye reads what the server sends until it closes the connection and
// fails unless that ends with "* BYE text".
func readsBye(t *testing.T, c net.Conn, text string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %q", got)
	}
	lines := strings.Split(strings.TrimRight(string(got), "\r\n"), "\r\n")
	if last := lines[len(lines)-1]; last != "* BYE "+text {
		t.Fatalf("server sent %q, want it to end with * BYE %s", got, text)
	}
}

// Issue 14 item 4: imap.max_connections_per_ip counts the connections of
// one address across both listeners; the one over it is answered BYE
// (RFC 9051 §7.1.5) and closed, and a connection that ends frees its place.
func TestIMAPRefusesConnectionsOverThePerAddressLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{perIP: 3})
	first := e.rawTLS(t)
	e.rawPlain(t)
	e.rawTLS(t)

	for _, dial := range []func() (net.Conn, error){
		func() (net.Conn, error) { return tls.Dial("tcp", e.implicit, e.clientTLS) },
		func() (net.Conn, error) { return net.Dial("tcp", e.starttls) },
	} {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		readsBye(t, c, "Too many connections from your address")
		c.Close()
	}

	if _, st := first.cmd("LOGOUT"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGOUT: %s", st)
	}
	eventually(t, "the logged-out session to end", func() bool { return e.srv.Sessions() == 2 })
	c := e.login(t, user1)
	selectBox(t, c, "INBOX")

	if got := e.metric(t, "diwan_imap_refusals_total", "reason", "connections_per_ip"); got != 2 {
		t.Errorf("refusals_total{reason=connections_per_ip} = %v, want 2", got)
	}
}

// Issue 14 item 4: imap.max_connections_per_user_ip bounds one user's
// logged-in connections from one address, as Dovecot's
// mail_max_userip_connections: the login over it is answered NO [LIMIT]
// (RFC 5530) and the connection stays usable; other users are not
// affected, and LOGOUT and UNAUTHENTICATE give the place back.
func TestIMAPLoginOverThePerUserAddressLimitAnswersLimit(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			e := newEnv(t, envOptions{backend: b, perUserIP: 2})
			e.login(t, user1)
			second := e.login(t, user1)

			c := e.dial(t, nil)
			err := c.Login(user1, password).Wait()
			if imapCode(err) != imap.ResponseCodeLimit || !strings.Contains(err.Error(), "Too many connections for this user from your address") {
				t.Fatalf("third LOGIN: %v, want NO [LIMIT]", err)
			}
			if err := c.Authenticate(sasl.NewPlainClient("", user1, password)); imapCode(err) != imap.ResponseCodeLimit {
				t.Fatalf("AUTHENTICATE PLAIN over the limit: %v, want NO [LIMIT]", err)
			}
			// Another user from the same address logs in on the same
			// connection.
			if err := c.Login(user2, password).Wait(); err != nil {
				t.Fatalf("LOGIN %s: %v", user2, err)
			}

			if err := second.Unauthenticate().Wait(); err != nil {
				t.Fatal(err)
			}
			third := e.login(t, user1)
			if err := third.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the logged-out session to give its place back", func() bool {
				c := e.dial(t, nil)
				defer c.Close()
				return c.Login(user1, password).Wait() == nil
			})
		})
	}
}

// Issue 14 item 6: a connection gets three wrong logins; the third is
// answered NO [AUTHENTICATIONFAILED], then BYE, and the connection is
// closed, as SMTP closes after its third refused AUTH.
func TestIMAPClosesTheConnectionAfterThreeFailedLogins(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			e := newEnv(t, envOptions{backend: b})
			r := e.rawTLS(t)
			for i := range 2 {
				if _, st := r.cmd(fmt.Sprintf("LOGIN %s wrong%d", user1, i)); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
					t.Fatalf("attempt %d: %s", i, st)
				}
			}
			r.send("t9 AUTHENTICATE PLAIN " + saslPlain(user1, "wrong") + "\r\n")
			if l := r.line(); !strings.HasPrefix(l, "t9 NO [AUTHENTICATIONFAILED]") {
				t.Fatalf("third attempt: %s", l)
			}
			readsBye(t, r.c, "Too many failed logins")
		})
	}
}

// Issue 14 item 6: logins pipelined behind the third failure are refused
// without a password check, so one connection cannot try 30 passwords:
// with a lockout threshold of 5, ten wrong logins sent at once leave the
// account usable.
func TestIMAPPipelinedLoginsStopAtTheThirdFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{lockout: 5})
	r := e.rawTLS(t)
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, "p%d LOGIN %s wrong%d\r\n", i, user1, i)
	}
	r.send(b.String())
	for {
		l := r.line()
		if strings.HasPrefix(l, "* BYE") {
			break
		}
		if !strings.Contains(l, " NO ") {
			t.Fatalf("pipelined wrong LOGIN answered %q", l)
		}
	}
	c := e.login(t, user1)
	selectBox(t, c, "INBOX")
}

// Issue 14 item 11: every login is logged with the protocol, the user, the
// client's address and the result, as Dovecot does.
func TestIMAPLogsEveryLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{perUserIP: 1})
	e.login(t, user1)
	c := e.dial(t, nil)
	if err := c.Login(user2, "wrong").Wait(); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Login(user1, password).Wait(); err == nil {
		t.Fatal("login over the per-user limit accepted")
	}
	want := []struct{ user, result string }{{user1, "ok"}, {user2, "failed"}, {user1, "limit"}}
	got := e.errors.loginRecords()
	if len(got) != len(want) {
		t.Fatalf("login records: %v", got)
	}
	for i, w := range want {
		g := got[i]
		if g["level"] != "INFO" || g["protocol"] != "imap" || g["user"] != w.user || g["client"] != "127.0.0.1" || g["result"] != w.result {
			t.Errorf("login record %d: %v, want user=%s result=%s", i, g, w.user, w.result)
		}
	}
}

// Issue 14 item 11: the IMAP metrics count sessions by listener, commands
// by name and result, logins, and internal errors.
func TestIMAPMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.rawPlain(t)
	c := e.login(t, user1)
	if _, err := c.Select("No such box", nil).Wait(); err == nil {
		t.Fatal("SELECT of a missing mailbox succeeded")
	}
	selectBox(t, c, "INBOX")
	if _, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "x"}}}, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	r := e.rawTLS(t)
	r.login(user2)
	r.cmd("SELECT INBOX")
	if _, st := r.cmd("SEARCH " + strings.Repeat("NOT ", 100) + "ALL"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("deep SEARCH: %s", st)
	}

	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"diwan_imap_sessions", []string{"listener", "imap"}, 1},
		{"diwan_imap_sessions", []string{"listener", "imaps"}, 2},
		{"diwan_imap_sessions_started_total", []string{"listener", "imaps"}, 2},
		{"diwan_imap_commands_total", []string{"command", "SELECT", "result", "ok"}, 2},
		{"diwan_imap_commands_total", []string{"command", "SELECT", "result", "no"}, 1},
		{"diwan_imap_commands_total", []string{"command", "UID SEARCH", "result", "ok"}, 1},
		{"diwan_imap_commands_total", []string{"command", "SEARCH", "result", "bad"}, 1},
		{"diwan_imap_commands_total", []string{"command", "LOGIN", "result", "ok"}, 2},
		{"diwan_imap_logins_total", []string{"result", "ok"}, 2},
	} {
		if got := e.metric(t, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	if got := e.metric(t, "diwan_imap_errors_total"); got != 0 {
		t.Errorf("errors_total = %v, want 0", got)
	}

	c.Logout().Wait()
	eventually(t, "the sessions gauge to drop", func() bool {
		return e.metric(t, "diwan_imap_sessions", "listener", "imaps") == 1
	})
}

// saslPlain is the initial response of AUTHENTICATE PLAIN.
func saslPlain(user, pass string) string {
	_, ir, _ := sasl.NewPlainClient("", user, pass).Start()
	return base64.StdEncoding.EncodeToString(ir)
}

// metric returns the value of the series of family name with the given
// label pairs; 0 when there is none.
func (e *env) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	fams, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Issue 14 item 7: SEARCH with NOT and OR nested deeper than 64 levels (or
// more than 1000 keys) is answered BAD naming the limit, on every
// database, instead of NO [SERVERBUG] from the database's expression
// depth limit; the session goes on, and 64 levels still work.
func TestIMAPSearchRefusesDeepNestingWithBad(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		appendMsg(t, c, "INBOX", simpleMsg("hello", "Sara <sara@mof.gov.sy>", user1, "body\r\n"), nil)
		r := e.rawTLS(t)
		r.login(user1)
		if _, st := r.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("SELECT: %s", st)
		}
		for _, tc := range []struct{ search, limit string }{
			{strings.Repeat("NOT ", 1000) + "ALL", "64 levels"},
			{strings.Repeat("NOT (", 500) + "ALL" + strings.Repeat(")", 500), "64 levels"},
			{strings.Repeat("OR SEEN ", 100) + "ALL", "64 levels"},
			{strings.Repeat("SUBJECT x ", 1001), "at most 1000"},
		} {
			if _, st := r.cmd("UID SEARCH " + tc.search); !strings.HasPrefix(st, "BAD") || !strings.Contains(st, tc.limit) {
				t.Errorf("SEARCH %.40s…: %s, want BAD naming %q", tc.search, st, tc.limit)
			}
		}
		lines, st := r.cmd("SEARCH " + strings.Repeat("NOT ", 64) + "ALL")
		if !strings.HasPrefix(st, "OK") || len(lines) != 1 || lines[0] != "* SEARCH 1" {
			t.Fatalf("SEARCH with 64 NOT: %q %s", lines, st)
		}
	})
}
