package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"
	"sync"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets beyond UTF-8 and ASCII (windows-1256, ISO-8859-6, …)
	"github.com/emersion/go-message/textproto"
)

// Parser limits: beyond them the message is still stored and served, with
// less detail.
const (
	maxDepth       = 32        // nesting of multipart and message/rfc822
	maxParts       = 2000      // parts listed in the structure
	maxHeaderBytes = 256 << 10 // header bytes of one part that are read into fields
	maxLineKeep    = 64 << 10  // bytes of one line kept (the rest is counted)
	maxTextRaw     = 4 * MaxSearchText
)

// lineReader reads lines and knows where each begins.
type lineReader struct {
	br  *bufio.Reader
	off int64 // bytes consumed
	nl  int64 // line feeds consumed
	err error // first read error other than io.EOF

	// The current line, after next: its first bytes (at most maxLineKeep,
	// line ending included when kept), where it starts, its full length,
	// the length of its line ending (0 at the end of input, 1 or 2) and
	// the line feeds before it.
	line     []byte
	start    int64
	length   int64
	eol      int
	nlBefore int64
	// prevEOL is the line ending length of the line before the current
	// one: a boundary delimiter owns the line break before it.
	prevEOL int

	pushed bool // the current line is to be returned again by next
}

// lineBuffers are the read buffers of finished parses: a line reader's
// own line is a copy, so nothing of a parse points into its buffer.
var lineBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxLineKeep) }}

// next advances to the next line; false at the end of input (or on a read
// error, kept in err).
func (lr *lineReader) next() bool {
	if lr.pushed {
		lr.pushed = false
		return true
	}
	if lr.err != nil {
		return false
	}
	if lr.length > 0 {
		lr.prevEOL = lr.eol
	}
	lr.line = lr.line[:0]
	lr.start = lr.off
	lr.length = 0
	lr.eol = 0
	lr.nlBefore = lr.nl
	var last byte // the byte before the current chunk
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if keep := maxLineKeep - len(lr.line); keep > 0 {
			lr.line = append(lr.line, chunk[:min(len(chunk), keep)]...)
		}
		lr.length += int64(len(chunk))
		lr.off += int64(len(chunk))
		if err == bufio.ErrBufferFull {
			last = chunk[len(chunk)-1]
			continue
		}
		if err == nil {
			lr.nl++
			lr.eol = 1
			if bytes.HasSuffix(chunk, []byte("\r\n")) || (len(chunk) == 1 && last == '\r') {
				lr.eol = 2
			}
		} else if err != io.EOF {
			lr.err = err
		}
		break
	}
	return lr.length > 0
}

// back makes next return the current line again.
func (lr *lineReader) back() { lr.pushed = true }

// content is the kept text of the current line without its line ending.
func (lr *lineReader) content() []byte {
	return bytes.TrimRight(lr.line, "\r\n")
}

// term says how a part ended: at the end of input, or at a boundary line
// (a delimiter or a close delimiter) of the enclosing multipart at level.
type term struct {
	level int // index in the boundary stack; -1 at the end of input
	close bool
}

var endOfInput = term{level: -1}

type parser struct {
	lr     *lineReader
	parts  int
	broken bool
	text   textCollector
	raw    []byte // a leaf's captured body, reused from leaf to leaf
}

func parse(r io.Reader) (*Parsed, error) {
	br := lineBuffers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		lineBuffers.Put(br)
	}()
	p := &parser{lr: &lineReader{br: br}}
	root, _ := p.entity(nil, "text/plain", 0, true)
	if p.lr.err != nil {
		return nil, p.lr.err
	}
	pm := &Parsed{Body: root, Broken: p.broken}
	pm.Envelope = *root.Envelope
	root.Envelope = nil
	pm.Search = root.search
	pm.Search.Text = p.text.String()
	root.search = Search{}
	return pm, nil
}

// isBoundary reports whether line is a delimiter of one of the boundaries
// (innermost first) and which.
func isBoundary(line []byte, bounds []string) (term, bool) {
	if len(bounds) == 0 || len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return term{}, false
	}
	rest := bytes.TrimRight(line[2:], " \t\r\n")
	for i := len(bounds) - 1; i >= 0; i-- {
		b := bounds[i]
		if !bytes.HasPrefix(rest, []byte(b)) {
			continue
		}
		tail := rest[len(b):]
		switch {
		case len(tail) == 0:
			return term{level: i}, true
		case len(tail) == 2 && tail[0] == '-' && tail[1] == '-':
			return term{level: i, close: true}, true
		}
	}
	return term{}, false
}

