package message_test

import (
	"bufio"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"diwan.gov.sy/diwan/internal/message"
)

const nested = "From: =?UTF-8?B?2YXYrdmF2K8g2KfZhNi52YTZig==?= <m.ali@moct.gov.sy>\r\n" +
	"To: a@b.gov.sy, \"X Y\" <x@y.gov.sy>\r\nCc: undisclosed-recipients:;\r\n" +
	"Subject: =?windows-1256?B?yt7R7dE=?= report\r\n" +
	"Date: Mon, 2 Mar 2026 15:04:05 +0300\r\nMessage-ID: <abc@moct.gov.sy>\r\nIn-Reply-To: <prev@moct.gov.sy>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Language: ar, en\r\n\r\nمرحبا World\r\nline2\r\n" +
	"--XX\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n" +
	"Subject: inner\r\nFrom: in@moct.gov.sy\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n" +
	"--YY\r\n\r\ninner text\r\n--YY\r\nContent-Type: text/html\r\n\r\n<p>Hi &amp; bye</p>\r\n--YY--\r\n\r\n" +
	"--XX\r\nContent-Type: application/pdf; name=x.pdf\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <p1>\r\n\r\nJVBERi0=\r\n" +
	"--XX--\r\nepilogue\r\n"

func parse(t testing.TB, raw string) *message.Parsed {
	t.Helper()
	p, err := message.Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func section(t testing.TB, p *message.Parsed, raw string, path []int, spec message.Specifier) string {
	t.Helper()
	off, n, err := p.Section(path, spec)
	if err != nil {
		t.Fatalf("Section(%v, %q): %v", path, spec, err)
	}
	return raw[off : off+n]
}

func TestParseEnvelopeDecodesArabicAndDefaults(t *testing.T) {
	p := parse(t, nested)
	env := p.Envelope
	if env.Subject != "تقرير report" {
		t.Errorf("subject %q", env.Subject)
	}
	if len(env.From) != 1 || env.From[0] != (message.Address{Name: "محمد العلي", Mailbox: "m.ali", Host: "moct.gov.sy"}) {
		t.Errorf("from %+v", env.From)
	}
	// RFC 3501 §7.4.2: missing Sender and Reply-To are From.
	if !slices.Equal(env.Sender, env.From) || !slices.Equal(env.ReplyTo, env.From) {
		t.Errorf("sender %+v reply-to %+v", env.Sender, env.ReplyTo)
	}
	// RFC 3501 §7.4.2: an empty group is its two markers, not NIL.
	emptyGroup := []message.Address{{Mailbox: "undisclosed-recipients"}, {}}
	if len(env.To) != 2 || env.To[1].Name != "X Y" || !slices.Equal(env.Cc, emptyGroup) {
		t.Errorf("to %+v cc %+v", env.To, env.Cc)
	}
	if env.MessageID != "abc@moct.gov.sy" || !slices.Equal(env.InReplyTo, []string{"prev@moct.gov.sy"}) {
		t.Errorf("ids %q %q", env.MessageID, env.InReplyTo)
	}
	if !env.Date.Equal(time.Date(2026, 3, 2, 12, 4, 5, 0, time.UTC)) {
		t.Errorf("date %v", env.Date)
	}
	if p.Search.Subject != "تقرير report" || !strings.Contains(p.Search.From, "محمد العلي") ||
		!strings.Contains(p.Search.From, "m.ali@moct.gov.sy") || !strings.Contains(p.Search.Header, "message-id: <abc@moct.gov.sy>") {
		t.Errorf("search %+v", p.Search)
	}
	if p.Search.Text != "مرحبا world line2 inner text hi & bye" {
		t.Errorf("text %q", p.Search.Text)
	}
}

func TestParseStructureAndSections(t *testing.T) {
	p := parse(t, nested)
	b := p.Body
	if p.Broken || b.MediaType() != "multipart/mixed" || len(b.Children) != 3 || b.End != int64(len(nested)) {
		t.Fatalf("root %+v broken=%v", b, p.Broken)
	}
	text, msg, pdf := b.Children[0], b.Children[1], b.Children[2]
	if text.Params["charset"] != "utf-8" || !slices.Equal(text.Language, []string{"ar", "en"}) || text.Lines != 1 {
		t.Errorf("text part %+v", text)
	}
	if msg.MediaType() != "message/rfc822" || msg.Envelope == nil || msg.Envelope.Subject != "inner" ||
		msg.Disposition != "attachment" || msg.DispositionParams["filename"] != "fwd.eml" || msg.Message == nil {
		t.Errorf("message part %+v", msg)
	}
	if pdf.Encoding != "base64" || pdf.ID != "<p1>" || pdf.Params["name"] != "x.pdf" {
		t.Errorf("pdf part %+v", pdf)
	}
	cases := []struct {
		path []int
		spec message.Specifier
		want string
	}{
		{[]int{1}, message.SpecAll, "مرحبا World\r\nline2"},
		{[]int{1}, message.SpecMIME, "Content-Type: text/plain; charset=utf-8\r\nContent-Language: ar, en\r\n\r\n"},
		{[]int{2}, message.SpecHeader, "Subject: inner\r\nFrom: in@moct.gov.sy\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"},
		{[]int{2}, message.SpecText, "--YY\r\n\r\ninner text\r\n--YY\r\nContent-Type: text/html\r\n\r\n<p>Hi &amp; bye</p>\r\n--YY--\r\n"},
		{[]int{2, 1}, message.SpecAll, "inner text"},
		{[]int{2, 1}, message.SpecMIME, "\r\n"},
		{[]int{2, 2}, message.SpecAll, "<p>Hi &amp; bye</p>"},
		{[]int{3}, message.SpecAll, "JVBERi0="},
		{nil, message.SpecText, nested[strings.Index(nested, "\r\n\r\n")+4:]},
	}
	for _, c := range cases {
		if got := section(t, p, nested, c.path, c.spec); got != c.want {
			t.Errorf("BODY[%v.%s] = %q, want %q", c.path, c.spec, got, c.want)
		}
	}
	for _, bad := range [][]int{{4}, {0}, {1, 1}, {2, 3}, {3, 1}} {
		if _, _, err := p.Section(bad, message.SpecAll); err != message.ErrNoSection {
			t.Errorf("Section(%v): %v", bad, err)
		}
	}
	if _, _, err := p.Section([]int{1}, message.SpecHeader); err != message.ErrNoSection {
		t.Errorf("HEADER of a text part: %v", err)
	}
	// The JSON form carries everything FETCH needs.
	j, _ := json.Marshal(p.Body)
	var back message.Part
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if back.Children[1].Message.Children[1].End != p.Body.Children[1].Message.Children[1].End {
		t.Error("offsets lost in JSON")
	}
}

// Every leaf body agrees with what go-message's multipart reader returns.
func TestParseAgreesWithGoMessage(t *testing.T) {
	p := parse(t, nested)
	var leaves []string
	var walk func(r io.Reader, h textproto.Header)
	walk = func(r io.Reader, h textproto.Header) {
		ct := h.Get("Content-Type")
		switch {
		case strings.HasPrefix(ct, "multipart/"):
			_, params, _ := strings.Cut(ct, "boundary=")
			mr := textproto.NewMultipartReader(r, strings.Trim(params, `"`))
			for {
				part, err := mr.NextPart()
				if err != nil {
					return
				}
				walk(part, part.Header)
			}
		case strings.HasPrefix(ct, "message/rfc822"):
			br := bufio.NewReader(r)
			inner, _ := textproto.ReadHeader(br)
			walk(br, inner)
		default:
			b, _ := io.ReadAll(r)
			leaves = append(leaves, string(b))
		}
	}
	br := bufio.NewReader(strings.NewReader(nested))
	h, _ := textproto.ReadHeader(br)
	walk(br, h)
	var ours []string
	var visit func(pt *message.Part)
	visit = func(pt *message.Part) {
		switch {
		case pt.IsMultipart():
			for _, c := range pt.Children {
				visit(c)
			}
		case pt.Message != nil:
			visit(pt.Message)
		default:
			ours = append(ours, nested[pt.BodyStart:pt.End])
		}
	}
	visit(p.Body)
	if !slices.Equal(ours, leaves) {
		t.Fatalf("leaves differ:\nours %q\ngo-message %q", ours, leaves)
	}
}

func TestParseBrokenMIMEDegradesToTextPlain(t *testing.T) {
	for name, raw := range map[string]string{
		"no delimiter":     "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nno parts here\r\n",
		"bad content type": "Subject: x\r\nContent-Type: ;;;\r\n\r\nbody\r\n",
		"header garbage":   "Subject: x\r\nthis is not a field\r\n: nor this\r\n\r\nbody\r\n",
		"no header end":    "Subject: x",
		"empty":            "",
		"bare LF":          "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := parse(t, raw)
			if p.Body.End != int64(len(raw)) {
				t.Fatalf("root ends at %d of %d", p.Body.End, len(raw))
			}
			if name == "bare LF" {
				if len(p.Body.Children) != 2 || section(t, p, raw, []int{2}, message.SpecAll) != "two" {
					t.Fatalf("LF-only multipart: %+v", p.Body)
				}
				return
			}
			if p.Body.MediaType() != "text/plain" {
				t.Fatalf("type %s", p.Body.MediaType())
			}
			if name == "no delimiter" && (!p.Broken || !strings.Contains(p.Search.Text, "no parts here")) {
				t.Fatalf("broken=%v text=%q", p.Broken, p.Search.Text)
			}
		})
	}
}

