package workflow

import (
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func inputErr(field, msg string) *InputError { return &InputError{Field: field, Message: msg} }

func unprocessable(field, msg string) *InputError {
	return &InputError{Field: field, Message: msg, Unprocessable: true}
}

// Limits on text fields, in characters.
const (
	maxNameChars        = 200
	maxSubjectChars     = 500
	maxPartyChars       = 300
	maxReasonChars      = 2000
	maxInstructionChars = 500
	maxAnswerChars      = 20000
	maxRecipients       = 1000
	maxReferences       = 100
	maxCodeLen          = 32
)

// canonicalCode upper-cases a registry or department code and checks it:
// 2 to 32 characters of A-Z, 0-9, "_" and "-", starting with a letter or
// digit.
func canonicalCode(field, what, s string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(s))
	if code == "" {
		return "", inputErr(field, what+" code is empty")
	}
	if len(code) < 2 || len(code) > maxCodeLen {
		return "", inputErr(field, fmt.Sprintf("%s code %s must have 2 to %d characters", what, show(s), maxCodeLen))
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		ok := 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || (i > 0 && (c == '_' || c == '-'))
		if !ok {
			return "", inputErr(field, fmt.Sprintf("%s code %s may have only the letters A-Z, digits, \"_\" and \"-\", and starts with a letter or digit", what, show(s)))
		}
	}
	return code, nil
}

// cleanLine trims and NFC-normalises one line of text, refusing control
// characters and more than max characters; required refuses "".
func cleanLine(field, what, s string, max int, required bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", inputErr(field, what+" is not valid UTF-8 text")
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	if s == "" && required {
		return "", inputErr(field, what+" is required")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", inputErr(field, what+" contains a control character")
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", inputErr(field, fmt.Sprintf("%s has %d characters; the limit is %d", what, n, max))
	}
	return s, nil
}

// cleanText is cleanLine for multi-line text: tabs and line ends are kept
// (CRLF becomes LF), other control characters and NUL are refused; max is
// in bytes.
func cleanText(field, what, s string, max int64) (string, error) {
	if !utf8.ValidString(s) {
		return "", inputErr(field, what+" is not valid UTF-8 text")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", inputErr(field, what+" contains a control character")
		}
	}
	s = norm.NFC.String(s)
	if max > 0 && int64(len(s)) > max {
		return "", inputErr(field, fmt.Sprintf("%s has %d bytes; the limit is %d", what, len(s), max))
	}
	return s, nil
}

// show quotes s for an error message, cut to a readable length.
func show(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return fmt.Sprintf("%q…", string(r[:max]))
	}
	return fmt.Sprintf("%q", s)
}

// parseDate checks a YYYY-MM-DD date; "" is allowed (no date).
func parseDate(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return "", inputErr(field, fmt.Sprintf("%s is not a date in the form YYYY-MM-DD", show(s)))
	}
	return s, nil
}

// maxFileNameBytes bounds an attachment's display name.
const maxFileNameBytes = 255

// displayName reduces a client's file name to display text: the last
// element of any '/' or '\' path, invalid UTF-8 replaced, control
// characters (NUL included) and bidirectional overrides removed, NFC,
// trimmed, at most 255 bytes cut on a rune boundary (keeping a short
// extension). Names such as "CON" or "..." are fine as text; the name never
// reaches a file system (blobs are stored under random keys). An empty
// result is "attachment".
func displayName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.ReplaceAll(name, "\\", "/")
	var b strings.Builder
	for _, r := range name {
		if unicode.IsControl(r) || isBidiControl(r) {
			continue
		}
		b.WriteRune(r)
	}
	name = b.String()
	// The base name: the last non-empty path element.
	parts := strings.Split(name, "/")
	name = ""
	for i := len(parts) - 1; i >= 0; i-- {
		if p := strings.TrimSpace(parts[i]); p != "" && p != "." && p != ".." {
			name = p
			break
		}
	}
	name = strings.TrimSpace(norm.NFC.String(name))
	if name == "" {
		return "attachment"
	}
	if len(name) <= maxFileNameBytes {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > 16 || len(ext) == len(name) {
		ext = ""
	}
	stem := truncateUTF8(strings.TrimSuffix(name, ext), maxFileNameBytes-len(ext))
	return stem + ext
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// isBidiControl reports the explicit bidirectional formatting characters
// (embeddings, overrides, isolates) that can make "gpj.exe" look like
// "exe.jpg". The marks LRM, RLM and ALM stay: they change no order.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}
