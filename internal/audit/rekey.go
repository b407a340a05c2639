package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"gorm.io/gorm"
)

// ActionRekeyed is the audit action Rekey records.
const ActionRekeyed = "audit.rekeyed"

// Rekey brings a database written before rows were sealed under the keyed
// chain, once: at the first start under a master key. It runs only when no
// event carries a seal yet and no head is recorded anywhere; then, in one
// transaction under the linker lock, it
//
//   - checks the old plain SHA-256 chain (as Verify did then) and keeps the
//     result,
//   - seals every event (linked or waiting) under the row key and relinks
//     the linked ones, in their seq order and keeping their seq, with keyed
//     hashes (a gap in seq stays a gap, which Verify reports),
//   - appends the event "audit.rekeyed" with the number of events re-keyed,
//     the old head and the old chain's verdict, which the linker then links.
//
// The old chain was as strong as plain SHA-256: an event changed before
// the re-keying and its hashes recomputed cannot be told apart afterwards,
// which is why the verdict is kept in the chain. After it, every row without
// a valid seal is refused. Having re-keyed, it links what waits, which
// records the first head. It returns whether it re-keyed.
func (l *Log) Rekey(ctx context.Context) (bool, error) {
	if l.chainKey == nil {
		return false, errNoKeys
	}
	done, err := l.rekeyOnce(ctx)
	if err != nil || !done {
		return done, err
	}
	if _, err := l.LinkPending(ctx); err != nil {
		return true, fmt.Errorf("audit rekey: %w", err)
	}
	return true, nil
}

func (l *Log) rekeyOnce(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range l.heads {
		_, err := st.ReadHead(ctx)
		if errors.Is(err, ErrNoHead) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("audit rekey: read the recorded head (%s): %w", st, err)
		}
		return false, nil // linked under a key already
	}
	var done bool
	err := l.db.Transaction(ctx, func(tx *gorm.DB) error {
		if l.db.IsPostgres() {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", linkerLockKey).Error; err != nil {
				return fmt.Errorf("take linker lock: %w", err)
			}
		}
		var sealed, unsealed []int64
		if err := tx.Raw(`SELECT id FROM audit_events WHERE row_mac IS NOT NULL LIMIT 1`).Scan(&sealed).Error; err != nil {
			return err
		}
		if len(sealed) > 0 {
			return nil
		}
		if err := tx.Raw(`SELECT id FROM audit_events WHERE row_mac IS NULL LIMIT 1`).Scan(&unsealed).Error; err != nil {
			return err
		}
		if len(unsealed) == 0 {
			return nil
		}
		n, legacy, err := l.rekey(tx)
		if err != nil {
			return err
		}
		details := map[string]any{"events": n, "legacy_verify": legacy.String(),
			"legacy_head_seq": legacy.headSeq, "legacy_head_hash": legacy.headHash}
		if err := (&Sealer{key: l.rowKey}).Append(ctx, tx, Event{Actor: "system", Action: ActionRekeyed, Target: "audit", Details: details}); err != nil {
			return err
		}
		if legacy.Broken != nil {
			l.logger.Error("audit chain re-keyed, but the old chain was broken", slog.Int64("events", n), slog.String("legacy_verify", legacy.String()))
		} else {
			l.logger.Info("audit chain re-keyed under the master key", slog.Int64("events", n), slog.String("legacy_verify", legacy.String()))
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("audit rekey: %w", err)
	}
	return done, nil
}

// legacyReport is the old chain's verdict and head.
type legacyReport struct {
	Report
	headSeq  int64
	headHash string
}

