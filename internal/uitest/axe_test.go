package uitest

import (
	"testing"
)

// The accessibility check sees what it is for: the login page passes it,
// and the same page with its login field's label taken away fails it with
// axe-core's critical "label" rule naming the field.
func TestAxeCheckFindsAFieldWithoutLabel(t *testing.T) {
	b := newTab(t, "axe")
	b.open("/login?lang=en")
	if vs := b.axeViolations("login"); len(vs) != 0 {
		t.Fatalf("the login page has violations: %+v", vs)
	}
	mustEval[bool](b, `document.querySelector('label[for="login"]').remove() || true`)
	vs := b.axeViolations("login without a label")
	for _, v := range vs {
		if v.ID == "label" && v.Impact == "critical" && len(v.Targets) == 1 && v.Targets[0] == "#login" {
			return
		}
	}
	t.Fatalf("a field without a label: violations %+v, want the critical rule label on #login", vs)
}
