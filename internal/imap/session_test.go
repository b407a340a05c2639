package imap_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// RFC 9051 §6.1.1 (CAPABILITY), §7.2.2: what the server advertises after
// login — the set the issue lists, APPENDLIMIT with its value, and never
// LITERAL+ (a refused non-synchronising literal would desynchronise the
// session, see DESIGN §10).
func TestCapabilitiesAfterLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{appendLimit: 1 << 20})
	c := e.login(t, user1)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{
		imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapIdle, imap.CapNamespace, imap.CapUIDPlus,
		imap.CapMove, imap.CapESearch, imap.CapSearchRes, imap.CapListExtended, imap.CapListStatus,
		imap.CapStatusSize, imap.CapSpecialUse, imap.CapCreateSpecialUse, imap.CapChildren,
		imap.CapBinary, imap.CapUnselect, imap.CapUnauthenticate, imap.CapUTF8Accept,
		"APPENDLIMIT=1048576", imap.CapCondStore, imap.CapQResync, imap.CapQuota, "QUOTA=RES-STORAGE",
	} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing; have %v", want, caps)
		}
	}
	for _, never := range []imap.Cap{imap.CapLiteralPlus, imap.CapSort, imap.CapQuotaSet} {
		if caps.Has(never) {
			t.Errorf("capability %s advertised", never)
		}
	}
}

// RFC 9051 §6.2.1 (STARTTLS), §6.2.3 (LOGIN), §11.1: before TLS the server
// offers STARTTLS and LOGINDISABLED, and refuses LOGIN and AUTHENTICATE
// PLAIN with a clear NO [PRIVACYREQUIRED]; after STARTTLS, LOGIN works.
func TestLoginRefusedBeforeTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawPlain(t)
	lines, st := r.cmd("CAPABILITY")
	if !strings.HasPrefix(st, "OK") || len(lines) == 0 || !strings.Contains(lines[0], "STARTTLS") || !strings.Contains(lines[0], "LOGINDISABLED") {
		t.Fatalf("CAPABILITY before TLS: %q %s", lines, st)
	}
	if strings.Contains(lines[0], "AUTH=PLAIN") {
		t.Errorf("AUTH=PLAIN offered before TLS: %q", lines[0])
	}
	if _, st := r.cmd(fmt.Sprintf("LOGIN %s %q", user1, password)); !strings.HasPrefix(st, "NO [PRIVACYREQUIRED]") {
		t.Errorf("LOGIN before TLS: %s", st)
	}
	if _, st := r.cmd("AUTHENTICATE PLAIN AHUxQG1vZi5nb3Yuc3kAY29ycmVjdCBob3JzZSBiYXR0ZXJ5"); !strings.HasPrefix(st, "NO [PRIVACYREQUIRED]") {
		t.Errorf("AUTHENTICATE PLAIN before TLS: %s", st)
	}

	// The same connection upgraded.
	if _, st := r.cmd("STARTTLS"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("STARTTLS: %s", st)
	}
	tc := tls.Client(r.c, e.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(tc, nil)
	defer c.Close()
	if err := c.Login(user1, password).Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
	selectBox(t, c, "INBOX")
}

// RFC 9051 §6.2.2 (AUTHENTICATE), RFC 4616 (PLAIN), RFC 8437
// (UNAUTHENTICATE).
func TestAuthenticatePlainAndUnauthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial(t, nil)
	if err := c.Authenticate(sasl.NewPlainClient("", user1, password)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	selectBox(t, c, "INBOX")
	if err := c.Unauthenticate().Wait(); err != nil {
		t.Fatalf("UNAUTHENTICATE: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err == nil {
		t.Fatal("SELECT after UNAUTHENTICATE succeeded")
	}
	if err := c.Login(user2, password).Wait(); err != nil {
		t.Fatalf("LOGIN after UNAUTHENTICATE: %v", err)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", user1, "wrong")); err == nil {
		t.Error("AUTHENTICATE with a wrong password in the authenticated state succeeded")
	}
}

// RFC 9051 §6.2.3: a wrong password is NO [AUTHENTICATIONFAILED], and
// failures count towards the directory's lockout (after which even the
// right password is refused).
func TestLoginFailuresLockTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{lockout: 3})
	for i := range 3 {
		c := e.dial(t, nil)
		err := c.Login(user1, "wrong password").Wait()
		if imapCode(err) != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	c := e.dial(t, nil)
	if err := c.Login(user1, password).Wait(); imapCode(err) != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("locked account logged in: %v", err)
	}
}

