package httpd

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDomainsAreListedAddedAndGiveTheirDKIMRecords: an administrator lists
// the hosted domains, hosts another for a ministry (audited with them as
// actor), and reads its DKIM records, the key made on first use and the
// same on the next read; bad input names its field; a domain not hosted
// has no records (404).
func TestDomainsAreListedAddedAndGiveTheirDKIMRecords(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		var l list[domainDTO]
		adm.call("GET", "/api/v1/domains", nil, http.StatusOK, &l)
		if l.Total != 2 || l.Items[0].Name != "moct.gov.sy" || l.Items[1].Ministry != "MOF" {
			t.Errorf("domains %+v", l)
		}
		var d domainDTO
		adm.call("POST", "/api/v1/domains", map[string]string{"name": "وزارة.gov.sy", "ministry": "mof"}, http.StatusCreated, &d)
		if d.Name != "وزارة.gov.sy" || !strings.HasPrefix(d.ASCII, "xn--") || d.Ministry != "MOF" {
			t.Errorf("added %+v", d)
		}
		if ev := e.eventsOf("domain.add"); len(ev) == 0 || ev[0].Actor != "user:admin" {
			t.Errorf("domain.add events %+v", ev)
		}
		adm.wantError("POST", "/api/v1/domains", map[string]string{"name": "MOF.gov.sy.", "ministry": "MOF"}, http.StatusConflict, "exists", "")
		adm.wantError("POST", "/api/v1/domains", map[string]string{"name": "bad..name", "ministry": "MOF"}, http.StatusBadRequest, "invalid_input", "domain")
		adm.wantError("POST", "/api/v1/domains", map[string]string{"name": "moh.gov.sy", "ministry": "NOPE"}, http.StatusBadRequest, "invalid_input", "ministry")

		var k dkimDTO
		adm.call("GET", "/api/v1/domains/MOF.gov.sy/dkim", nil, http.StatusOK, &k)
		if k.Domain != "mof.gov.sy" || len(k.Records) != 1 || !k.Records[0].Active || k.Records[0].Algorithm != "rsa-sha256" ||
			!strings.HasSuffix(k.Records[0].Name, "._domainkey.mof.gov.sy.") || !strings.HasPrefix(k.Records[0].TXT, "v=DKIM1; k=rsa; p=") ||
			!strings.Contains(k.Records[0].Zone, " IN TXT (") {
			t.Fatalf("dkim %+v", k)
		}
		var again dkimDTO
		adm.call("GET", "/api/v1/domains/mof.gov.sy/dkim", nil, http.StatusOK, &again)
		if len(again.Records) != 1 || again.Records[0].TXT != k.Records[0].TXT {
			t.Errorf("second read made another key: %+v", again)
		}
		adm.wantError("GET", "/api/v1/domains/gmail.com/dkim", nil, http.StatusNotFound, "not_found", "")
	})
}

// TestAliasesAreManagedAndBadTargetsNamed: an administrator adds, lists
// and removes aliases, audited with them as actor; an alias of a domain
// not hosted, a target that is not a user (another alias: no loops), the
// alias itself as target, an address in use, or removing an alias that
// does not exist are refused naming the field, and nothing changes.
func TestAliasesAreManagedAndBadTargetsNamed(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		var a aliasDTO
		adm.call("POST", "/api/v1/aliases", map[string]any{"address": "Info@MOF.gov.sy", "to": []string{mofStaff, mofHead}}, http.StatusCreated, &a)
		if a.Address != "info@mof.gov.sy" || len(a.To) != 2 || a.To[0] != mofHead || a.CreatedBy != "user:admin" {
			t.Errorf("added %+v", a)
		}
		for _, bad := range []struct {
			body        map[string]any
			status      int
			code, field string
		}{
			{map[string]any{"address": "info@gmail.com", "to": []string{mofStaff}}, 400, "invalid_input", "address"},
			{map[string]any{"address": "loop@mof.gov.sy", "to": []string{"info@mof.gov.sy"}}, 400, "invalid_input", "to"},
			{map[string]any{"address": "self@mof.gov.sy", "to": []string{"self@mof.gov.sy"}}, 400, "invalid_input", "to"},
			{map[string]any{"address": "out@mof.gov.sy", "to": []string{"someone@gmail.com"}}, 400, "invalid_input", "to"},
			{map[string]any{"address": "none@mof.gov.sy", "to": []string{}}, 400, "invalid_input", "to"},
			{map[string]any{"address": mofStaff, "to": []string{mofHead}}, 400, "invalid_input", "address"},
			{map[string]any{"address": "info@mof.gov.sy", "to": []string{mofHead}}, 409, "exists", ""},
		} {
			adm.wantError("POST", "/api/v1/aliases", bad.body, bad.status, bad.code, bad.field)
		}
		var l list[aliasDTO]
		adm.call("GET", "/api/v1/aliases", nil, http.StatusOK, &l)
		if l.Total != 1 || l.Items[0].Address != "info@mof.gov.sy" {
			t.Errorf("aliases after refused ones: %+v", l)
		}
		adm.call("DELETE", "/api/v1/aliases/"+url.PathEscape("INFO@mof.gov.sy"), nil, http.StatusNoContent, nil)
		adm.wantError("DELETE", "/api/v1/aliases/info@mof.gov.sy", nil, http.StatusNotFound, "not_found", "")
		for _, action := range []string{"alias.add", "alias.remove"} {
			if ev := e.eventsOf(action); len(ev) != 1 || ev[0].Actor != "user:admin" {
				t.Errorf("%s events %+v", action, ev)
			}
		}
	})
}

