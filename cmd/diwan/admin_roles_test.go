package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestAdminUserRolesReplacesRolesAndKeepsAnAdministrator: `diwan admin
// user roles ADDRESS R[,R…]` replaces a user's roles, shown by user list
// and audited; an unknown role, an unknown user, or taking the admin role
// from the last enabled administrator fail with a one-line reason.
func TestAdminUserRolesReplacesRolesAndKeepsAnAdministrator(t *testing.T) {
	in := adminInstance(t)
	in.ok("correct horse battery\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "clerk", "--password-stdin")
	if out := in.ok("", "admin", "user", "roles", "ALI@mof.gov.sy", "staff, Head"); !strings.Contains(out, "roles of ALI@mof.gov.sy: head,staff") {
		t.Fatalf("user roles: %q", out)
	}
	if out := in.ok("", "admin", "user", "list"); !regexp.MustCompile(`ali@mof.gov.sy\s+Ali\s+MOF\s+head,staff`).MatchString(out) {
		t.Fatalf("user list after roles:\n%s", out)
	}
	in.fails("not a role", "", "admin", "user", "roles", "ali@mof.gov.sy", "clerk,boss")
	in.fails("not found", "", "admin", "user", "roles", "nobody@mof.gov.sy", "clerk")
	// The only administrator keeps the role until another has it.
	in.ok("", "admin", "user", "roles", "ali@mof.gov.sy", "admin")
	in.fails("last enabled administrator", "", "admin", "user", "roles", "ali@mof.gov.sy", "clerk")
	in.ok("correct horse battery\n", "admin", "user", "add", "sara@mof.gov.sy", "--name", "Sara", "--ministry", "MOF", "--role", "admin", "--password-stdin")
	in.ok("", "admin", "user", "roles", "ali@mof.gov.sy", "clerk")
	if out := in.ok("", "admin", "audit", "verify"); !strings.HasPrefix(out, "ok ") {
		t.Fatalf("audit verify: %q", out)
	}
}
