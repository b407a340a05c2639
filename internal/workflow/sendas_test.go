package workflow_test

import (
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// TestClerkOfRegistryAddressOnlyForItsOwnClerks: a registry's mailbox is an
// address its clerks may send as (DESIGN.md §4), in any spelling of it; not
// a clerk of another registry, not a non-clerk, not once the clerkship
// ends or the account is disabled.
func TestClerkOfRegistryAddressOnlyForItsOwnClerks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		may := func(login, address string) bool {
			t.Helper()
			ok, err := f.wf.ClerkOfRegistryAddress(f.ctx, f.actor(login).UserID, address)
			f.must(err)
			return ok
		}
		for _, c := range []struct {
			login, address string
			want           bool
		}{
			{"clerk@moct.gov.sy", "diwan@moct.gov.sy", true},
			{"clerk@moct.gov.sy", "DIWAN@Moct.Gov.Sy", true},
			{"clerk@moct.gov.sy", "diwan2@moct.gov.sy", false}, // another registry of the ministry
			{"clerk2@moct.gov.sy", "diwan2@moct.gov.sy", true},
			{"clerk@mof.gov.sy", "diwan@moct.gov.sy", false}, // a clerk of another ministry's registry
			{"staff@moct.gov.sy", "diwan@moct.gov.sy", false},
			{"admin@moct.gov.sy", "diwan@moct.gov.sy", false},
			{"clerk@moct.gov.sy", "clerk@moct.gov.sy", false}, // no registry's address
			{"clerk@moct.gov.sy", "not an address", false},
		} {
			if got := may(c.login, c.address); got != c.want {
				t.Errorf("%s as %s = %v, want %v", c.login, c.address, got, c.want)
			}
		}
		op := workflow.OperatorActor(operator)
		_, err := f.wf.SetMembership(f.ctx, op, "clerk2@moct.gov.sy", workflow.MembershipChange{RemoveRegistry: "MOCT2"})
		f.must(err)
		if may("clerk2@moct.gov.sy", "diwan2@moct.gov.sy") {
			t.Error("a former clerk may still send as the registry")
		}
		f.must(f.dir.Disable(f.ctx, operator, "clerk@moct.gov.sy"))
		if may("clerk@moct.gov.sy", "diwan@moct.gov.sy") {
			t.Error("a disabled clerk may still send as the registry")
		}
	})
}