func TestFilterHeader(t *testing.T) {
	h := []byte("Subject: a\r\n folded\r\nFrom: x@y\r\nTo: z@w\r\n\r\n")
	if got := string(message.FilterHeader(h, []string{"subject", "TO"}, false)); got != "Subject: a\r\n folded\r\nTo: z@w\r\n\r\n" {
		t.Errorf("HEADER.FIELDS: %q", got)
	}
	if got := string(message.FilterHeader(h, []string{"subject", "TO"}, true)); got != "From: x@y\r\n\r\n" {
		t.Errorf("HEADER.FIELDS.NOT: %q", got)
	}
	if got := string(message.FilterHeader(h, []string{"X-None"}, false)); got != "\r\n" {
		t.Errorf("no field: %q", got)
	}
}

func TestDecoder(t *testing.T) {
	for enc, in := range map[string]string{"base64": "2YXY\r\nrdmF2K8=\r\n", "quoted-printable": "=D9=85=D8=AD=D9=85=D8=AF", "8bit": "محمد"} {
		r, err := message.Decoder(enc, strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if string(b) != "محمد" {
			t.Errorf("%s: %q", enc, b)
		}
	}
	if _, err := message.Decoder("x-uuencode", strings.NewReader("")); err == nil {
		t.Error("unknown encoding accepted")
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Budget  REVIEW\r\n":             "budget review",
		"المِيزانيّة العامّة":            "الميزانية العامة",
		"مـــحـــمـــد":                  "محمد",
		"ÉTÉ\x00":                        "été",
		"\xff bad":                       "bad",
		" Hello\tWORLD\vx\u00a0Ü\u200f ": "hello world x ü",
	} {
		if got := message.Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: any input parses, offsets nest inside the message, and every
// part's sections are valid ranges.
func FuzzParse(f *testing.F) {
	f.Add(nested)
	f.Add("Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b--")
	f.Add("Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/a; boundary=q\r\n\r\n--q\r\n--q--\r\n")
	f.Add("\r\n\r\n")
	f.Add("To: g: a@b, <@r:c@d>;, (x) \"q:\" <e (c)@ (c) f>, h:;\r\nCc: i: j@k\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := message.Parse(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(raw))
		if p.Body.HeaderStart != 0 || p.Body.End != size {
			t.Fatalf("root [%d, %d) of %d", p.Body.HeaderStart, p.Body.End, size)
		}
		var check func(pt *message.Part, lo, hi int64, path []int)
		check = func(pt *message.Part, lo, hi int64, path []int) {
			if pt.HeaderStart < lo || pt.HeaderStart > pt.BodyStart || pt.BodyStart > pt.End || pt.End > hi {
				t.Fatalf("part %v [%d %d %d] outside [%d, %d)", path, pt.HeaderStart, pt.BodyStart, pt.End, lo, hi)
			}
			if pt.Size != pt.End-pt.BodyStart {
				t.Fatalf("part %v size %d", path, pt.Size)
			}
			if len(path) > 0 {
				for _, spec := range []message.Specifier{message.SpecAll, message.SpecMIME} {
					off, n, err := p.Section(path, spec)
					if err != nil || off < 0 || n < 0 || off+n > size {
						t.Fatalf("section %v %s: %d+%d %v", path, spec, off, n, err)
					}
				}
			}
			prev := pt.BodyStart
			for i, c := range pt.Children {
				check(c, prev, pt.End, append(slices.Clone(path), i+1))
				prev = c.End
			}
			if pt.Message != nil {
				// The enclosed message's parts go on from the
				// message/rfc822 part's number (1 for a root).
				mpath := path
				if len(mpath) == 0 {
					mpath = []int{1}
				}
				check(pt.Message, pt.BodyStart, pt.End, mpath)
			}
		}
		check(p.Body, 0, size, nil)
		if _, err := json.Marshal(p); err != nil {
			t.Fatal(err)
		}
		if len(p.Search.Text) > message.MaxSearchText || len(p.Search.Header) > message.MaxSearchHeader {
			t.Fatal("search excerpts over their caps")
		}
	})
}
