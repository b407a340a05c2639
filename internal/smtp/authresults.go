package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// withoutOwnResults reads a message without the Authentication-Results
// fields that claim this server's authserv-id (its host name): RFC 8601
// §5 has an MTA delete them, since only this server may speak for it and
// the sender put them there. The header section is read into memory on
// the first Read (the listener bounds it, with the trace fields on top);
// the body streams from msg.
type withoutOwnResults struct {
	msg      io.Reader
	authserv string
	r        io.Reader // the message as it is read, once the header is scanned
}

func (w *withoutOwnResults) Read(p []byte) (int, error) {
	if w.r == nil {
		if err := w.scan(); err != nil {
			return 0, err
		}
	}
	return w.r.Read(p)
}

// scan reads the header section field by field, keeping all but ours.
func (w *withoutOwnResults) scan() error {
	br := bufio.NewReaderSize(w.msg, 8<<10)
	var head, field bytes.Buffer
	flush := func() {
		if !w.ours(field.Bytes()) {
			head.Write(field.Bytes())
		}
		field.Reset()
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			field.Write(line) // a folded line of the field
		} else if len(line) > 0 {
			flush()
			field.Write(line)
		}
		if err == io.EOF || (len(line) > 0 && (string(line) == "\r\n" || string(line) == "\n")) {
			flush()
			w.r = io.MultiReader(&head, br)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ours reports whether a field is an Authentication-Results field whose
// authserv-id is this server's (compared without case, RFC 8601 §2.5).
func (w *withoutOwnResults) ours(field []byte) bool {
	name, value, ok := bytes.Cut(field, []byte(":"))
	if !ok || !strings.EqualFold(strings.TrimRight(string(name), " \t"), "Authentication-Results") {
		return false
	}
	v := strings.NewReplacer("\r\n", " ", "\n", " ", "\t", " ").Replace(string(value))
	v = strings.TrimSpace(v)
	for strings.HasPrefix(v, "(") { // a comment before the id (CFWS)
		depth, i := 0, 0
		for ; i < len(v); i++ {
			if v[i] == '(' {
				depth++
			} else if v[i] == ')' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		v = strings.TrimSpace(v[min(i+1, len(v)):])
	}
	if end := strings.IndexAny(v, " ;("); end >= 0 {
		v = v[:end]
	}
	return strings.EqualFold(strings.Trim(v, `"`), w.authserv)
}
