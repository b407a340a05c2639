package audit

import (
	"context"
	"errors"
	"fmt"
)

// Report is the outcome of Verify.
type Report struct {
	Linked  int64  // linked events checked and found intact
	Waiting int64  // committed events not linked yet (see Verify)
	Broken  *Break // the first broken link; nil when the chain is intact
}

// Break names the first place at which the chain does not hold: an event
// (EventID, linked at Seq, or waiting to be linked), or, with EventID 0,
// the chain as a whole against a recorded head.
type Break struct {
	Seq     int64 // the seq the event carries
	EventID int64
	Waiting bool // the event is not linked (and will not be: see ForgedError)
	Reason  string
}

// String is "ok N events (M waiting)" for an intact chain; otherwise
// "broken at event ID (seq S): REASON", "broken at event ID (not linked):
// REASON", or "broken: REASON" for the chain against a recorded head.
func (r Report) String() string {
	switch b := r.Broken; {
	case b == nil:
		return fmt.Sprintf("ok %d events (%d waiting)", r.Linked, r.Waiting)
	case b.EventID == 0:
		return "broken: " + b.Reason
	case b.Waiting:
		return fmt.Sprintf("broken at event %d (not linked): %s", b.EventID, b.Reason)
	default:
		return fmt.Sprintf("broken at event %d (seq %d): %s", b.EventID, b.Seq, b.Reason)
	}
}

// Verify walks the linked events in seq order, a batch at a time, and
// recomputes every keyed hash and every link to the previous event. It
// stops at the first break: a changed event (its hash no longer matches,
// which a wrong master key shows too), a deleted one (a gap in seq), or
// events moved or relinked (prev_hash does not match the event before).
// It then counts the events still waiting to be linked and checks their
// seals (a row the server did not write is a break), and compares the
// chain with every recorded head: a head beyond the end of the chain means
// its newest events were deleted, one that names another hash that they
// were replaced. With no recorded head at all, a non-empty chain is a
// break too (the head is written as soon as anything is linked).
//
// Verify does not hold a transaction open (on SQLite that would stop every
// writer); events linked while it runs are checked if it reaches them. The
// heads are read before the walk, so a head recorded meanwhile cannot look
// like a missing tail.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	var rep Report
	if l.chainKey == nil {
		return rep, errNoKeys
	}
	heads, brk, err := l.recordedHeads(ctx)
	if err != nil {
		return rep, err
	}
	if brk != nil {
		rep.Broken = brk
		return rep, nil
	}
	want, prev := int64(1), genesisHash
	for round := 1; ; round++ {
		for {
			var rows []eventRow
			err := l.db.Writer().WithContext(ctx).Raw(`SELECT id, created_at, actor, action, target, details, seq, prev_hash, hash, row_mac
				FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT ?`, want, verifyBatch).Scan(&rows).Error
			if err != nil {
				return rep, fmt.Errorf("audit verify after seq %d: %w", want-1, err)
			}
			for i := range rows {
				r := &rows[i]
				if b := l.checkLink(r, want, prev); b != nil {
					rep.Broken = b
					return rep, nil
				}
				prev = *r.Hash
				want++
				rep.Linked++
			}
			if len(rows) < verifyBatch {
				break
			}
		}
		// Count, in one statement, every event the walk has not covered:
		// those waiting and those the linker linked since the walk ended.
		// If there are newly linked ones, walk on, so that Linked + Waiting
		// accounts for every event; under steady linking, after a few
		// rounds the few just linked are reported as waiting.
		var left struct{ All, Linked int64 }
		err := l.db.Writer().WithContext(ctx).Raw(`SELECT count(*) AS "all", count(seq) AS linked
			FROM audit_events WHERE seq IS NULL OR seq >= ?`, want).Scan(&left).Error
		if err != nil {
			return rep, fmt.Errorf("audit verify: count waiting events: %w", err)
		}
		if left.Linked == 0 || round == verifyRounds {
			rep.Waiting = left.All
			break
		}
	}
	// An event before seq 1 (seq moved down to hide it) is a break too.
	var stray []eventRow
	if err := l.db.Writer().WithContext(ctx).Raw(`SELECT id, seq FROM audit_events WHERE seq < 1 ORDER BY seq LIMIT 1`).Scan(&stray).Error; err != nil {
		return rep, fmt.Errorf("audit verify: look for events before seq 1: %w", err)
	}
	if len(stray) > 0 {
		rep.Broken = &Break{Seq: *stray[0].Seq, EventID: stray[0].ID, Reason: "seq is before the start of the chain"}
		return rep, nil
	}
	if b, err := l.checkWaiting(ctx); err != nil || b != nil {
		rep.Broken = b
		return rep, err
	}
	end := want - 1
	for _, h := range heads {
		if h.Seq > end {
			rep.Broken = &Break{Reason: fmt.Sprintf("chain ends at seq %d but the recorded head is seq %d (%s): %s missing at the end",
				end, h.Seq, h.store, plural(h.Seq-end, "event"))}
			return rep, nil
		}
		if h.Seq == 0 {
			continue
		}
		var got []eventRow
		if err := l.db.Writer().WithContext(ctx).Raw(`SELECT id, seq, hash FROM audit_events WHERE seq = ?`, h.Seq).Scan(&got).Error; err != nil {
			return rep, fmt.Errorf("audit verify: read seq %d: %w", h.Seq, err)
		}
		if len(got) != 1 || got[0].Hash == nil || *got[0].Hash != h.Hash {
			// Only reachable if the event changed after the walk read it.
			rep.Broken = &Break{Reason: fmt.Sprintf("the event at seq %d does not match the recorded head (%s)", h.Seq, h.store)}
			return rep, nil
		}
	}
	if len(heads) == 0 && len(l.heads) > 0 && end > 0 {
		rep.Broken = &Break{Reason: fmt.Sprintf("chain has %s but no head is recorded (%s): a missing tail cannot be ruled out",
			plural(end, "event"), l.headNames())}
	}
	return rep, nil
}

