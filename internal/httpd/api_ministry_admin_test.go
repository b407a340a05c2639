package httpd

import (
	"context"
	"net/http"
	"testing"

	"diwan.gov.sy/diwan/internal/directory"
)

// mofAdmin administers the users, registries, departments and aliases
// of MOF (role ministry_admin).
const mofAdmin = "madmin@mof.gov.sy"

// addMinistryAdmin adds MOF's ministry administrator to the test
// organisation.
func (e *apiEnv) addMinistryAdmin() {
	e.t.Helper()
	e.ok(e.dir.AddUser(context.Background(), operator, directory.NewUser{Address: mofAdmin, Name: "Hala",
		Roles: []string{directory.RoleMinistryAdmin}, Password: testPassword}))
}

// TestMinistryAdminAPIReachesItsOwnMinistryOnly: MOF's ministry
// administrator changes MOF's users, registries, departments,
// memberships and aliases (audited with them as actor); MOCT's are 404 to
// them, as if they did not exist; the role admin, the policy, the audit
// log, domains and ministries are 403.
func TestMinistryAdminAPIReachesItsOwnMinistryOnly(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.addMinistryAdmin()
		e.ok(e.dir.AddAlias(context.Background(), operator, "info@moct.gov.sy", []string{moctClerk}))
		ma := e.withToken(mofAdmin)

		// Their own ministry.
		var u userDTO
		ma.call("PATCH", "/api/v1/users/"+mofStaff, map[string]any{"quota_bytes": 1 << 20, "roles": []string{"staff", "clerk"}}, http.StatusOK, &u)
		if len(u.Roles) != 2 || u.Roles[0] != "clerk" {
			t.Errorf("patched %+v", u)
		}
		var nu newUserResponse
		ma.call("POST", "/api/v1/users", map[string]any{"address": "new@mof.gov.sy", "name": "New", "roles": []string{"staff"}}, http.StatusCreated, &nu)
		if nu.Password == "" || nu.User.Ministry != "MOF" {
			t.Errorf("added %+v", nu)
		}
		ma.call("GET", "/api/v1/users/"+mofStaff, nil, http.StatusOK, &u)
		ma.call("POST", "/api/v1/registries", map[string]any{"code": "MOF2", "ministry": "MOF", "name_ar": "د", "name_en": "R", "address": "diwan2@mof.gov.sy"}, http.StatusCreated, nil)
		ma.call("POST", "/api/v1/departments", map[string]any{"code": "HR", "ministry": "MOF", "name_ar": "ق", "name_en": "HR"}, http.StatusCreated, nil)
		ma.call("PATCH", "/api/v1/users/"+mofStaff+"/membership", map[string]any{"clearance": "confidential"}, http.StatusOK, nil)
		ma.call("POST", "/api/v1/aliases", map[string]any{"address": "info@mof.gov.sy", "to": []string{mofStaff}}, http.StatusCreated, nil)
		var al list[aliasDTO]
		ma.call("GET", "/api/v1/aliases", nil, http.StatusOK, &al)
		if al.Total != 1 || al.Items[0].Address != "info@mof.gov.sy" {
			t.Errorf("aliases seen by MOF's administrator: %+v", al)
		}
		for _, action := range []string{"user.quota", "user.roles", "user.add", "registry.add", "department.add", "member.set", "alias.add"} {
			if ev := e.eventsOf(action); len(ev) == 0 || ev[0].Actor != "user:"+mofAdmin {
				t.Errorf("%s events %+v, want the ministry administrator as actor", action, ev)
			}
		}

		// Another ministry's: as if it did not exist.
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/users/" + moctClerk, nil},
			{"PATCH", "/api/v1/users/" + moctClerk, map[string]any{"disabled": true}},
			{"GET", "/api/v1/users/" + moctClerk + "/membership", nil},
			{"PATCH", "/api/v1/users/" + moctClerk + "/membership", map[string]any{"clearance": "secret"}},
			{"PATCH", "/api/v1/registries/MOCT", map[string]any{"name_en": "x"}},
			{"POST", "/api/v1/registries", map[string]any{"code": "X2", "ministry": "MOCT", "name_ar": "د", "name_en": "R", "address": "x2@moct.gov.sy"}},
			{"POST", "/api/v1/departments", map[string]any{"code": "HR", "ministry": "MOCT", "name_ar": "ق", "name_en": "HR"}},
			{"DELETE", "/api/v1/aliases/info@moct.gov.sy", nil},
		} {
			ma.wantError(r.method, r.path, r.body, http.StatusNotFound, "not_found", "")
		}
		ma.wantError("POST", "/api/v1/users", map[string]any{"address": "x@moct.gov.sy", "name": "X", "roles": []string{"staff"}}, http.StatusBadRequest, "invalid_input", "address")
		ma.wantError("POST", "/api/v1/aliases", map[string]any{"address": "desk@moct.gov.sy", "to": []string{moctClerk}}, http.StatusBadRequest, "invalid_input", "address")
		ma.wantError("POST", "/api/v1/aliases", map[string]any{"address": "desk@mof.gov.sy", "to": []string{moctClerk}}, http.StatusBadRequest, "invalid_input", "to")

		// The instance's: forbidden.
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/policy/rules", nil},
			{"GET", "/api/v1/audit", nil},
			{"GET", "/api/v1/domains", nil},
			{"PATCH", "/api/v1/ministries/MOF", map[string]any{"name_en": "x"}},
			{"POST", "/api/v1/ministries", map[string]any{"code": "MOH", "name_ar": "و", "name_en": "Health"}},
			{"POST", "/api/v1/users", map[string]any{"address": "top@mof.gov.sy", "name": "Top", "roles": []string{"admin"}}},
			{"PATCH", "/api/v1/users/" + mofStaff, map[string]any{"roles": []string{"admin"}}},
		} {
			ma.wantError(r.method, r.path, r.body, http.StatusForbidden, "forbidden", "")
		}
		if u, _ := e.dir.UserByLogin(context.Background(), moctClerk); u.Disabled {
			t.Error("MOCT's clerk disabled by MOF's administrator")
		}
		if as, _ := e.dir.Aliases(context.Background()); len(as) != 2 {
			t.Errorf("aliases after refused changes: %+v", as)
		}
	})
}
