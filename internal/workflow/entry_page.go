package workflow

import (
	"cmp"
	"context"
	"fmt"
	"io"
)

// What the entry page of the web UI asks of the engine besides Get: a
// correspondence read through one of its entries, the letters that could
// answer an incoming entry, and an attachment opened through an entry.
// Each follows the access rule of Entry: an entry the actor may not see is
// ErrNotFound, as one that does not exist.

// maxReplies bounds the letters Replies lists.
const maxReplies = 50

// EntryView returns the correspondence of an entry as the actor sees it
// (as Get), or ErrNotFound when the actor may not see that entry. The
// entry is among View.Entries, with the actions the actor may make now.
func (s *Service) EntryView(ctx context.Context, a Actor, entryID int64) (View, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (View, error) {
		corrID, err := s.correspondenceOfEntry(ctx, entryID)
		if err != nil {
			return View{}, err
		}
		view, err := s.get(ctx, a, corrID)
		if err != nil {
			return View{}, err
		}
		for _, e := range view.Entries {
			if e.ID == entryID {
				return view, nil
			}
		}
		return View{}, notFound("entry", entryID)
	})
}

// Replies lists the outgoing letters of the actor's ministry that the
// actor sees and that reference the correspondence of the entry (not
// cancelled), newest first: the letters that may answer it (Transition.Reply).
// The actor and the entry are read in one round trip, the letters in a
// second.
func (s *Service) Replies(ctx context.Context, a Actor, entryID int64) ([]Entry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) ([]Entry, error) {
		out := []Entry{}
		err := s.readBatched(ctx, func(x *txn) error {
			principal := x.principal(a)
			entry := x.loadEntryForAct(entryID, false)
			if err := x.run(); err != nil {
				return err
			}
			p, err := principal()
			if err != nil {
				return err
			}
			e, err := entry()
			if err != nil {
				return err
			}
			scope, args, ok := p.entryScope()
			if !ok {
				return notFound("entry", entryID)
			}
			if v, err := access(x, p, e); err != nil || v == 0 {
				return cmp.Or(err, notFound("entry", entryID))
			}
			es, err := x.replyCandidates(scope, args, e.CorrespondenceID, maxReplies)
			for i := range es {
				out = append(out, es[i].entry(nil))
			}
			return err
		})
		return out, err
	})
}

// OpenEntryAttachment is OpenAttachment through an entry: the actor must
// see that entry, and the attachment must be of its correspondence.
func (s *Service) OpenEntryAttachment(ctx context.Context, a Actor, entryID, attachmentID int64) (Attachment, io.ReadCloser, error) {
	var rc io.ReadCloser
	att, err := asCaller(ctx, s, a, func(ctx context.Context, a Actor) (att Attachment, err error) {
		var corrID int64
		err = s.readStepwise(ctx, func(x *txn) error {
			p, err := x.loadPrincipal(a)
			if err != nil {
				return err
			}
			e, _, err := visibleEntry(x, p, entryID, false)
			if err != nil {
				return err
			}
			corrID = e.CorrespondenceID
			return nil
		})
		if err != nil {
			return Attachment{}, err
		}
		att, rc, err = s.openAttachment(ctx, a, corrID, attachmentID)
		if err != nil {
			return Attachment{}, fmt.Errorf("entry %d: %w", entryID, err)
		}
		return att, nil
	})
	return att, rc, err
}