// TestMinistryIsRenamedByAdministrators: PATCH /ministries/{code} changes
// the names given, audited with both names; a ministry that does not
// exist is 404, an empty name 400.
func TestMinistryIsRenamedByAdministrators(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		var m ministryDTO
		adm.call("PATCH", "/api/v1/ministries/mof", map[string]string{"name_en": "Ministry of Finance"}, http.StatusOK, &m)
		if m.Code != "MOF" || m.NameEN != "Ministry of Finance" || m.NameAR != "وزارة MOF" {
			t.Errorf("renamed %+v", m)
		}
		adm.call("GET", "/api/v1/ministries/MOF", nil, http.StatusOK, &m)
		if m.NameEN != "Ministry of Finance" {
			t.Errorf("read back %+v", m)
		}
		ev := e.eventsOf("ministry.update")
		if len(ev) != 1 || ev[0].Actor != "user:admin" || ev[0].Target != "ministry:MOF" || ev[0].Details["name_en"] == nil || ev[0].Details["name_ar"] != nil {
			t.Errorf("ministry.update events %+v", ev)
		}
		adm.wantError("PATCH", "/api/v1/ministries/NOPE", map[string]string{"name_en": "x"}, http.StatusNotFound, "not_found", "")
		adm.wantError("PATCH", "/api/v1/ministries/MOF", map[string]string{"name_ar": " "}, http.StatusBadRequest, "invalid_input", "name_ar")
	})
}

// TestAdministrationRoutesRefuseWhoIsNotAdministrator: a clerk gets 403 on
// every route of domains, aliases and ministries' names, and nothing
// changes; a cookie change without the CSRF token is refused too.
func TestAdministrationRoutesRefuseWhoIsNotAdministrator(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		clerk := e.withToken(mofClerk)
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/domains", nil},
			{"POST", "/api/v1/domains", map[string]string{"name": "moh.gov.sy", "ministry": "MOF"}},
			{"GET", "/api/v1/domains/mof.gov.sy/dkim", nil},
			{"GET", "/api/v1/aliases", nil},
			{"POST", "/api/v1/aliases", map[string]any{"address": "info@mof.gov.sy", "to": []string{mofClerk}}},
			{"DELETE", "/api/v1/aliases/info@mof.gov.sy", nil},
			{"PATCH", "/api/v1/ministries/MOF", map[string]string{"name_en": "x"}},
			{"PATCH", "/api/v1/users/" + mofClerk, map[string]any{"roles": []string{"admin"}}},
		} {
			clerk.wantError(r.method, r.path, r.body, http.StatusForbidden, "forbidden", "")
		}
		adm := e.login(adminLogin)
		adm.csrf = ""
		adm.wantError("POST", "/api/v1/domains", map[string]string{"name": "moh.gov.sy", "ministry": "MOF"}, http.StatusForbidden, "csrf", "")
		var l list[domainDTO]
		e.withToken(adminLogin).call("GET", "/api/v1/domains", nil, http.StatusOK, &l)
		if l.Total != 2 {
			t.Errorf("domains after refused calls: %+v", l)
		}
		for _, action := range []string{"alias.add", "ministry.update", "user.roles", "dkim.generate"} {
			if ev := e.eventsOf(action); len(ev) != 0 {
				t.Errorf("refused calls wrote %s events: %+v", action, ev)
			}
		}
	})
}

// TestUserRolesAreSetThroughPatch: PATCH /users/{address} with roles
// replaces them, audited with the administrator as actor; an unknown role
// and taking the role admin from the last enabled administrator are 400
// naming roles' field, and nothing changes.
func TestUserRolesAreSetThroughPatch(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		var u userDTO
		adm.call("PATCH", "/api/v1/users/"+mofStaff, map[string]any{"roles": []string{"Staff", "head"}}, http.StatusOK, &u)
		if strings.Join(u.Roles, ",") != "head,staff" {
			t.Errorf("roles %v", u.Roles)
		}
		ev := e.eventsOf("user.roles")
		if len(ev) != 1 || ev[0].Actor != "user:admin" || ev[0].Target != "user:"+mofStaff || ev[0].Details["from"] != "staff" || ev[0].Details["to"] != "head,staff" {
			t.Errorf("user.roles events %+v", ev)
		}
		adm.wantError("PATCH", "/api/v1/users/"+mofStaff, map[string]any{"roles": []string{"boss"}}, http.StatusBadRequest, "invalid_input", "roles")
		adm.wantError("PATCH", "/api/v1/users/"+mofStaff, map[string]any{"roles": []string{}}, http.StatusBadRequest, "invalid_input", "roles")
		adm.wantError("PATCH", "/api/v1/users/"+adminLogin, map[string]any{"roles": []string{"clerk"}}, http.StatusBadRequest, "invalid_input", "roles")
		if ev := e.eventsOf("user.roles"); len(ev) != 1 {
			t.Errorf("refused changes were audited: %+v", ev)
		}
	})
}
