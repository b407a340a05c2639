package httpd

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/policy"
)

// rulesOf lists the policy rules through the API as c.
func rulesOf(c *apiClient) map[string]ruleDTO {
	c.t.Helper()
	var l list[ruleDTO]
	c.call("GET", "/api/v1/policy/rules", nil, http.StatusOK, &l)
	out := map[string]ruleDTO{}
	for _, r := range l.Items {
		out[r.Pattern] = r
	}
	return out
}

// eventsOf returns the audit events of an action, newest first.
func (e *apiEnv) eventsOf(action string) []audit.Record {
	e.t.Helper()
	recs, err := e.log.List(context.Background(), audit.Filter{Action: action})
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// TestPolicyRulesAreManagedThroughTheAPIAndAudited: an administrator adds
// allow and deny rules with notes, sees them listed, removes one; each
// change is an audit event with the administrator as actor; bad input
// (an invalid pattern or action, a pattern that has a rule, a rule that
// does not exist) is refused naming the field, and nothing changes.
func TestPolicyRulesAreManagedThroughTheAPIAndAudited(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		var r ruleDTO
		adm.call("POST", "/api/v1/policy/rules", map[string]any{"pattern": ".Example.SY.", "action": "deny", "note": "not national"}, http.StatusCreated, &r)
		if r.Pattern != ".example.sy" || r.Action != "deny" || r.Note != "not national" || r.CreatedBy != "user:admin" {
			t.Errorf("added %+v", r)
		}
		adm.call("POST", "/api/v1/policy/rules", map[string]any{"pattern": "partner.org.sy", "action": "allow"}, http.StatusCreated, nil)
		if rules := rulesOf(adm); len(rules) != 2 || rules["partner.org.sy"].Action != "allow" || rules[".example.sy"].Action != "deny" {
			t.Errorf("rules %+v", rules)
		}
		if ev := e.eventsOf("policy.deny"); len(ev) != 1 || ev[0].Actor != "user:admin" || ev[0].Target != "policy:.example.sy" {
			t.Errorf("policy.deny events %+v", ev)
		}

		adm.wantError("POST", "/api/v1/policy/rules", map[string]any{"pattern": "bad..name", "action": "deny"}, http.StatusBadRequest, "invalid_input", "pattern")
		adm.wantError("POST", "/api/v1/policy/rules", map[string]any{"pattern": "x.sy", "action": "block"}, http.StatusBadRequest, "invalid_value", "action")
		adm.wantError("POST", "/api/v1/policy/rules", map[string]any{"pattern": "x.sy"}, http.StatusBadRequest, "missing_field", "action")
		// The same pattern again, whatever the action: remove it first.
		adm.wantError("POST", "/api/v1/policy/rules", map[string]any{"pattern": ".example.sy", "action": "allow"}, http.StatusConflict, "exists", "pattern")
		if rules := rulesOf(adm); len(rules) != 2 || rules[".example.sy"].Action != "deny" {
			t.Errorf("after refused changes: %+v", rules)
		}

		adm.call("DELETE", "/api/v1/policy/rules/"+url.PathEscape(".EXAMPLE.sy"), nil, http.StatusNoContent, nil)
		adm.wantError("DELETE", "/api/v1/policy/rules/.example.sy", nil, http.StatusNotFound, "not_found", "")
		adm.wantError("DELETE", "/api/v1/policy/rules/bad..name", nil, http.StatusBadRequest, "invalid_input", "pattern")
		if rules := rulesOf(adm); len(rules) != 1 {
			t.Errorf("after removal: %+v", rules)
		}
		if ev := e.eventsOf("policy.remove"); len(ev) != 1 || ev[0].Actor != "user:admin" {
			t.Errorf("policy.remove events %+v", ev)
		}
	})
}

// TestPolicyDenyCoveringHostedDomainsNeedsConfirmation: a deny rule that
// would cover hosted domains is refused with confirm_required naming them,
// and nothing changes, until it is sent with confirm; then the test of an
// address names the rule that refuses it.
func TestPolicyDenyCoveringHostedDomainsNeedsConfirmation(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		var d policyTestDTO
		adm.call("GET", "/api/v1/policy/test?address="+url.QueryEscape("ali@mof.gov.sy"), nil, http.StatusOK, &d)
		if d.Decision != "allow" || d.Rule != "hosted:mof.gov.sy" || d.AsRecipient.Code != 250 || d.Domain != "mof.gov.sy" {
			t.Errorf("before: %+v", d)
		}
		deny := map[string]any{"pattern": ".gov.sy", "action": "deny", "note": "lock-down"}
		er := adm.wantError("POST", "/api/v1/policy/rules", deny, http.StatusConflict, "confirm_required", "confirm")
		if !strings.Contains(er.Error.Message, "moct.gov.sy, mof.gov.sy") {
			t.Errorf("confirm_required does not name the hosted domains: %q", er.Error.Message)
		}
		adm.wantError("POST", "/api/v1/policy/rules", map[string]any{"pattern": "mof.gov.sy", "action": "deny"}, http.StatusConflict, "confirm_required", "confirm")
		if rules := rulesOf(adm); len(rules) != 0 || len(e.eventsOf("policy.deny")) != 0 {
			t.Fatalf("an unconfirmed rule was made: %+v", rules)
		}
		deny["confirm"] = true
		adm.call("POST", "/api/v1/policy/rules", deny, http.StatusCreated, nil)
		adm.call("GET", "/api/v1/policy/test?address="+url.QueryEscape("ali@mof.gov.sy"), nil, http.StatusOK, &d)
		if d.Decision != "deny" || d.Rule != "deny:.gov.sy" || d.AsRecipient.Code != 550 || d.AsSender.Enhanced != "5.7.1" {
			t.Errorf("after the deny rule: %+v", d)
		}
		// An allow rule never needs confirmation.
		adm.call("POST", "/api/v1/policy/rules", map[string]any{"pattern": "moct.gov.sy", "action": "allow"}, http.StatusCreated, nil)

		adm.wantError("GET", "/api/v1/policy/test?address="+url.QueryEscape("ali@bad..name"), nil, http.StatusBadRequest, "invalid_input", "address")
		adm.wantError("GET", "/api/v1/policy/test", nil, http.StatusBadRequest, "missing_field", "address")
	})
}

