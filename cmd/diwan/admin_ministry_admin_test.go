package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestAdminUserTakesTheMinistryAdminRole: `diwan admin user add --role
// ministry_admin` and `diwan admin user roles ADDRESS ministry_admin,…`
// accept the role of a ministry's administrator, shown by user list.
func TestAdminUserTakesTheMinistryAdminRole(t *testing.T) {
	in := adminInstance(t)
	in.ok("correct horse battery\n", "admin", "user", "add", "huda@mof.gov.sy", "--name", "Huda", "--ministry", "MOF",
		"--role", "ministry_admin", "--password-stdin")
	if out := in.ok("", "admin", "user", "list"); !regexp.MustCompile(`huda@mof.gov.sy\s+Huda\s+MOF\s+ministry_admin`).MatchString(out) {
		t.Fatalf("user list after add:\n%s", out)
	}
	if out := in.ok("", "admin", "user", "roles", "huda@mof.gov.sy", "Ministry_Admin,clerk"); !strings.Contains(out, "roles of huda@mof.gov.sy: clerk,ministry_admin") {
		t.Fatalf("user roles: %q", out)
	}
}