// startBody marks the body as starting at the current position.
func (p *parser) startBody(part *Part) {
	part.BodyStart, part.bodyNL = p.lr.off, p.lr.nl
	part.End, part.endNL = part.BodyStart, part.bodyNL
}

// endHere ends the part after the line just read.
func (p *parser) endHere(part *Part) {
	part.End, part.endNL = p.lr.off, p.lr.nl
}

// endBefore ends the part before the current line (a boundary line) and the
// line break in front of it, which belongs to the delimiter (RFC 2046 §5.1.1).
func (p *parser) endBefore(part *Part) {
	lr := p.lr
	end, nl := lr.start, lr.nlBefore
	if lr.prevEOL > 0 {
		end -= int64(lr.prevEOL)
		nl--
	}
	// An empty part right before the boundary: the line break that ends
	// its header (or its delimiter) is the boundary's (RFC 2046 §5.1.1
	// grammar), so the part shrinks to end there.
	if end < part.BodyStart {
		part.BodyStart, part.bodyNL = end, nl
	}
	if end < part.HeaderStart {
		part.HeaderStart = end
	}
	part.End, part.endNL = end, nl
}

// done fills Size and Lines from the offsets.
func done(part *Part) {
	part.Size = part.End - part.BodyStart
	part.Lines = part.endNL - part.bodyNL
}

// entity parses one part whose header starts at the current position.
// bounds are the enclosing multipart boundaries. defType is the type when
// Content-Type is missing. isMsg marks the root of a message (the whole
// message or an enclosed one): it gets an envelope and search fields. When
// entity returns at a boundary line, that line is pushed back for the
// caller.
func (p *parser) entity(bounds []string, defType string, depth int, isMsg bool) (*Part, term) {
	lr := p.lr
	part := &Part{HeaderStart: lr.off}
	p.startBody(part)
	p.parts++

	// The header: lines up to the blank line.
	var hdr []byte
	cut := false
	var t term
	for lr.next() {
		if bt, ok := isBoundary(lr.line, bounds); ok {
			// A header cut short by a boundary: no body.
			lr.back()
			cut, t = true, bt
			break
		}
		if len(lr.content()) == 0 {
			p.startBody(part)
			break
		}
		if len(hdr)+len(lr.line) <= maxHeaderBytes {
			hdr = append(hdr, lr.line...)
			if lr.eol == 0 || int64(len(lr.line)) < lr.length {
				hdr = append(hdr, '\n')
			}
		}
		p.startBody(part)
	}
	if !cut && lr.length == 0 {
		t = endOfInput
		cut = true
	}
	h := parseHeader(hdr)
	mh := gomessage.Header{Header: h}
	p.describe(part, mh, defType)
	if isMsg {
		env := envelope(h)
		part.Envelope = &env
		part.search = searchFields(h)
	}
	if cut {
		if t.level >= 0 {
			p.endBefore(part)
		}
		done(part)
		return part, t
	}

	nested := depth < maxDepth && p.parts < maxParts
	switch {
	case part.Type == "multipart" && part.Params["boundary"] != "" && nested:
		return p.multipart(part, bounds, depth)
	case part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global") &&
		identity(part.Encoding) && nested:
		msg, t := p.entity(bounds, "text/plain", depth+1, true)
		part.Message = msg
		part.Envelope = msg.Envelope
		msg.Envelope = nil
		msg.search = Search{}
		part.End, part.endNL = msg.End, msg.endNL
		done(part)
		return part, t
	default:
		return p.leaf(part, bounds)
	}
}

// leaf reads a single part's body up to the next boundary of bounds.
func (p *parser) leaf(part *Part, bounds []string) (*Part, term) {
	lr := p.lr
	capture := part.Type == "text" && !p.text.full()
	raw := p.raw[:0]
	t := endOfInput
	for lr.next() {
		if bt, ok := isBoundary(lr.line, bounds); ok {
			t = bt
			p.endBefore(part)
			lr.back()
			break
		}
		p.endHere(part)
		if capture && len(raw) < maxTextRaw {
			raw = append(raw, lr.line...)
		}
	}
	done(part)
	if capture {
		p.text.add(part, raw) // copies what it keeps
		p.raw = raw[:0]
	}
	return part, t
}

