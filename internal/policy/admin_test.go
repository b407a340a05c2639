package policy_test

import (
	"errors"
	"reflect"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/policy"
)

// TestAddRuleRefusesWhoIsNotAdministratorDuplicatesAndUnconfirmedLockOut:
// the service, not its callers, refuses a caller without the role admin
// (or disabled), a pattern that has a rule, and a deny rule covering
// hosted domains until confirmed, naming them; nothing is written then.
func TestAddRuleRefusesWhoIsNotAdministratorDuplicatesAndUnconfirmedLockOut(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		admin := directory.Principal{UserID: 1, Login: "admin", Roles: []string{directory.RoleAdmin}}
		clerk := directory.Principal{UserID: 2, Login: "clerk@mof.gov.sy", Roles: []string{directory.RoleClerk}}
		gone := admin
		gone.Disabled = true
		for _, who := range []directory.Principal{clerk, gone} {
			if _, err := e.pol.AddRule(e.ctx, who, policy.NewRule{Pattern: "evil.sy", Action: policy.Allow}); !errors.Is(err, policy.ErrForbidden) {
				t.Errorf("AddRule as %+v: %v, want ErrForbidden", who, err)
			}
			if _, err := e.pol.RulesAs(e.ctx, who); !errors.Is(err, policy.ErrForbidden) {
				t.Errorf("RulesAs as %+v: %v", who, err)
			}
		}
		r, err := e.pol.AddRule(e.ctx, admin, policy.NewRule{Pattern: "Evil.SY", Action: policy.Deny, Note: "n"})
		if err != nil || r.Pattern != "evil.sy" || r.CreatedBy != "user:admin" {
			t.Fatalf("AddRule: %+v, %v", r, err)
		}
		if _, err := e.pol.AddRule(e.ctx, admin, policy.NewRule{Pattern: "evil.sy", Action: policy.Allow}); !errors.Is(err, policy.ErrExists) {
			t.Errorf("duplicate: %v, want ErrExists", err)
		}
		var ce *policy.ConfirmError
		_, err = e.pol.AddRule(e.ctx, admin, policy.NewRule{Pattern: "XN--MGBEXC3I.sy", Action: policy.Deny})
		if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Covers, []string{"وزارة.sy"}) {
			t.Errorf("deny وزارة.sy in A-labels: %v, want a ConfirmError covering وزارة.sy", err)
		}
		_, err = e.pol.AddRule(e.ctx, admin, policy.NewRule{Pattern: ".gov.sy", Action: policy.Deny})
		if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Covers, []string{"mof.gov.sy"}) {
			t.Errorf("deny .gov.sy: %v, want a ConfirmError covering mof.gov.sy", err)
		}
		if rules, _ := e.pol.Rules(e.ctx); len(rules) != 1 {
			t.Errorf("unconfirmed rules were written: %+v", rules)
		}
		if _, err := e.pol.AddRule(e.ctx, admin, policy.NewRule{Pattern: ".gov.sy", Action: policy.Deny, Confirm: true}); err != nil {
			t.Fatal(err)
		}
		if dec := e.decide(t, policy.Outbound, "ali@mof.gov.sy"); dec.Allow || dec.Rule != "deny:.gov.sy" {
			t.Errorf("after the confirmed deny: %+v", dec)
		}
		if err := e.pol.RemoveRule(e.ctx, clerk, ".gov.sy"); !errors.Is(err, policy.ErrForbidden) {
			t.Errorf("RemoveRule as clerk: %v", err)
		}
		if err := e.pol.RemoveRule(e.ctx, admin, "nothing.sy"); !errors.Is(err, policy.ErrNotFound) {
			t.Errorf("RemoveRule of no rule: %v", err)
		}
	})
}
