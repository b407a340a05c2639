package httpd

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

// usersAs lists users through the API as c and returns each item's keys
// and values by address.
func usersAs(c *apiClient, query string) (map[string]map[string]any, int64) {
	c.t.Helper()
	var l list[map[string]any]
	c.call("GET", "/api/v1/users?per_page=200&q="+query, nil, http.StatusOK, &l)
	out := map[string]map[string]any{}
	for _, u := range l.Items {
		out[u["address"].(string)] = u
	}
	return out, l.Total
}

func keysOf(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// TestUserDirectoryShowsOtherMinistriesOnlyWhatAddressingNeeds: a user
// lists and reads no user of another ministry (404, as for one that does
// not exist) unless directory.national_users is on, and then names and
// addresses only; colleagues of their own ministry with their roles; the
// disabled state only to administrators.
func TestUserDirectoryShowsOtherMinistriesOnlyWhatAddressingNeeds(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		if err := e.dir.Disable(context.Background(), operator, mofOtherStaf); err != nil {
			t.Fatal(err)
		}
		moct := e.withToken(moctClerk)
		if us, n := usersAs(moct, ""); n != 1 || len(us) != 1 || us[moctClerk] == nil {
			t.Errorf("MOCT clerk lists %d users: %v", n, us)
		}
		if us, n := usersAs(moct, "mof.gov.sy"); n != 0 || len(us) != 0 {
			t.Errorf("MOCT clerk lists MOF's users: %v", us)
		}
		moct.wantError("GET", "/api/v1/users/"+mofClerk, nil, http.StatusNotFound, "not_found", "")
		moct.wantError("GET", "/api/v1/users/"+adminLogin, nil, http.StatusNotFound, "not_found", "")

		// Colleagues: roles, not the account's state.
		mof := e.withToken(mofStaff)
		us, n := usersAs(mof, "")
		if n != 4 || len(us) != 4 {
			t.Errorf("MOF staff lists %d users: %v", n, us)
		}
		for addr, u := range us {
			want := []string{"address", "ministry", "name", "roles"}
			if addr == mofStaff {
				want = []string{"address", "disabled", "ministry", "must_change_password", "name", "roles"}
			}
			if got := keysOf(u); !slices.Equal(got, want) {
				t.Errorf("MOF staff sees %s with %v, want %v", addr, got, want)
			}
		}
		var one map[string]any
		mof.call("GET", "/api/v1/users/"+mofOtherStaf, nil, http.StatusOK, &one)
		if got := keysOf(one); !slices.Equal(got, []string{"address", "ministry", "name", "roles"}) {
			t.Errorf("MOF staff reads a disabled colleague as %v", one)
		}

		// Administrators see every account whole.
		us, n = usersAs(e.withToken(adminLogin), "")
		if n != 6 || us[mofOtherStaf]["disabled"] != true || us[mofClerk]["disabled"] != false || us[moctClerk]["roles"] == nil {
			t.Errorf("administrator lists %d users: %v", n, us)
		}

		// A department's head is a person: shown outside the ministry only
		// to administrators.
		heads := func(c *apiClient) string {
			c.t.Helper()
			var deps list[departmentDTO]
			c.call("GET", "/api/v1/departments?ministry=MOF", nil, http.StatusOK, &deps)
			var one departmentDTO
			c.call("GET", "/api/v1/departments/MOF/LEGAL", nil, http.StatusOK, &one)
			head := func(h *string) string {
				if h == nil {
					return ""
				}
				return *h
			}
			var out []string
			for _, d := range deps.Items {
				out = append(out, d.Code+":"+head(d.Head))
			}
			return strings.Join(out, ",") + " " + head(one.Head)
		}
		if got := heads(moct); got != "BUDGET:,LEGAL: " {
			t.Errorf("MOCT clerk sees MOF's department heads: %s", got)
		}
		for _, who := range []string{mofStaff, adminLogin} {
			if got := heads(e.withToken(who)); got != "BUDGET:,LEGAL:"+mofHead+" "+mofHead {
				t.Errorf("%s sees MOF's department heads as %s", who, got)
			}
		}

		// With the national address book, other ministries' users by name
		// and address, and departments' heads.
		national := *e
		wcfg := config.Default().Workflow
		wcfg.MaxAttachmentBytes, wcfg.MaxLetterBytes = testMaxAttachment, testMaxLetter
		nationalDir := directory.New(e.db, directory.Options{HashParams: cheapHash, NationalUsers: true})
		national.ts = startTLS(t, Options{BaseURL: "https://diwan.example.gov",
			Workflow:  workflow.New(e.db, e.blobs, workflow.Options{Workflow: wcfg, NationalUsers: true, Directory: nationalDir}),
			Directory: nationalDir}, nil)
		moct = national.withToken(moctClerk)
		if got := heads(moct); got != "BUDGET:,LEGAL:"+mofHead+" "+mofHead {
			t.Errorf("MOCT clerk with the national book sees MOF's department heads as %s", got)
		}
		us, n = usersAs(moct, "mof.gov.sy")
		if n != 4 || len(us) != 4 {
			t.Errorf("MOCT clerk with the national book lists %d MOF users: %v", n, us)
		}
		for addr, u := range us {
			if got := keysOf(u); !slices.Equal(got, []string{"address", "ministry", "name"}) || u["ministry"] != "MOF" {
				t.Errorf("MOCT clerk sees %s as %v", addr, u)
			}
		}
		_, b := moct.do("GET", "/api/v1/users/"+mofOtherStaf, nil)
		var other map[string]any
		if err := json.Unmarshal(b, &other); err != nil || !slices.Equal(keysOf(other), []string{"address", "ministry", "name"}) {
			t.Errorf("MOCT clerk reads %s as %s", mofOtherStaf, b)
		}
		moct.wantError("GET", "/api/v1/users/"+adminLogin, nil, http.StatusNotFound, "not_found", "")
	})
}
