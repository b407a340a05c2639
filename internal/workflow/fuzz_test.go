package workflow_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"diwan.gov.sy/diwan/internal/workflow"
)

// Whatever a client sends as a file name, what is kept is display text:
// valid UTF-8, no path separator, no control character, at most 255 bytes,
// never empty.
func FuzzDisplayName(f *testing.F) {
	for _, s := range []string{"../../etc/passwd", "CON", "a\x00b", "\xff", strings.Repeat("س", 300), "\u202eexe.txt", `a\b/c`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := workflow.DisplayNameForTest(in)
		if got == "" || len(got) > 255 || !utf8.ValidString(got) || strings.ContainsAny(got, `/\`) {
			t.Fatalf("displayName(%q) = %q", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("displayName(%q) = %q keeps a control character", in, got)
			}
		}
		if workflow.DisplayNameForTest(got) != got {
			t.Fatalf("displayName is not idempotent on %q", got)
		}
	})
}

// A template either is refused or formats numbers that carry the sequence.
func FuzzNumberTemplate(f *testing.F) {
	for _, s := range []string{workflow.DefaultTemplate, "{dir}{year}{seq:012}", "{seq:}", "{{dir}}", "{dir}{year}{seq:0x}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		got, err := workflow.FormatNumberForTest(tmpl, "MOCT", workflow.Incoming, 2026, 987654)
		if err != nil {
			return
		}
		if !strings.Contains(got, "987654") || !strings.Contains(got, "2026") || !strings.Contains(got, "و") {
			t.Fatalf("template %q formats %q", tmpl, got)
		}
	})
}
