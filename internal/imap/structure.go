package imap

// The metadata the store parsed on arrival, as IMAP writes it: ENVELOPE
// and BODYSTRUCTURE (RFC 9051 §7.5.2).

import (
	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/message"
)

// toEnvelope converts the stored envelope (RFC 9051 §7.5.2 ENVELOPE).
func toEnvelope(e *message.Envelope) *imap.Envelope {
	if e == nil {
		return &imap.Envelope{}
	}
	return &imap.Envelope{
		Date:      e.Date,
		Subject:   e.Subject,
		From:      toAddresses(e.From),
		Sender:    toAddresses(e.Sender),
		ReplyTo:   toAddresses(e.ReplyTo),
		To:        toAddresses(e.To),
		Cc:        toAddresses(e.Cc),
		Bcc:       toAddresses(e.Bcc),
		InReplyTo: e.InReplyTo,
		MessageID: e.MessageID,
	}
}

func toAddresses(l []message.Address) []imap.Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]imap.Address, len(l))
	for i, a := range l {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host, Route: a.Route}
	}
	return out
}

// toBodyStructure converts the stored structure (RFC 9051 §7.5.2
// BODYSTRUCTURE), always with the extension data (imapserver writes BODY
// from the same value by leaving it out). Shapes IMAP cannot express — a
// multipart without parts, a message/rfc822 without its message — become
// what a client can still display.
func toBodyStructure(p *message.Part) imap.BodyStructure {
	if p == nil {
		return &imap.BodyStructureSinglePart{
			Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"},
			Text:     &imap.BodyStructureText{},
			Extended: &imap.BodyStructureSinglePartExt{},
		}
	}
	if p.IsMultipart() && len(p.Children) > 0 {
		mp := &imap.BodyStructureMultiPart{
			Subtype: p.Subtype,
			Extended: &imap.BodyStructureMultiPartExt{
				Params:      p.Params,
				Disposition: disposition(p),
				Language:    p.Language,
				Location:    p.Location,
			},
		}
		for _, c := range p.Children {
			mp.Children = append(mp.Children, toBodyStructure(c))
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type:        p.Type,
		Subtype:     p.Subtype,
		Params:      p.Params,
		ID:          p.ID,
		Description: p.Description,
		Encoding:    p.Encoding,
		Size:        uint32(min(max(p.Size, 0), 1<<32-1)),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: disposition(p),
			Language:    p.Language,
			Location:    p.Location,
		},
	}
	if sp.Type == "" || p.IsMultipart() {
		sp.Type, sp.Subtype = "text", "plain"
	}
	if sp.Subtype == "" {
		sp.Subtype = "octet-stream"
	}
	isMsg := sp.Type == "message" && (sp.Subtype == "rfc822" || sp.Subtype == "global")
	switch {
	case isMsg:
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      toEnvelope(p.Envelope),
			BodyStructure: toBodyStructure(p.Message),
			NumLines:      p.Lines,
		}
	case sp.Type == "text":
		sp.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	return sp
}

func disposition(p *message.Part) *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispositionParams}
}
