package workflow

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
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

// render writes a number of registry, direction d and year, the sequence
// number written by seq (given its zero padding): the one place a
// register number is formatted.
func (t template) render(registry string, d Direction, year int, seq func(width int) string) string {
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
			b.WriteString(seq(p.width))
		}
	}
	return b.String()
}

// format writes a number.
func (t template) format(registry string, d Direction, year int, seq int64) string {
	return t.render(registry, d, year, func(width int) string { return pad(seq, width) })
}

// pad writes seq with at least width digits, zeros in front.
func pad(seq int64, width int) string { return fmt.Sprintf("%0*d", width, seq) }

// numberFormat is how a registry writes its numbers of one direction and
// year.
type numberFormat struct {
	t        template
	registry string
	d        Direction
	year     int
}

// numberFormatOf is the format of the registry's template (DefaultTemplate
// when the stored one no longer parses, which Add/UpdateRegistry prevent).
func numberFormatOf(tmpl, registry string, d Direction, year int) numberFormat {
	t, err := parseTemplate(tmpl)
	if err != nil {
		t, _ = parseTemplate(DefaultTemplate)
	}
	return numberFormat{t: t, registry: registry, d: d, year: year}
}

func (f numberFormat) format(seq int64) string { return f.t.format(f.registry, f.d, f.year, seq) }

// split is the number around its one sequence number: number = pre +
// pad(seq, width) + post, for the store to write in SQL. ok is false when
// the template has more than one {seq}, or when pre or post hold a
// character that JSON encodes differently in Go and PostgreSQL (the audit
// details carry the number).
func (f numberFormat) split() (pre, post string, width int, ok bool) {
	const mark = "\x00seq\x00"
	n := 0
	whole := f.t.render(f.registry, f.d, f.year, func(w int) string { n, width = n+1, w; return mark })
	pre, post, _ = strings.Cut(whole, mark)
	plain := func(s string) bool {
		return utf8.ValidString(s) && !strings.ContainsAny(s, "\"\\<>&\u2028\u2029") &&
			!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	}
	return pre, post, width, n == 1 && plain(pre) && plain(post)
}

// formatNumber formats with the registry's template (numberFormatOf).
func formatNumber(tmpl, registry string, d Direction, year int, seq int64) string {
	return numberFormatOf(tmpl, registry, d, year).format(seq)
}
