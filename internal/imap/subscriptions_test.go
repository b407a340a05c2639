package imap_test

import (
	"strings"
	"testing"
)

// listed returns the lines that name mailbox at their end.
func listed(lines []string, mailbox string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasSuffix(l, ` "`+mailbox+`"`) || strings.HasSuffix(l, " "+mailbox) || strings.Contains(l, ` "`+mailbox+`" (`) {
			out = append(out, l)
		}
	}
	return out
}

// RFC 3501 §6.3.9 and RFC 5258 §3.1, §3.5, imaptest "subscribe" and
// "listext": LSUB returns the unsubscribed parent of a subscribed mailbox
// as \Noselect where "%" stops; DELETE leaves the subscription (RFC 3501
// §6.3.6), which LIST (SUBSCRIBED) shows \NonExistent until the mailbox is
// created again; RECURSIVEMATCH gives no CHILDINFO for a parent whose
// subscribed child another pattern returns.
func TestIMAPSubscriptionsOutliveMailboxesAndLSUBShowsParents(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		r := e.rawTLS(t)
		r.login(user1)
		for _, cmd := range []string{"CREATE Proj", "CREATE Proj/Budget", "SUBSCRIBE Proj/Budget", "CREATE Old", "SUBSCRIBE Old", "DELETE Old"} {
			if _, st := r.cmd(cmd); !strings.HasPrefix(st, "OK") {
				t.Fatalf("%s: %s", cmd, st)
			}
		}
		lines, _ := r.cmd(`LSUB "" "%"`)
		if got := listed(lines, "Proj"); len(got) != 1 || !strings.Contains(got[0], `(\Noselect)`) {
			t.Fatalf(`LSUB "" "%%": %q, want Proj as \Noselect`, lines)
		}
		if got := listed(lines, "Proj/Budget"); len(got) != 0 {
			t.Fatalf(`LSUB "" "%%": %q lists Proj/Budget`, lines)
		}
		lines, _ = r.cmd(`LIST (SUBSCRIBED) "" "*"`)
		if got := listed(lines, "Old"); len(got) != 1 || !strings.Contains(got[0], `\NonExistent`) || !strings.Contains(got[0], `\Subscribed`) {
			t.Fatalf(`LIST (SUBSCRIBED) after DELETE: %q, want Old \NonExistent \Subscribed`, lines)
		}
		if lines, _ := r.cmd(`LIST "" "*"`); len(listed(lines, "Old")) != 0 {
			t.Fatalf(`LIST after DELETE: %q lists Old`, lines)
		}
		r.cmd("CREATE Old")
		lines, _ = r.cmd(`LIST (SUBSCRIBED) "" "Old"`)
		if got := listed(lines, "Old"); len(got) != 1 || strings.Contains(got[0], `\NonExistent`) || !strings.Contains(got[0], `\Subscribed`) {
			t.Fatalf(`LIST (SUBSCRIBED) after CREATE: %q, want Old \Subscribed`, lines)
		}
		if _, st := r.cmd("UNSUBSCRIBE Gone"); !strings.HasPrefix(st, "NO") {
			t.Fatalf("UNSUBSCRIBE of a name never subscribed: %s", st)
		}

		lines, _ = r.cmd(`LIST (SUBSCRIBED RECURSIVEMATCH) "" ("Proj")`)
		if got := listed(lines, "Proj"); len(got) != 1 || !strings.Contains(got[0], "CHILDINFO") {
			t.Fatalf("RECURSIVEMATCH Proj: %q, want CHILDINFO", lines)
		}
		lines, _ = r.cmd(`LIST (SUBSCRIBED RECURSIVEMATCH) "" ("Proj" "Proj/Budget")`)
		if got := listed(lines, "Proj"); len(got) != 0 || len(listed(lines, "Proj/Budget")) != 1 {
			t.Fatalf("RECURSIVEMATCH Proj and Proj/Budget: %q, want Proj/Budget alone", lines)
		}
	})
}
