package workflow_test

import (
	"errors"
	"testing"

	"diwan.gov.sy/diwan/internal/workflow"
)

// The example number of a template is the year's first number as the
// engine writes it; an empty template is the default one, and an invalid
// template is an input error for "template", as when a registry is saved.
func TestExampleNumberIsTheYearsFirstNumberOfTheTemplate(t *testing.T) {
	for _, c := range []struct {
		tmpl, registry string
		dir            workflow.Direction
		want           string
	}{
		{workflow.DefaultTemplate, "MOF", workflow.Incoming, "MOF/و/2026/000001"},
		{"", "MOF", workflow.Outgoing, "MOF/ص/2026/000001"},
		{"  {year}-{dir}-{seq}  ", "X", workflow.Incoming, "2026-و-1"},
		{"ق/{registry}/{seq:04}/{dir}/{year}", "MOH", workflow.Outgoing, "ق/MOH/0001/ص/2026"},
	} {
		got, err := workflow.ExampleNumber(c.tmpl, c.registry, c.dir, 2026)
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.tmpl, got, err, c.want)
		}
	}
	for _, bad := range []string{"{registry}/{seq}", "{dir}{year}{seq:6}", "{dir}{year}{nope}{seq}"} {
		_, err := workflow.ExampleNumber(bad, "MOF", workflow.Outgoing, 2026)
		var ie *workflow.InputError
		if !errors.As(err, &ie) || ie.Field != "template" {
			t.Errorf("template %q: %v, want an input error for template", bad, err)
		}
	}
}
