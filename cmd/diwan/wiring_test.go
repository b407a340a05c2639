package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The organisation made on the command line is what the running server's
// API serves, to a personal token printed by `admin user token`.
func TestOrganisationFromCLIServedByAPI(t *testing.T) {
	in := adminInstance(t)
	in.ok("correct horse battery\n", "admin", "user", "add", "clerk@mof.gov.sy", "--name", "Clerk", "--ministry", "MOF", "--role", "clerk", "--password-stdin")
	in.ok("correct horse battery\n", "admin", "user", "add", "head@mof.gov.sy", "--name", "Head", "--ministry", "MOF", "--role", "head", "--password-stdin")
	in.ok("", "admin", "registry", "add", "MOFREG", "--ministry", "MOF", "--name-ar", "ديوان المالية", "--name-en", "Finance registry", "--address", "diwan@mof.gov.sy")
	in.ok("", "admin", "department", "add", "BUDGET", "--ministry", "MOF", "--name-ar", "الموازنة", "--name-en", "Budget", "--head", "head@mof.gov.sy")
	if out := in.ok("", "admin", "member", "clerk@mof.gov.sy", "--registry", "MOFREG", "--clearance", "confidential"); !strings.Contains(out, "MOFREG") {
		t.Fatalf("member output: %q", out)
	}
	if out := in.ok("", "admin", "user", "quota", "clerk@mof.gov.sy", "2GiB"); !strings.Contains(out, "2147483648") {
		t.Fatalf("quota output: %q", out)
	}
	in.fails("size", "", "admin", "user", "quota", "clerk@mof.gov.sy", "lots")
	in.fails("ministry", "", "admin", "registry", "add", "XREG", "--ministry", "NOPE", "--name-ar", "س", "--name-en", "X", "--address", "x@mof.gov.sy")

	token := strings.TrimSpace(in.ok("", "admin", "user", "token", "clerk@mof.gov.sy"))
	if !regexp.MustCompile(`^\S{20,}$`).MatchString(token) {
		t.Fatalf("token %q", token)
	}

	s := in.serve()
	req, _ := http.NewRequest("GET", s.url+"/api/v1/registries", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
		Total int              `json:"total"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/registries: %d %v", resp.StatusCode, err)
	}
	if list.Total != 1 || list.Items[0]["code"] != "MOFREG" {
		t.Fatalf("registries = %+v", list)
	}

	req, _ = http.NewRequest("GET", s.url+"/api/v1/registries", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err = s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: %d, want 401", resp.StatusCode)
	}
	s.stop(t)
}

// TestNationalUsersSwitchReachesTheAPI: directory.national_users decides
// whether a user of one ministry finds another ministry's users and their
// departments' heads through the API served by diwan serve.
func TestNationalUsersSwitchReachesTheAPI(t *testing.T) {
	in := adminInstance(t)
	in.ok("", "admin", "ministry", "add", "MOH", "--name-ar", "وزارة الصحة", "--name-en", "Ministry of Health")
	in.ok("", "admin", "domain", "add", "moh.gov.sy", "--ministry", "MOH")
	in.ok("correct horse battery\n", "admin", "user", "add", "clerk@mof.gov.sy", "--name", "Clerk", "--ministry", "MOF", "--role", "clerk", "--password-stdin")
	in.ok("correct horse battery\n", "admin", "user", "add", "head@moh.gov.sy", "--name", "Head", "--ministry", "MOH", "--role", "head", "--password-stdin")
	in.ok("", "admin", "department", "add", "LAB", "--ministry", "MOH", "--name-ar", "المخبر", "--name-en", "Laboratory", "--head", "head@moh.gov.sy")
	token := strings.TrimSpace(in.ok("", "admin", "user", "token", "clerk@mof.gov.sy"))

	for _, national := range []bool{false, true} {
		in.env = []string{fmt.Sprintf("DIWAN_DIRECTORY_NATIONAL_USERS=%v", national)}
		s := in.serve()
		get := func(path string) map[string]any {
			t.Helper()
			req, _ := http.NewRequest("GET", s.url+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
			}
			return out
		}
		users := get("/api/v1/users?q=moh.gov.sy")
		dep := get("/api/v1/departments/MOH/LAB")
		found := users["total"] == float64(1)
		if found != national || (dep["head"] == "head@moh.gov.sy") != national {
			t.Errorf("national_users %v: users %v, department %v", national, users, dep)
		}
		s.stop(t)
	}
}
