package workflow

import (
	"fmt"
	"strconv"
	"strings"
)

// Register numbers (DESIGN.md §6): per registry, per direction, per year in
// time_zone; gapless, unique, never reused.
//
// A number is taken in the caller's transaction with one upsert on the
// counter row (txn.allocateNumber): on PostgreSQL the row stays locked
// until the transaction ends, so concurrent registrations (on any node)
// queue on it; SQLite runs one writing transaction at a time. If the
// transaction rolls back, so does the increment: no gap. The unique index
// on (registry_id, direction, year, seq) is the last line of defence. The
// store returns the sequence number; it is formatted here, and only here,
// by the registry's template (formatNumber).

// dirMark is the direction as written in numbers, whatever the UI language.
func dirMark(d Direction) string {
	if d == Outgoing {
		return "ص"
	}
	return "و"
}

// template is a parsed numbering template.
type template []tmplPart

type tmplPart struct {
	lit   string
	field string // "registry", "dir", "year", "seq"; "" for a literal
	width int    // zero padding of seq
}

const maxTemplateLen = 100

// parseTemplate checks a numbering template: literal text and the
// placeholders {registry}, {dir}, {year}, {seq} or {seq:0N} (N ≤ 12); it
// must contain {dir}, {year} and {seq} so that numbers of different
// directions and years never collide.
func parseTemplate(s string) (template, error) {
	bad := func(msg string) error {
		return inputErr("template", fmt.Sprintf("numbering template %s: %s", show(s), msg))
	}
	if s == "" {
		return nil, bad("empty")
	}
	if len(s) > maxTemplateLen {
		return nil, bad(fmt.Sprintf("longer than %d bytes", maxTemplateLen))
	}
	var t template
	seen := map[string]bool{}
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t = append(t, tmplPart{lit: rest})
			break
		}
		if rest[i] == '}' {
			return nil, bad("a \"}\" without \"{\"")
		}
		if i > 0 {
			t = append(t, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, bad("a \"{\" without \"}\"")
		}
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		p := tmplPart{field: name}
		if n, w, ok := strings.Cut(name, ":"); ok && n == "seq" {
			width, err := strconv.Atoi(w)
			if err != nil || !strings.HasPrefix(w, "0") || width < 1 || width > 12 {
				return nil, bad(fmt.Sprintf("{%s}: the width is written {seq:06}, 1 to 12 digits", name))
			}
			p = tmplPart{field: "seq", width: width}
		}
		switch p.field {
		case "registry", "dir", "year", "seq":
		default:
			return nil, bad(fmt.Sprintf("unknown placeholder {%s}; use {registry}, {dir}, {year}, {seq} or {seq:06}", name))
		}
		seen[p.field] = true
		t = append(t, p)
	}
	for _, need := range []string{"dir", "year", "seq"} {
		if !seen[need] {
			return nil, bad(fmt.Sprintf("{%s} is required", need))
		}
	}
	for _, p := range t {
		for _, r := range p.lit {
			if r < 0x20 || r == 0x7f {
				return nil, bad("contains a control character")
			}
		}
	}
	return t, nil
}

// format writes a number.
func (t template) format(registry string, d Direction, year int, seq int64) string {
	var b strings.Builder
	for _, p := range t {
		switch p.field {
		case "":
			b.WriteString(p.lit)
		case "registry":
			b.WriteString(registry)
		case "dir":
			b.WriteString(dirMark(d))
		case "year":
			b.WriteString(strconv.Itoa(year))
		case "seq":
			fmt.Fprintf(&b, "%0*d", p.width, seq)
		}
	}
	return b.String()
}

// formatNumber formats with the registry's template (DefaultTemplate when
// the stored one no longer parses, which Add/UpdateRegistry prevent).
func formatNumber(tmpl, registry string, d Direction, year int, seq int64) string {
	t, err := parseTemplate(tmpl)
	if err != nil {
		t, _ = parseTemplate(DefaultTemplate)
	}
	return t.format(registry, d, year, seq)
}
