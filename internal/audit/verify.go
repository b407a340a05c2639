package audit

import (
	"context"
	"fmt"
)

// Report is the outcome of Verify.
type Report struct {
	Linked  int64  // linked events checked and found intact
	Waiting int64  // committed events not linked yet (see Verify)
	Broken  *Break // the first broken link; nil when the chain is intact
}

// Break names the first event at which the chain does not hold.
type Break struct {
	Seq     int64 // the seq the event carries
	EventID int64
	Reason  string
}

// String is "ok N events (M waiting)" for an intact chain and
// "broken at event ID (seq S): REASON" otherwise.
func (r Report) String() string {
	if r.Broken != nil {
		return fmt.Sprintf("broken at event %d (seq %d): %s", r.Broken.EventID, r.Broken.Seq, r.Broken.Reason)
	}
	return fmt.Sprintf("ok %d events (%d waiting)", r.Linked, r.Waiting)
}

// Verify walks the linked events in seq order, a batch at a time, and
// recomputes every hash and every link to the previous event. It stops at
// the first break: a changed event (its hash no longer matches), a deleted
// one (a gap in seq), or events moved or relinked (prev_hash does not match
// the event before). It then counts the events still waiting to be linked.
//
// Verify does not hold a transaction open (on SQLite that would stop every
// writer); events linked while it runs are checked if it reaches them.
// Removing the newest events leaves a shorter chain that is still intact:
// compare the head against one recorded elsewhere to catch that.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	var rep Report
	want, prev := int64(1), genesisHash
	for round := 1; ; round++ {
		for {
			var rows []eventRow
			err := l.db.Gorm.WithContext(ctx).Raw(`SELECT id, created_at, actor, action, target, details, seq, prev_hash, hash
				FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT ?`, want, verifyBatch).Scan(&rows).Error
			if err != nil {
				return rep, fmt.Errorf("audit verify after seq %d: %w", want-1, err)
			}
			for i := range rows {
				r := &rows[i]
				if b := checkLink(r, want, prev); b != nil {
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
		err := l.db.Gorm.WithContext(ctx).Raw(`SELECT count(*) AS "all", count(seq) AS linked
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
	if err := l.db.Gorm.WithContext(ctx).Raw(`SELECT id, seq FROM audit_events WHERE seq < 1 ORDER BY seq LIMIT 1`).Scan(&stray).Error; err != nil {
		return rep, fmt.Errorf("audit verify: look for events before seq 1: %w", err)
	}
	if len(stray) > 0 {
		rep.Broken = &Break{Seq: *stray[0].Seq, EventID: stray[0].ID, Reason: "seq is before the start of the chain"}
	}
	return rep, nil
}

// checkLink checks that r is the event at seq want, chained to prev.
func checkLink(r *eventRow, want int64, prev string) *Break {
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
	case *r.Hash != chainHash(want, prev, r):
		return brk("content does not match its hash")
	}
	return nil
}
