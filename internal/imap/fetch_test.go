package imap_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// RFC 9051 §6.4.5 (FETCH) and §7.5.2 (FETCH response): every data item
// the issue lists, on a multipart message with a nested alternative and an
// attached message; RFC 3516 §4.2 for BINARY.
func TestFetch(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		date := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
		appendMsg(t, c, "INBOX", mixedMsg, &imap.AppendOptions{Time: date})
		appendMsg(t, c, "INBOX", arabicMsg, nil)
		selectBox(t, c, "INBOX")

		msgs := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
			BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		})
		m := msgs[0]
		if m.UID != 1 || len(m.Flags) != 0 || !m.InternalDate.Equal(date) || m.RFC822Size != int64(len(mixedMsg)) {
			t.Errorf("UID %d FLAGS %v INTERNALDATE %v RFC822.SIZE %d", m.UID, m.Flags, m.InternalDate, m.RFC822Size)
		}

		// ENVELOPE (RFC 9051 §7.5.2).
		env := m.Envelope
		if env == nil || env.Subject != "Quarterly report" || env.MessageID != "mixed-1@mof.gov.sy" ||
			len(env.From) != 1 || env.From[0].Name != "Sara" || env.From[0].Addr() != "sara@mof.gov.sy" ||
			len(env.To) != 2 || env.To[1].Addr() != "omar@mof.gov.sy" || len(env.Cc) != 1 ||
			!env.Date.Equal(time.Date(2026, 2, 2, 7, 0, 0, 0, time.UTC)) {
			t.Errorf("ENVELOPE %+v", env)
		}

		// BODYSTRUCTURE (RFC 9051 §7.5.2).
		root, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || root.Subtype != "mixed" || len(root.Children) != 3 {
			t.Fatalf("BODYSTRUCTURE root %#v", m.BodyStructure)
		}
		p1 := root.Children[0].(*imap.BodyStructureSinglePart)
		if p1.Type != "text" || p1.Subtype != "plain" || !strings.EqualFold(p1.Encoding, "base64") || p1.Params["charset"] != "utf-8" {
			t.Errorf("part 1 %#v", p1)
		}
		alt, ok := root.Children[1].(*imap.BodyStructureMultiPart)
		if !ok || alt.Subtype != "alternative" || len(alt.Children) != 2 {
			t.Errorf("part 2 %#v", root.Children[1])
		}
		att := root.Children[2].(*imap.BodyStructureSinglePart)
		if att.Type != "message" || att.Subtype != "rfc822" || att.MessageRFC822 == nil ||
			att.MessageRFC822.Envelope.Subject != "Inner message" {
			t.Fatalf("part 3 %#v", att)
		}
		if att.Extended == nil || att.Extended.Disposition == nil || att.Extended.Disposition.Value != "attachment" ||
			att.Extended.Disposition.Params["filename"] != "fwd.eml" {
			t.Errorf("part 3 disposition %#v", att.Extended)
		}
		inner, ok := att.MessageRFC822.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || len(inner.Children) != 2 || inner.Children[1].(*imap.BodyStructureSinglePart).Subtype != "pdf" {
			t.Errorf("attached message structure %#v", att.MessageRFC822.BodyStructure)
		}

		// Sections (RFC 9051 §6.4.5), all with PEEK so far: \Seen stays off.
		sec := func(part []int, spec imap.PartSpecifier, fields ...string) *imap.FetchItemBodySection {
			return &imap.FetchItemBodySection{Part: part, Specifier: spec, HeaderFields: fields, Peek: true}
		}
		want := map[*imap.FetchItemBodySection]string{
			sec(nil, imap.PartSpecifierNone):                            mixedMsg,
			sec(nil, imap.PartSpecifierHeader):                          headerOf(mixedMsg),
			sec(nil, imap.PartSpecifierHeader, "Subject", "x-registry"): "Subject: Quarterly report\r\nX-Registry: MOF/2026/000123\r\n\r\n",
			sec(nil, imap.PartSpecifierText):                            bodyOf(mixedMsg),
			sec([]int{2, 1}, imap.PartSpecifierMIME):                    mixedPart21MIME,
			sec([]int{2, 1}, imap.PartSpecifierNone):                    mixedPart21,
			sec([]int{3, 1}, imap.PartSpecifierNone):                    mixedInnerText,
			sec([]int{3}, imap.PartSpecifierHeader):                     mixedInnerHeader,
		}
		var items []*imap.FetchItemBodySection
		for s := range want {
			items = append(items, s)
		}
		part1 := sec([]int{1}, imap.PartSpecifierNone)
		partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: 1024}}
		partialMid := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 10, Size: 20}}
		items = append(items, part1, partial, partialMid)
		msgs = fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{
			Flags:             true,
			BodySection:       items,
			BinarySection:     []*imap.FetchItemBinarySection{{Part: []int{1}, Peek: true}, {Part: []int{3, 2}, Peek: true}},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{1}}},
		})
		m = msgs[0]
		for s, w := range want {
			if got := string(m.FindBodySection(s)); got != w {
				t.Errorf("BODY[%v.%s %v] = %q, want %q", s.Part, s.Specifier, s.HeaderFields, got, w)
			}
		}
		if got := string(m.FindBodySection(part1)); !strings.HasPrefix(mixedMsg[strings.Index(mixedMsg, got):], got) || got == "" || strings.Contains(got, "Content-Type") {
			t.Errorf("BODY[1] = %q", got)
		}
		if got := m.FindBodySection(partial); string(got) != mixedMsg[:1024] {
			t.Errorf("BODY[]<0.1024> = %d bytes", len(got))
		}
		if got := m.FindBodySection(partialMid); string(got) != mixedMsg[10:30] {
			t.Errorf("BODY[]<10.20> = %q", got)
		}
		if got := string(m.FindBinarySection(&imap.FetchItemBinarySection{Part: []int{1}})); got != arabicText {
			t.Errorf("BINARY[1] = %q, want %q", got, arabicText)
		}
		if got := string(m.FindBinarySection(&imap.FetchItemBinarySection{Part: []int{3, 2}})); got != mixedPDF {
			t.Errorf("BINARY[3.2] = %q", got)
		}
		if n, ok := m.FindBinarySectionSize([]int{1}); !ok || n != uint32(len(arabicText)) {
			t.Errorf("BINARY.SIZE[1] = %d %v", n, ok)
		}
		if slices.Contains(m.Flags, imap.FlagSeen) {
			t.Error("BODY.PEEK set \\Seen")
		}

		// BODY[TEXT] without PEEK sets \Seen and reports it (RFC 9051
		// §6.4.5).
		msgs = fetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}})
		if !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
			t.Errorf("BODY[TEXT] did not report \\Seen: %v", msgs[0].Flags)
		}
		msgs = fetch(t, c, imap.SeqSetNum(1, 2), &imap.FetchOptions{Flags: true})
		if slices.Contains(msgs[0].Flags, imap.FlagSeen) || !slices.Contains(msgs[1].Flags, imap.FlagSeen) {
			t.Errorf("flags after FETCH: %v / %v", msgs[0].Flags, msgs[1].Flags)
		}

		// The Arabic envelope is decoded.
		msgs = fetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{Envelope: true})
		if env := msgs[0].Envelope; env.Subject != "تقرير الميزانية السنوي" || env.From[0].Name != "أحمد الخطيب" {
			t.Errorf("Arabic ENVELOPE %+v", env)
		}
	})
}