// rekey seals and relinks every event in tx; it returns how many.
func (l *Log) rekey(tx *gorm.DB) (int64, legacyReport, error) {
	var rep legacyReport
	var n int64
	s := &Sealer{key: l.rowKey}
	want, legacyPrev, prev := int64(1), genesisHash, genesisHash
	after := int64(-1 << 62)
	for {
		var rows []eventRow
		err := tx.Raw(`SELECT id, created_at, actor, action, target, details, seq, prev_hash, hash
			FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, verifyBatch).Scan(&rows).Error
		if err != nil {
			return 0, rep, fmt.Errorf("read linked events: %w", err)
		}
		ups := make([]rekeyed, 0, len(rows))
		for i := range rows {
			r := &rows[i]
			if rep.Broken == nil {
				if b := checkLegacyLink(r, want, legacyPrev); b != nil {
					rep.Broken = b
				} else {
					legacyPrev = *r.Hash
					want++
					rep.Linked++
				}
			}
			if r.Hash != nil {
				rep.headSeq, rep.headHash = *r.Seq, *r.Hash
			}
			mac := s.resealRow(r)
			r.RowMAC = &mac
			h := chainHash(l.chainKey, *r.Seq, prev, r)
			ups = append(ups, rekeyed{id: r.ID, mac: mac, prevHash: prev, hash: h})
			prev = h
			after = *r.Seq
		}
		if err := l.writeRekeyed(tx, ups); err != nil {
			return 0, rep, err
		}
		n += int64(len(rows))
		if len(rows) < verifyBatch {
			break
		}
	}
	afterID := int64(0)
	for {
		var rows []eventRow
		err := tx.Raw(`SELECT id, created_at, actor, action, target, details
			FROM audit_events WHERE seq IS NULL AND id > ? ORDER BY id LIMIT ?`, afterID, verifyBatch).Scan(&rows).Error
		if err != nil {
			return 0, rep, fmt.Errorf("read waiting events: %w", err)
		}
		ups := make([]rekeyed, 0, len(rows))
		for i := range rows {
			ups = append(ups, rekeyed{id: rows[i].ID, mac: s.resealRow(&rows[i])})
			afterID = rows[i].ID
		}
		if err := l.writeRekeyed(tx, ups); err != nil {
			return 0, rep, err
		}
		rep.Waiting += int64(len(rows))
		n += int64(len(rows))
		if len(rows) < verifyBatch {
			break
		}
	}
	return n, rep, nil
}

// resealRow is the seal of a stored row, with a new nonce.
func (s *Sealer) resealRow(r *eventRow) string {
	return seal(s.key, newNonce(), "", r.CreatedAt, r.Actor, r.Action, r.Target, r.Details)
}

// rekeyed is the new seal, and for a linked event the new link, of one
// event.
type rekeyed struct {
	id             int64
	mac            string
	prevHash, hash string // "" for an event not linked
}

func (l *Log) writeRekeyed(tx *gorm.DB, ups []rekeyed) error {
	if len(ups) == 0 {
		return nil
	}
	if l.db.IsPostgres() {
		var values strings.Builder
		args := make([]any, 0, 4*len(ups))
		for i, u := range ups {
			if i > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT))")
			args = append(args, u.id, u.mac, nullable(u.prevHash), nullable(u.hash))
		}
		return tx.Exec(`WITH v (id, row_mac, prev_hash, hash) AS (VALUES `+values.String()+`)
			UPDATE audit_events SET row_mac = v.row_mac,
				prev_hash = COALESCE(v.prev_hash, audit_events.prev_hash), hash = COALESCE(v.hash, audit_events.hash)
			FROM v WHERE audit_events.id = v.id`, args...).Error
	}
	for _, u := range ups {
		err := tx.Exec(`UPDATE audit_events SET row_mac = ?, prev_hash = COALESCE(?, prev_hash), hash = COALESCE(?, hash) WHERE id = ?`,
			u.mac, nullable(u.prevHash), nullable(u.hash), u.id).Error
		if err != nil {
			return err
		}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// checkLegacyLink is checkLink for the old plain SHA-256 chain.
func checkLegacyLink(r *eventRow, want int64, prev string) *Break {
	brk := func(reason string) *Break { return &Break{Seq: *r.Seq, EventID: r.ID, Reason: reason} }
	switch {
	case *r.Seq != want:
		return brk(fmt.Sprintf("event with seq %d is missing", want))
	case r.PrevHash == nil || r.Hash == nil:
		return brk("linked event has no hash")
	case *r.PrevHash != prev:
		return brk("prev_hash does not match the event before")
	case *r.Hash != legacyChainHash(want, prev, r):
		return brk("content does not match its hash")
	}
	return nil
}
