package message

import (
	"bytes"
	"strings"
)

func find(root *Part, path []int) (*Part, error) {
	cur, atMsg := root, true
	for _, n := range path {
		if !atMsg && cur.Message != nil {
			cur, atMsg = cur.Message, true
		}
		switch {
		case cur.IsMultipart():
			if n < 1 || n > len(cur.Children) {
				return nil, ErrNoSection
			}
			cur, atMsg = cur.Children[n-1], false
		case atMsg && n == 1:
			atMsg = false // the body of a single-part message
		default:
			return nil, ErrNoSection
		}
	}
	return cur, nil
}

func section(root *Part, path []int, spec Specifier) (int64, int64, error) {
	if root == nil {
		return 0, 0, ErrNoSection
	}
	if len(path) == 0 {
		switch spec {
		case SpecAll:
			return 0, root.End, nil
		case SpecHeader:
			return root.HeaderStart, root.BodyStart - root.HeaderStart, nil
		case SpecText:
			return root.BodyStart, root.End - root.BodyStart, nil
		}
		return 0, 0, ErrNoSection
	}
	p, err := find(root, path)
	if err != nil {
		return 0, 0, err
	}
	switch spec {
	case SpecAll:
		return p.BodyStart, p.End - p.BodyStart, nil
	case SpecMIME:
		return p.HeaderStart, p.BodyStart - p.HeaderStart, nil
	case SpecHeader, SpecText:
		m := p.Message
		if m == nil {
			return 0, 0, ErrNoSection
		}
		if spec == SpecHeader {
			return m.HeaderStart, m.BodyStart - m.HeaderStart, nil
		}
		return m.BodyStart, m.End - m.BodyStart, nil
	}
	return 0, 0, ErrNoSection
}

func filterHeader(header []byte, fields []string, not bool) []byte {
	want := func(name []byte) bool {
		n := strings.TrimSpace(string(name))
		for _, f := range fields {
			if strings.EqualFold(n, f) {
				return !not
			}
		}
		return not
	}
	var out []byte
	keep := false
	for line := range bytes.SplitAfterSeq(header, []byte("\n")) {
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the blank line
		}
		if line[0] == ' ' || line[0] == '\t' {
			if keep {
				out = append(out, line...)
			}
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		keep = ok && want(name)
		if keep {
			out = append(out, line...)
		}
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return append(out, '\r', '\n')
}
