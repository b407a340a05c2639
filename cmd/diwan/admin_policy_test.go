package main

import (
	"strings"
	"testing"
)

// TestAdminPolicyDenyOfHostedDomainsAsksForYes: a deny rule that covers
// hosted domains is refused without --yes, with a one-line reason naming
// them, and nothing changes (as the API answers 409 confirm_required);
// with --yes it is made; a deny of a foreign domain needs no --yes.
func TestAdminPolicyDenyOfHostedDomainsAsksForYes(t *testing.T) {
	in := adminInstance(t)
	in.ok("", "admin", "domain", "add", "moct.gov.sy", "--ministry", "MOF")
	before := in.ok("", "admin", "audit", "verify")
	for _, pattern := range []string{".gov.sy", "MOF.gov.sy", ".moct.gov.sy"} {
		in.fails("--yes", "", "admin", "policy", "deny", pattern)
	}
	in.fails("moct.gov.sy, mof.gov.sy", "", "admin", "policy", "deny", ".gov.sy", "--note", "lock-out")
	if after := in.ok("", "admin", "audit", "verify"); after != before {
		t.Fatalf("a refused deny changed the audit log: %q → %q", before, after)
	}
	if out := in.ok("", "admin", "policy", "list"); strings.Contains(out, "deny") {
		t.Fatalf("a refused deny rule exists:\n%s", out)
	}
	if out := in.ok("", "admin", "policy", "test", "ali@mof.gov.sy"); !strings.Contains(out, ": national (hosted:mof.gov.sy)") {
		t.Fatalf("policy test after the refused deny:\n%s", out)
	}

	in.ok("", "admin", "policy", "deny", "gmail.com")
	if out := in.ok("", "admin", "policy", "deny", ".gov.sy", "--yes", "--note", "drill"); out != "deny .gov.sy\n" {
		t.Fatalf("deny --yes: %q", out)
	}
	out := in.ok("", "admin", "policy", "list")
	for _, want := range []string{"gmail.com", ".gov.sy", "drill"} {
		if !strings.Contains(out, want) {
			t.Fatalf("policy list lacks %q:\n%s", want, out)
		}
	}
	if out := in.ok("", "admin", "policy", "test", "ali@mof.gov.sy"); !strings.Contains(out, ": not national (deny:.gov.sy)") {
		t.Fatalf("policy test after deny --yes:\n%s", out)
	}
}
