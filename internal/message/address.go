package message

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// parseAddressField reads an address field (RFC 5322 §3.4) leniently. Groups
// keep their syntax as RFC 3501 §7.4.2 encodes it: a start marker (Mailbox =
// the group's name), the members, an end marker; an empty group ("undisclosed
// recipients:;") is the two markers. Mailboxes that net/mail cannot read are
// tried again without their comments ("<user (c)@ (c) domain.org>").
func parseAddressField(v string) []Address {
	var out []Address
	for _, seg := range splitGroups(v) {
		if !seg.group {
			out = append(out, parseMailboxes(seg.text)...)
			continue
		}
		out = append(out, Address{Mailbox: groupName(seg.name)})
		out = append(out, parseMailboxes(seg.text)...)
		out = append(out, Address{})
	}
	return out
}

// segment is a run of mailboxes outside any group, or one group.
type segment struct {
	group bool
	name  string // the group's display name, as written
	text  string // the mailboxes, as written
}

// splitGroups cuts an address field at its group boundaries: a ':' outside
// quotes, comments and angle brackets opens a group whose name is the text
// since the last top-level ',', and the next ';' closes it.
func splitGroups(v string) []segment {
	var segs []segment
	var quoted, escaped, angle bool
	depth, start, lastComma := 0, 0, 0
	in := -1 // start of the current group's members, -1 outside a group
	name := ""
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && (quoted || depth > 0):
			escaped = true
		case quoted:
			quoted = c != '"'
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '"':
			quoted = true
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == ',' && in < 0:
			lastComma = i + 1
		case c == ':' && in < 0:
			segs = append(segs, segment{text: v[start:lastComma]})
			name, in = v[lastComma:i], i+1
		case c == ';' && in >= 0:
			segs = append(segs, segment{group: true, name: name, text: v[in:i]})
			in, start, lastComma = -1, i+1, i+1
		}
	}
	if in >= 0 { // an unclosed group ends with the field
		return append(segs, segment{group: true, name: name, text: v[in:]})
	}
	return append(segs, segment{text: v[start:]})
}

// groupName is a group's display name, unquoted and decoded.
func groupName(s string) string {
	s = strings.TrimSpace(stripComments(s))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.ReplaceAll(s[1:len(s)-1], `\`, "")
	}
	return clean(decodeValue(s))
}

// parseMailboxes parses a list of mailboxes; when the whole list does not
// parse, each comma-separated piece is tried on its own, as written and then
// without comments.
func parseMailboxes(v string) []Address {
	if strings.Trim(v, " \t\r\n,") == "" {
		return nil
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		list = nil
		var out []Address
		for piece := range strings.SplitSeq(v, ",") {
			route, rest := cutRoute(piece)
			a, err := mail.ParseAddress(rest)
			if err != nil {
				a, err = mail.ParseAddress(tightAddress(stripComments(rest)))
			}
			if err == nil {
				out = append(out, toAddress(a, route)...)
			}
		}
		return out
	}
	var out []Address
	for _, a := range list {
		out = append(out, toAddress(a, "")...)
	}
	return out
}

// toAddress is a parsed mailbox as ENVELOPE holds it; none without a
// local part.
func toAddress(a *mail.Address, route string) []Address {
	mbox, host, ok := strings.Cut(a.Address, "@")
	if !ok || mbox == "" {
		return nil
	}
	return []Address{{Name: clean(a.Name), Mailbox: clean(mbox), Host: clean(host), Route: clean(route)}}
}

// cutRoute takes an obsolete source route out of an angle address
// ("<@relay.example:user@domain>", RFC 5322 §4.4 obs-route), which
// net/mail does not read, and returns it ("@relay.example") with the rest.
func cutRoute(s string) (route, rest string) {
	i := strings.Index(s, "<")
	if i < 0 {
		return "", s
	}
	after := strings.TrimLeft(s[i+1:], " \t")
	if !strings.HasPrefix(after, "@") {
		return "", s
	}
	j := strings.Index(after, ":")
	if j < 0 || strings.ContainsAny(after[:j], "<>\"") {
		return "", s
	}
	return strings.TrimSpace(after[:j]), s[:i+1] + after[j+1:]
}

// stripComments drops the comments (RFC 5322 §3.2.2) outside quoted strings.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	var quoted, escaped bool
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && (quoted || depth > 0):
			escaped = true
		case depth == 0 && c == '"':
			quoted = !quoted
		case !quoted && c == '(':
			depth++
			continue
		case !quoted && c == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// tightAddress removes the folding white space around '@' that comments
// leave behind ("user @ domain.org").
func tightAddress(s string) string {
	for _, sp := range []string{" @", "@ ", "\t@", "@\t"} {
		for strings.Contains(s, sp) {
			s = strings.ReplaceAll(s, sp, "@")
		}
	}
	return s
}

// addressText is the mailboxes of a field as "name mailbox@host" lines,
// what SEARCH FROM/TO/CC/BCC matches beside the field as written (RFC 3501
// §6.4.4: the field "contains" the string; a mailbox written with comments
// inside still contains its address).
func addressText(l []Address) string {
	var b strings.Builder
	for _, a := range l {
		if addr := a.Addr(); addr != "" {
			b.WriteString("\n")
			if a.Name != "" {
				b.WriteString(a.Name + " ")
			}
			b.WriteString(addr)
		}
	}
	return b.String()
}
