package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fedWait bounds every wait for mail between the instances.
const fedWait = 60 * time.Second

// fedBackends are the storage configurations the federation runs on: each
// instance on its own SQLite database, or on its own PostgreSQL database.
var fedBackends = []struct {
	name     string
	postgres bool
}{{"sqlite", false}, {"postgres", true}}

// TestFederationBetweenTwoInstances runs two `diwan serve`, mof.gov.sy and
// moh.gov.sy, with a real DNS server holding their MX, SPF, DKIM and DMARC
// records (DESIGN.md §4, issue 18's "Tests that must exist").
func TestFederationBetweenTwoInstances(t *testing.T) {
	for _, b := range fedBackends {
		t.Run(b.name, func(t *testing.T) {
			f := newFederation(t, federationOptions{postgres: b.postgres})
			t.Run("SubmittedMailArrivesWithDKIMSPFAndDMARCPass", func(t *testing.T) {
				testSignedMailArrives(t, f.a, f.b)
				testSignedMailArrives(t, f.b, f.a)
			})
			t.Run("RegistryClerkSendsAsTheRegistry", func(t *testing.T) {
				testSignedMailArrivesFrom(t, f.a, f.b, "clerk@mof.gov.sy", "diwan@mof.gov.sy")
				err := f.a.submitAs("ali@mof.gov.sy", "diwan@mof.gov.sy", []string{"sara@moh.gov.sy"},
					fedMessage("diwan@mof.gov.sy", "sara@moh.gov.sy", "not-a-clerk@mof.gov.sy", "not a clerk"))
				smtpCode(t, "staff as the registry", err, 550, "5.7.1")
			})
			t.Run("ForgedHostedSenderRefusedUnderEnforce", func(t *testing.T) { testForgedSenderRefused(t, f) })
			t.Run("QueuedMailSurvivesRestartAndArrivesOnce", func(t *testing.T) { testRestartWithQueuedMail(t, f) })
		})
	}
}

// testSignedMailArrives: ali of from writes to sara of to; the message is
// in sara's INBOX with from's DKIM signature, the Authentication-Results
// of to with dkim=pass spf=pass dmarc=pass, and a Received field of each
// hop.
func testSignedMailArrives(t *testing.T, from, to *peer) {
	testSignedMailArrivesFrom(t, from, to, "ali@"+from.domain, "ali@"+from.domain)
}

// testSignedMailArrivesFrom is testSignedMailArrives with login submitting
// as sender.
func testSignedMailArrivesFrom(t *testing.T, from, to *peer, login, sender string) {
	box := to.openMailbox(t, "sara@"+to.domain)
	before := box.count()
	id := fmt.Sprintf("signed.%d@%s", time.Now().UnixNano(), from.domain)
	if err := from.submitAs(login, sender, []string{"sara@" + to.domain},
		fedMessage(sender, "sara@"+to.domain, id, "federation")); err != nil {
		t.Fatalf("submit on %s as %s: %v", from.domain, sender, err)
	}
	box.wait(before+1, fedWait)
	h, ok := box.headers()[id]
	if !ok {
		t.Fatalf("<%s> is not in sara@%s's INBOX", id, to.domain)
	}
	ar := headerValue(h, "Authentication-Results")
	for _, want := range []string{to.host, "dkim=pass", "spf=pass", "dmarc=pass", "header.d=" + from.domain} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results %q lacks %q", ar, want)
		}
	}
	if sig := headerValue(h, "DKIM-Signature"); !strings.Contains(sig, "d="+from.domain) {
		t.Errorf("DKIM-Signature %q is not of %s", sig, from.domain)
	}
	if n := strings.Count(strings.ToLower(h), "\nreceived:") + boolInt(strings.HasPrefix(strings.ToLower(h), "received:")); n < 2 {
		t.Errorf("%d Received fields, want one per hop (submission, MX):\n%s", n, h)
	}
}

