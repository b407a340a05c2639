package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
)

// textCollector gathers the folded text of text parts, up to MaxSearchText.
type textCollector struct {
	b strings.Builder
}

func (c *textCollector) full() bool { return c.b.Len() >= MaxSearchText }

func (c *textCollector) String() string { return c.b.String() }

// add decodes one text part's captured body and appends its folded text.
func (c *textCollector) add(part *Part, raw []byte) {
	if len(raw) == 0 || c.full() {
		return
	}
	var r io.Reader = bytes.NewReader(raw)
	plain := true
	if d, err := decoder(part.Encoding, r); err == nil && d != r {
		r, plain = d, false
	}
	if cs := strings.ToLower(part.Params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		if gomessage.CharsetReader != nil {
			if d, err := gomessage.CharsetReader(cs, r); err == nil {
				r, plain = d, false
			}
		}
	}
	var s string
	if plain {
		s = string(raw[:min(len(raw), 4*MaxSearchText)])
	} else {
		b, _ := io.ReadAll(io.LimitReader(r, 4*MaxSearchText))
		s = string(b)
	}
	if part.Subtype == "html" {
		s = htmlText(s)
	}
	s = Fold(s)
	if s == "" {
		return
	}
	if c.b.Len() > 0 {
		c.b.WriteByte(' ')
	}
	if room := MaxSearchText - c.b.Len(); len(s) > room {
		for room > 0 && !utf8.RuneStart(s[room]) {
			room--
		}
		s = s[:room]
	}
	c.b.WriteString(s)
}

// htmlText is the text of an HTML document, roughly: tags, comments,
// scripts and styles removed, entities decoded.
func htmlText(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		s = s[i:]
		lower := strings.ToLower(s[:min(len(s), 8)])
		switch {
		case strings.HasPrefix(lower, "<!--"):
			if j := strings.Index(s, "-->"); j >= 0 {
				s = s[j+3:]
			} else {
				s = ""
			}
			continue
		case strings.HasPrefix(lower, "<script"), strings.HasPrefix(lower, "<style"):
			end := "</script"
			if strings.HasPrefix(lower, "<style") {
				end = "</style"
			}
			if j := strings.Index(strings.ToLower(s), end); j >= 0 {
				s = s[j+len(end):]
			} else {
				s = ""
			}
		}
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[j+1:]
		} else {
			s = ""
		}
	}
	return html.UnescapeString(b.String())
}

func decoder(enc string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "7bit", "8bit", "binary":
		return r, nil
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: r}), nil
	case "quoted-printable":
		return quotedprintable.NewReader(r), nil
	}
	return nil, fmt.Errorf("message: unknown transfer encoding %q", enc)
}

// base64Cleaner drops what is not base64 alphabet (line breaks, spaces,
// stray characters), as RFC 2045 §6.8 tells decoders to.
type base64Cleaner struct {
	r   io.Reader
	buf [4096]byte
}

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(c.buf[:min(len(p), len(c.buf))])
		k := 0
		for _, b := range c.buf[:n] {
			if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
				p[k] = b
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// arabicMark reports Arabic diacritics and the tatweel, which searches
// ignore.
func arabicMark(r rune) bool {
	return r >= 0x0610 && r <= 0x061A || r >= 0x064B && r <= 0x065F || r == 0x0670 ||
		r >= 0x06D6 && r <= 0x06ED || r == 0x0640
}

func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			i++
			switch {
			case c == 0:
				continue
			case c == ' ' || c >= '\t' && c <= '\r':
				space = true
				continue
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError, r == 0:
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		case arabicMark(r), unicode.Is(unicode.Cf, r):
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