// multipart reads the preamble, the parts and the epilogue of a multipart
// part.
func (p *parser) multipart(part *Part, bounds []string, depth int) (*Part, term) {
	lr := p.lr
	inner := append(bounds[:len(bounds):len(bounds)], part.Params["boundary"])
	own := len(inner) - 1

	// Preamble: up to the first delimiter of our boundary.
	t := endOfInput
	found := false
	var raw []byte
	for lr.next() {
		bt, ok := isBoundary(lr.line, inner)
		if ok && bt.level == own && !bt.close {
			found = true
			break
		}
		if ok && bt.level < own {
			t = bt
			p.endBefore(part)
			lr.back()
			break
		}
		p.endHere(part)
		if len(raw) < maxTextRaw {
			raw = append(raw, lr.line...)
		}
	}
	if !found {
		// No delimiter: not a multipart we can read; one text/plain part.
		p.broken = true
		degrade(part)
		done(part)
		if !p.text.full() {
			p.text.add(part, raw)
		}
		return part, t
	}

	defType := "text/plain"
	if part.Subtype == "digest" {
		defType = "message/rfc822"
	}
	for {
		child, ct := p.entity(inner, defType, depth+1, false)
		if p.parts <= maxParts {
			part.Children = append(part.Children, child)
		} else {
			p.broken = true
		}
		if ct.level == own {
			lr.next() // the delimiter line
			p.endHere(part)
			if !ct.close {
				continue
			}
			// Epilogue: up to an enclosing boundary or the end.
			t = endOfInput
			for lr.next() {
				if bt, ok := isBoundary(lr.line, bounds); ok {
					t = bt
					p.endBefore(part)
					lr.back()
					break
				}
				p.endHere(part)
			}
			break
		}
		// An enclosing boundary or the end before our close delimiter:
		// accept what we have.
		t = ct
		if ct.level >= 0 {
			lr.next()
			p.endBefore(part)
			lr.back()
		} else {
			p.endHere(part)
		}
		break
	}
	done(part)
	return part, t
}

// degrade turns a part into text/plain, keeping its offsets.
func degrade(part *Part) {
	part.Type, part.Subtype = "text", "plain"
	part.Params = map[string]string{"charset": "us-ascii"}
	part.Children = nil
	part.Message = nil
}

func identity(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// parseHeader reads header fields leniently: a line that is neither a
// field nor a continuation is skipped.
func parseHeader(b []byte) textproto.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(b), strings.NewReader("\r\n"))))
	if err == nil {
		return h
	}
	var out textproto.Header
	var field []byte
	flush := func() {
		if len(field) > 0 {
			if i := bytes.IndexByte(field, ':'); i > 0 && validKey(bytes.TrimRight(field[:i], " \t")) {
				out.AddRaw(field)
			}
		}
		field = nil
	}
	for line := range bytes.SplitAfterSeq(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if field != nil {
				field = append(field, line...)
			}
			continue
		}
		flush()
		field = append([]byte(nil), line...)
	}
	flush()
	return out
}

func validKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// describe fills the type fields of part from its header.
func (p *parser) describe(part *Part, h gomessage.Header, defType string) {
	ct := h.Get("Content-Type")
	mediaType, params := defType, map[string]string(nil)
	if ct != "" {
		t, ps, err := h.ContentType()
		if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
			p.broken = true
			t, ps = "text/plain", nil
		}
		if t != "" && strings.Contains(t, "/") {
			mediaType, params = strings.ToLower(t), ps
		} else {
			p.broken = true
		}
	}
	part.Type, part.Subtype, _ = strings.Cut(mediaType, "/")
	if part.Type == "text" && params["charset"] == "" {
		if params == nil {
			params = map[string]string{}
		}
		params["charset"] = "us-ascii"
	}
	if len(params) > 0 {
		part.Params = params
	}
	part.ID = h.Get("Content-Id")
	if d, err := h.Text("Content-Description"); err == nil {
		part.Description = d
	} else {
		part.Description = h.Get("Content-Description")
	}
	part.Encoding = strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	part.MD5 = h.Get("Content-Md5")
	if h.Get("Content-Disposition") != "" {
		if disp, dps, err := h.ContentDisposition(); err == nil || errors.Is(err, mime.ErrInvalidMediaParameter) {
			part.Disposition = strings.ToLower(disp)
			if len(dps) > 0 {
				part.DispositionParams = dps
			}
		}
	}
	if v := h.Get("Content-Language"); v != "" {
		for l := range strings.SplitSeq(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				part.Language = append(part.Language, l)
			}
		}
	}
	part.Location = h.Get("Content-Location")
}