// RFC 9051 §6.4.5: a section that names no part is an empty string, not an
// error; UID FETCH reports UID (RFC 9051 §6.4.9).
func TestFetchMissingSectionIsEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	appendMsg(t, c, "INBOX", simpleMsg("s", "a@mof.gov.sy", user1, "body"), nil)
	selectBox(t, c, "INBOX")
	missing := &imap.FetchItemBodySection{Part: []int{7, 3}, Peek: true}
	msgs := fetch(t, c, imap.UIDSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{missing}})
	if len(msgs) != 1 || msgs[0].UID != 1 || len(msgs[0].FindBodySection(missing)) != 0 {
		t.Errorf("BODY[7.3]: %+v", msgs)
	}
	// BODY[1] of a single-part message is its body.
	one := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	msgs = fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{one}})
	if got := string(msgs[0].FindBodySection(one)); got != "body\r\n" {
		t.Errorf("BODY[1] of a single part = %q", got)
	}
}

// RFC 9051 §6.4.5: a FETCH of bodies over more messages than the server
// loads at a time (and larger than it reads ahead) returns every message
// whole, in order, with its UID; without PEEK every message gets \Seen and
// reports it (RFC 9051 §7.5.2).
func TestFetchBodiesAcrossBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	const n = 300
	raws := make([]string, n+1) // by UID
	for uid := 1; uid <= n; uid++ {
		lines := uid*37%1500 + 1
		if uid == 150 {
			lines = 60000 // over 1 MiB: streamed when its turn comes
		}
		body := strings.Repeat(fmt.Sprintf("line of message %d\n", uid), lines)
		raws[uid] = simpleMsg(fmt.Sprintf("m%d", uid), "sara@mof.gov.sy", user1, body)
		appendMsg(t, c, "INBOX", raws[uid], nil)
	}
	selectBox(t, c, "INBOX")

	peek := &imap.FetchItemBodySection{Peek: true}
	var set imap.UIDSet
	var want []uint32
	for uid := 1; uid <= n; uid += 1 + uid%3 {
		set.AddNum(imap.UID(uid))
		want = append(want, uint32(uid))
	}
	msgs := fetch(t, c, set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{peek}})
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		uid := want[i]
		if uint32(m.UID) != uid || m.SeqNum != uid {
			t.Fatalf("response %d: UID %d seq %d, want %d", i, m.UID, m.SeqNum, uid)
		}
		if got := string(m.FindBodySection(peek)); got != raws[uid] {
			t.Errorf("BODY[] of UID %d differs: %d bytes, want %d", uid, len(got), len(raws[uid]))
		}
	}

	body := &imap.FetchItemBodySection{}
	msgs = fetch(t, c, imap.SeqSet{{Start: 1, Stop: n}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}})
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		seq := uint32(i + 1)
		if m.SeqNum != seq || !slices.Contains(m.Flags, imap.FlagSeen) {
			t.Fatalf("response %d: seq %d flags %v", i, m.SeqNum, m.Flags)
		}
		if got := string(m.FindBodySection(body)); got != raws[seq] {
			t.Errorf("BODY[] of %d differs: %d bytes, want %d", seq, len(got), len(raws[seq]))
		}
	}
}
