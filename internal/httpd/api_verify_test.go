package httpd

import (
	"fmt"
	"net/http"
	"testing"
)

// TestVerifyOfCancelledOrRecalledLetterIsNotValid: verification states the
// letter's state, and only a letter in force verifies as valid.
func TestVerifyOfCancelledOrRecalledLetterIsNotValid(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		moct := e.withToken(moctClerk)
		verify := func(id int64) map[string]any {
			var out map[string]any
			moct.call("GET", fmt.Sprintf("/api/v1/correspondence/%d/verify", id), nil, http.StatusOK, &out)
			return out
		}
		d := newLetter(moct, "to be cancelled")
		reg := act(moct, d.EntryID, "register", v(d.Version))
		if got := verify(d.ID); got["state"] != "registered" || got["valid"] != true {
			t.Errorf("registered letter verifies as %v", got)
		}
		act(moct, d.EntryID, "cancel", v(reg.Version, "reason", "sent in error"))
		if got := verify(d.ID); got["state"] != "cancelled" || got["valid"] != false || got["number"] != *reg.Number {
			t.Errorf("cancelled letter verifies as %v", got)
		}

		d = newLetter(moct, "to be recalled")
		reg = act(moct, d.EntryID, "register", v(d.Version))
		sent := act(moct, d.EntryID, "dispatch", v(reg.Version))
		act(moct, d.EntryID, "recall", v(sent.Version))
		if got := verify(d.ID); got["state"] != "recalled" || got["valid"] != false {
			t.Errorf("recalled letter verifies as %v", got)
		}
	})
}
