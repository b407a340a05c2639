package imap_test

import (
	"strings"
	"testing"
)

// RFC 2971 §3.1-§3.3, imaptest "id": ID is advertised and answered before
// and after login with Diwan's name, ID NIL included; fields beyond the
// RFC's limits are BAD; the client's fields are logged once per connection.
func TestIMAPIDAnswersBeforeAndAfterLoginAndLogsTheClientOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	if caps, _ := r.cmd("CAPABILITY"); len(caps) != 1 || !strings.Contains(caps[0]+" ", " ID ") {
		t.Fatalf("CAPABILITY before login: %q, want ID", caps)
	}
	answer := func(cmd string) {
		t.Helper()
		untagged, st := r.cmd(cmd)
		if !strings.HasPrefix(st, "OK") || len(untagged) != 1 || !strings.HasPrefix(untagged[0], `* ID ("name" "Diwan" "version" "test-1.2"`) {
			t.Fatalf("%s: %q %s", cmd, untagged, st)
		}
	}
	answer(`ID ("name" "Thunderbird" "version" "128.0")`)
	answer(`ID NIL`)
	r.login(user1)
	answer(`ID ("name" "Thunderbird" "version" "128.0" "os" NIL)`)
	long := `ID ("` + strings.Repeat("f", 31) + `" "v")`
	if _, st := r.cmd(long); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("ID with a 31-octet field: %s, want BAD", st)
	}
	ids := e.errors.idRecords()
	if len(ids) != 1 || ids[0]["id.name"] != "Thunderbird" || ids[0]["id.version"] != "128.0" {
		t.Fatalf("client id log records: %v, want one with the client's name and version", ids)
	}
}