// DESIGN.md §3a: a user who must change their password is refused, by
// LOGIN and AUTHENTICATE alike, with NO [EXPIRED] (RFC 5530 §3) naming
// the web page where to change it; once changed, they log in.
func TestLoginRefusesAPasswordThatMustChange(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOptions{backend: backend})
			ctx := context.Background()
			if err := e.dir.SetPassword(ctx, "test", user2, password, true); err != nil {
				t.Fatal(err)
			}
			const want = "set a new one at https://diwan.example.gov/account"
			c := e.dial(t, nil)
			err := c.Login(user2, password).Wait()
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeExpired || !strings.Contains(ie.Text, want) {
				t.Fatalf("LOGIN: %v, want NO [EXPIRED] naming the account page", err)
			}
			err = c.Authenticate(sasl.NewPlainClient("", user2, password))
			if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeExpired || !strings.Contains(ie.Text, want) {
				t.Fatalf("AUTHENTICATE PLAIN: %v", err)
			}
			if u, _ := e.dir.UserByLogin(ctx, user2); u.FailedLogins != 0 {
				t.Errorf("the refusal counted as a failed login: %d", u.FailedLogins)
			}
			if err := e.dir.ChangePassword(ctx, user2, password, "a brand new secret"); err != nil {
				t.Fatal(err)
			}
			if err := c.Login(user2, "a brand new secret").Wait(); err != nil {
				t.Fatalf("LOGIN after the change: %v", err)
			}
			selectBox(t, c, "INBOX")
		})
	}
}

// RFC 9051 §6.3.1 (ENABLE), §6.3.10 (NAMESPACE): one personal namespace
// with "/".
func TestNamespace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	ns, err := c.Namespace().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' || ns.Other != nil || ns.Shared != nil {
		t.Errorf("NAMESPACE: %+v", ns)
	}
}

// RFC 9051 §6.4 and §7.1.5: after login an unknown or malformed command
// gets BAD and the session goes on.
func TestBadCommandsKeepTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	r.login(user1)
	for _, cmd := range []string{
		"FROBNICATE",
		"FETCH",
		"FETCH 1:* (FLAGS",
		"SELECT",
		"STORE 1 FLAGS",
		"LIST \"\"",
		"UID FROB 1",
		"FETCH 1 (BODY[4.MIMEX])",
	} {
		if _, st := r.cmd(cmd); !strings.HasPrefix(st, "BAD") {
			t.Errorf("%s: %s, want BAD", cmd, st)
		}
	}
	// imapserver's parser returns a plain error for these, which it
	// answers with NO [SERVERBUG]: not BAD, but the session goes on too.
	for _, cmd := range []string{"SEARCH UNKNOWNKEY", "APPEND INBOX (\\Seen) \"not a date\" {3}"} {
		if _, st := r.cmd(cmd); !strings.HasPrefix(st, "BAD") && !strings.HasPrefix(st, "NO") {
			t.Errorf("%s: %s, want BAD or NO", cmd, st)
		}
	}
	if _, st := r.cmd("FETCH 1 FLAGS"); !strings.HasPrefix(st, "BAD") {
		t.Errorf("FETCH with nothing selected: %s, want BAD", st)
	}
	if _, st := r.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("session did not go on: %s", st)
	}
	if _, st := r.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("NOOP: %s", st)
	}
}

// RFC 9051 §7.1.5: the server says BYE before it closes the connection on
// shutdown, to idle and busy sessions alike, and Serve returns.
func TestShutdownSaysBye(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	r.login(user1)
	r2 := e.rawTLS(t)
	r2.login(user2)
	r2.cmd("SELECT INBOX")
	r2.send("i1 IDLE\r\n")
	if l := r2.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	e.stop()
	for i, c := range []*raw{r, r2} {
		if l := c.line(); !strings.HasPrefix(l, "* BYE") {
			t.Errorf("connection %d: got %q, want * BYE", i, l)
		}
	}
	// And nothing listens any more.
	if c, err := net.DialTimeout("tcp", e.implicit, time.Second); err == nil {
		c.Close()
		t.Error("listener still accepts after shutdown")
	}
}