// TestPolicyRoutesRefuseWhoIsNotAdministrator: a clerk gets 403 on every
// policy route and changes nothing; a cookie request that changes the
// policy without the CSRF token is refused too.
func TestPolicyRoutesRefuseWhoIsNotAdministrator(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		clerk := e.withToken(mofClerk)
		rule := map[string]any{"pattern": "evil.sy", "action": "allow"}
		clerk.wantError("GET", "/api/v1/policy/rules", nil, http.StatusForbidden, "forbidden", "")
		clerk.wantError("POST", "/api/v1/policy/rules", rule, http.StatusForbidden, "forbidden", "")
		clerk.wantError("GET", "/api/v1/policy/test?address=a@evil.sy", nil, http.StatusForbidden, "forbidden", "")
		clerk.wantError("GET", "/api/v1/policy/violations", nil, http.StatusForbidden, "forbidden", "")
		if _, err := e.pol.Allow(context.Background(), operator, "evil.sy", ""); err != nil {
			t.Fatal(err)
		}
		clerk.wantError("DELETE", "/api/v1/policy/rules/evil.sy", nil, http.StatusForbidden, "forbidden", "")

		adm := e.login(adminLogin)
		adm.csrf = ""
		adm.wantError("POST", "/api/v1/policy/rules", map[string]any{"pattern": "other.sy", "action": "allow"}, http.StatusForbidden, "csrf", "")
		adm.wantError("DELETE", "/api/v1/policy/rules/evil.sy", nil, http.StatusForbidden, "csrf", "")
		if rules := rulesOf(e.withToken(adminLogin)); len(rules) != 1 || rules["evil.sy"].CreatedBy != operator {
			t.Errorf("rules after refused calls: %+v", rules)
		}
	})
}

// TestPolicyViolationsAreCountedByUserDomainAndDay: the refusals recorded
// by the policy are answered per user, per domain and per day, most first,
// with the count of all; since narrows them and is checked.
func TestPolicyViolationsAreCountedByUserDomainAndDay(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx := context.Background()
		for _, r := range []policy.Refusal{
			{Reason: policy.ReasonPolicy, Rule: "default", User: mofClerk, Client: "192.0.2.1", Domain: "gmail.com"},
			{Reason: policy.ReasonPolicy, Rule: "default", Client: "198.51.100.7", Domain: "gmail.com"},
			{Reason: policy.ReasonRelay, Rule: "relay:not-hosted", Client: "198.51.100.7", Domain: "yahoo.com"},
		} {
			if err := e.pol.RecordRefusal(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		adm := e.withToken(adminLogin)
		var v violationsDTO
		adm.call("GET", "/api/v1/policy/violations?by=domain", nil, http.StatusOK, &v)
		if v.Refusals != 3 || v.By != "domain" || v.Total != 2 || v.Items[0].Key != "gmail.com" || v.Items[0].Total != 2 ||
			v.Items[1].ByReason[policy.ReasonRelay] != 1 {
			t.Errorf("by domain: %+v", v)
		}
		adm.call("GET", "/api/v1/policy/violations", nil, http.StatusOK, &v)
		if v.By != "user" || v.Total != 2 || v.Items[0].Key != "smtp:198.51.100.7" || v.Items[0].Total != 2 || v.Items[1].Key != mofClerk {
			t.Errorf("by user: %+v", v)
		}
		adm.call("GET", "/api/v1/policy/violations?by=day&since=7d", nil, http.StatusOK, &v)
		if v.Total != 1 || v.Items[0].Total != 3 || len(v.Items[0].Key) != len("2006-01-02") {
			t.Errorf("by day: %+v", v)
		}
		adm.call("GET", "/api/v1/policy/violations?since=2999-01-01", nil, http.StatusOK, &v)
		if v.Refusals != 0 || v.Total != 0 {
			t.Errorf("since a future date: %+v", v)
		}
		adm.wantError("GET", "/api/v1/policy/violations?since=yesterday", nil, http.StatusBadRequest, "invalid_parameter", "since")
		adm.wantError("GET", "/api/v1/policy/violations?by=week", nil, http.StatusBadRequest, "invalid_value", "by")
	})
}
