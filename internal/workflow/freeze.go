package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Registration freezes a letter's document: its digest covers the
// document with its recipients, references and attachments.

// frozenDocument is what the document hash covers, in a fixed order.
type frozenDocument struct {
	ID             int64              `json:"id"`
	Kind           string             `json:"kind"`
	Subject        string             `json:"subject"`
	Body           string             `json:"body"`
	Classification string             `json:"classification"`
	Priority       string             `json:"priority"`
	SenderRegistry string             `json:"sender_registry"`
	SenderParty    string             `json:"sender_party"`
	DueDate        string             `json:"due_date"`
	Recipients     []frozenRecipient  `json:"recipients"`
	References     []Reference        `json:"references"`
	Attachments    []frozenAttachment `json:"attachments"`
}

type frozenRecipient struct {
	Registry string `json:"registry"`
	Party    string `json:"party"`
	Role     string `json:"role"`
}

type frozenAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Attachments are hashed in the order of their SHA-256 sums (then names):
// a fixed order that needs no id.

// freeze fixes the document of e at registration: frozen_at and the
// SHA-256 of the document with its recipients, references and attachment
// digests, from parts (documentQuery's rows for e, read under the entry's
// lock, which attachment changes take too). Its one write, the
// correspondence's update, is queued on x. It reports whether the
// document replies to earlier correspondence.
func freeze(x *txn, e *entryView, parts []docPart, now time.Time) (digest string, replies bool, err error) {
	corrID := e.CorrespondenceID
	if e.FrozenAt != nil && Direction(e.Direction) == Incoming {
		// Delivered frozen; an incoming letter answers nothing.
		return e.DocumentSHA256, false, nil
	}
	doc := frozenDocument{ID: corrID, Kind: e.Kind, Subject: e.Subject, Classification: e.Classification,
		Priority: e.Priority, Recipients: []frozenRecipient{}, References: []Reference{}, Attachments: []frozenAttachment{}}
	if e.SenderRegistryID != nil && *e.SenderRegistryID == e.RegistryID {
		doc.SenderRegistry = e.RegistryCode
	}
	type positioned struct {
		pos int64
		r   frozenRecipient
	}
	var rs []positioned
	found := false
	for _, p := range parts {
		switch p.K {
		case "c":
			found = true
			doc.Body, doc.SenderParty, doc.DueDate = p.A, p.B, p.C
		case "r":
			rs = append(rs, positioned{p.N, frozenRecipient{Registry: p.A, Party: p.B, Role: p.C}})
		case "x":
			doc.References = append(doc.References, Reference{ID: p.N, Relation: Relation(p.A)})
			replies = replies || Relation(p.A) == RelationReplyTo
		case "a":
			doc.Attachments = append(doc.Attachments, frozenAttachment{Name: p.A, ContentType: p.B, SHA256: p.C, Size: p.N})
		}
	}
	if !found {
		return "", false, fmt.Errorf("load correspondence %d: %w", corrID, ErrNotFound)
	}
	slices.SortFunc(rs, func(x, y positioned) int { return int(x.pos - y.pos) })
	for _, r := range rs {
		doc.Recipients = append(doc.Recipients, r.r)
	}
	slices.SortFunc(doc.References, func(x, y Reference) int { return int(x.ID - y.ID) })
	slices.SortFunc(doc.Attachments, func(x, y frozenAttachment) int {
		return strings.Compare(x.SHA256+"/"+x.Name, y.SHA256+"/"+y.Name)
	})
	if e.FrozenAt != nil {
		return e.DocumentSHA256, replies, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(b)
	digest = hex.EncodeToString(sum[:])
	x.freezeDocument(corrID, digest, now)
	return digest, replies, nil
}