// testForgedSenderRefused: a server that is not mof.gov.sy's sends mail
// from ali@mof.gov.sy, unsigned, straight to moh.gov.sy's port 25: under
// enforce it fails SPF and DKIM, hence DMARC, and is refused with 550
// 5.7.26 (RFC 7372); nothing reaches the INBOX. The same from B's own
// domain (a hosted sender on port 25) is refused too.
func testForgedSenderRefused(t *testing.T, f *federation) {
	box := f.b.openMailbox(t, "sara@moh.gov.sy")
	before := box.count()
	for _, sender := range []string{"ali@mof.gov.sy", "ali@moh.gov.sy"} {
		id := fmt.Sprintf("forged.%d@%s", time.Now().UnixNano(), f.otherIP())
		err := f.b.inject(f.otherIP(), sender, []string{"sara@moh.gov.sy"}, fedMessage(sender, "sara@moh.gov.sy", id, "forged"))
		smtpCode(t, "forged "+sender+" on port 25", err, 550, "5.7.26")
	}
	// A message that got through would be in the INBOX by the time a
	// genuine one sent after it is. A new SELECT counts them: box's own
	// count follows its IDLE, which may not have been told yet.
	testSignedMailArrives(t, f.a, f.b)
	if n := f.b.openMailbox(t, "sara@moh.gov.sy").count(); n != before+1 {
		t.Fatalf("sara@moh.gov.sy's INBOX went from %d to %d messages, want only the genuine one", before, n)
	}
}

// testRestartWithQueuedMail: with B's server stopped, A accepts mail for
// B (queued), then A restarts; once B is back, every message is in each
// recipient's INBOX exactly once.
func testRestartWithQueuedMail(t *testing.T, f *federation) {
	logins := []string{"sara@moh.gov.sy", "ali@moh.gov.sy"}
	before := map[string]uint32{}
	for _, login := range logins {
		before[login] = f.b.openMailbox(t, login).count()
	}
	f.b.stop(t)
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("queued.%d.%d@mof.gov.sy", i, time.Now().UnixNano())
		ids = append(ids, id)
		rcpts := []string{"sara@moh.gov.sy", "ali@moh.gov.sy"}
		if err := f.a.submit("ali@mof.gov.sy", rcpts, fedMessage("ali@mof.gov.sy", strings.Join(rcpts, ">, <"), id, "queued")); err != nil {
			t.Fatalf("submit while moh.gov.sy is down: %v", err)
		}
	}
	f.a.stop(t)
	f.a.start()
	f.b.start()
	boxes := map[string]*mailbox{}
	for _, login := range logins {
		boxes[login] = f.b.openMailbox(t, login)
		boxes[login].waitFor(ids, fedWait)
	}
	// Nothing more is on its way: each arrived once.
	f.a.drained(t, fedWait)
	for _, login := range logins {
		hs := boxes[login].headers()
		if n := uint32(len(hs)); n != before[login]+uint32(len(ids)) {
			t.Errorf("%s holds %d messages, want %d before and %d queued, each once", login, n, before[login], len(ids))
		}
	}
}

// headerValue is the value of the first field name of a header section,
// unfolded.
func headerValue(h, name string) string {
	re := regexp.MustCompile(`(?im)^` + regexp.QuoteMeta(name) + `:[ \t]*(.*(?:\r?\n[ \t].*)*)`)
	m := re.FindStringSubmatch(h)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(m[1]), " ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestFederationTransportsRouteWithoutDNS: with delivery.transports naming
// moh.gov.sy's server, A delivers there although the DNS has no MX and no
// address of moh.gov.sy.
func TestFederationTransportsRouteWithoutDNS(t *testing.T) {
	for _, b := range fedBackends {
		t.Run(b.name, func(t *testing.T) {
			f := newFederation(t, federationOptions{postgres: b.postgres, transportsToB: true})
			testSignedMailArrives(t, f.a, f.b)
		})
	}
}