// storedHead is a recorded head and where it was read.
type storedHead struct {
	head
	store string
}

// recordedHeads reads every head store; a head that does not authenticate
// is a break.
func (l *Log) recordedHeads(ctx context.Context) ([]storedHead, *Break, error) {
	var out []storedHead
	for _, st := range l.heads {
		b, err := st.ReadHead(ctx)
		if errors.Is(err, ErrNoHead) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("audit verify: read the recorded head (%s): %w", st, err)
		}
		h, err := decodeHead(l.chainKey, b)
		if err != nil {
			return nil, &Break{Reason: fmt.Sprintf("the recorded head (%s) is not valid: %v", st, err)}, nil
		}
		out = append(out, storedHead{h, st.String()})
	}
	return out, nil, nil
}

func (l *Log) headNames() string {
	s := ""
	for i, st := range l.heads {
		if i > 0 {
			s += ", "
		}
		s += st.String()
	}
	return s
}

// checkWaiting checks the seal of every event not linked yet, in id order,
// and names the first that the server did not write.
func (l *Log) checkWaiting(ctx context.Context) (*Break, error) {
	after := int64(0)
	for {
		var rows []eventRow
		err := l.db.Writer().WithContext(ctx).Raw(`SELECT id, created_at, actor, action, target, details, row_mac
			FROM audit_events WHERE seq IS NULL AND id > ? ORDER BY id LIMIT ?`, after, verifyBatch).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("audit verify: read waiting events: %w", err)
		}
		for i := range rows {
			if err := checkSeal(l.rowKey, &rows[i]); err != nil {
				return &Break{EventID: rows[i].ID, Waiting: true, Reason: err.Error()}, nil
			}
			after = rows[i].ID
		}
		if len(rows) < verifyBatch {
			return nil, nil
		}
	}
}

// checkLink checks that r is the event at seq want, chained to prev.
func (l *Log) checkLink(r *eventRow, want int64, prev string) *Break {
	brk := func(format string, a ...any) *Break {
		return &Break{Seq: *r.Seq, EventID: r.ID, Reason: fmt.Sprintf(format, a...)}
	}
	switch {
	case *r.Seq != want && *r.Seq == want+1:
		return brk("event with seq %d is missing", want)
	case *r.Seq != want:
		return brk("events with seq %d to %d are missing", want, *r.Seq-1)
	case r.PrevHash == nil || r.Hash == nil:
		return brk("linked event has no hash")
	case *r.PrevHash != prev:
		if want == 1 {
			return brk("prev_hash is not the start of the chain")
		}
		return brk("prev_hash does not match the hash of seq %d", want-1)
	case *r.Hash != chainHash(l.chainKey, want, prev, r):
		return brk("content does not match its hash (changed, or linked under another master key)")
	}
	return nil
}