// RFC 9051 §5.4: an authenticated connection silent for longer than the
// idle timeout is closed.
func TestIdleTimeoutClosesSilentConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{idle: time.Second})
	c := e.login(t, user1)
	selectBox(t, c, "INBOX")
	// A client that connects to the implicit-TLS port and never starts
	// the handshake is dropped too.
	mute, err := net.Dial("tcp", e.implicit)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	select {
	case <-c.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("idle connection still open")
	}
	mute.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(mute); err != nil {
		t.Fatalf("silent TLS client: %v (want the server to close)", err)
	}
	eventually(t, "the sessions to end", func() bool { return e.srv.Sessions() == 0 })
}

// Bad input: a client that drops in the middle of an APPEND literal stores
// nothing.
func TestDropMidLiteralStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	msg := simpleMsg("cut", "a@mof.gov.sy", user1, strings.Repeat("x", 4000))
	r := e.rawTLS(t)
	r.login(user1)
	r.send(fmt.Sprintf("a1 APPEND INBOX {%d}\r\n", len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND continuation: %q", l)
	}
	r.send(msg[:len(msg)/2])
	r.c.Close()
	eventually(t, "the dropped session to end", func() bool { return e.srv.Sessions() == 0 })

	c := e.login(t, user1)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 0 || *st.Size != 0 {
		t.Errorf("after a cut APPEND: %d messages, %d bytes", *st.NumMessages, *st.Size)
	}
}

// Bad input: 1,000 connections opened and dropped — before the greeting,
// mid-command, after login and with a mailbox selected — leave no
// goroutine and no file descriptor behind.
func TestThousandDroppedConnectionsLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t, envOptions{})
	// Warm up what is created once (TLS session cache, feed) or up to a
	// fixed bound (the database's connection pools, SQLite's read pool
	// included): sessions side by side, as the dropped ones will be.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			warm := e.login(t, user1)
			selectBox(t, warm, "INBOX")
			warm.Logout().Wait()
			warm.Close()
		})
	}
	wg.Wait()
	eventually(t, "the warm-up sessions to end", func() bool { return e.srv.Sessions() == 0 })

	baseG := runtime.NumGoroutine()
	baseFD := openFDs(t)

	const n = 1000
	sem := make(chan struct{}, 32)
	done := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			done <- dropOne(e, i)
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every session to end", func() bool { return e.srv.Sessions() == 0 })
	eventually(t, "goroutines to return to the baseline", func() bool {
		return runtime.NumGoroutine() <= baseG+2
	})
	eventually(t, "file descriptors to return to the baseline", func() bool {
		return openFDs(t) <= baseFD+2
	})
}

func dropOne(e *env, i int) error {
	switch i % 5 {
	case 0: // TCP only
		c, err := net.Dial("tcp", e.implicit)
		if err != nil {
			return err
		}
		return c.Close()
	case 1: // cleartext, half a command
		c, err := net.Dial("tcp", e.starttls)
		if err != nil {
			return err
		}
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil {
			return err
		}
		c.Write([]byte("a1 CAPAB"))
		return c.Close()
	case 2: // TLS, greeting, gone
		c, err := tls.Dial("tcp", e.implicit, e.clientTLS)
		if err != nil {
			return err
		}
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil {
			return err
		}
		return c.Close()
	default: // logged in (and selected), then dropped without LOGOUT
		c, err := imapclient.DialTLS(e.implicit, &imapclient.Options{TLSConfig: e.clientTLS})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Login(user1, password).Wait(); err != nil {
			return err
		}
		if i%5 == 4 {
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				return err
			}
		}
		return nil
	}
}

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// RFC 7301: a client that offers ALPN "imap" (as go-imap's client does) is
// served on the implicit-TLS port even when the certificate's config, shared
// with the HTTPS listener, names HTTP's protocols.
func TestImplicitTLSAcceptsALPNImap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{serverALPN: []string{"h2", "http/1.1"}})
	c := e.login(t, user1)
	selectBox(t, c, "INBOX")
}
