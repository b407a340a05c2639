package audit

import (
	"time"

	"diwan.gov.sy/diwan/internal/db"
)

// SetLinkerForTest changes how often Run links and how many events one
// link transaction takes.
func SetLinkerForTest(l *Log, interval time.Duration, batch int) {
	l.interval = interval
	l.batch = batch
}

// RunPassesForTest is how many linking passes Run has finished.
func RunPassesForTest(l *Log) int64 { return l.passes.Load() }

// RelinkForTest recomputes prev_hash and hash of every linked event from
// seq from on, as someone who changed an event and knows the documented
// encoding would: with key nil, plain SHA-256 (the old chain), else
// HMAC-SHA256 under key.
func RelinkForTest(d *db.DB, key []byte, from int64) error {
	var rows []eventRow
	if err := d.Writer().Raw(`SELECT * FROM audit_events WHERE seq IS NOT NULL ORDER BY seq`).Scan(&rows).Error; err != nil {
		return err
	}
	prev := genesisHash
	for i := range rows {
		r := &rows[i]
		if *r.Seq < from {
			prev = *r.Hash
			continue
		}
		var h string
		if key == nil {
			h = legacyChainHash(*r.Seq, prev, r)
		} else {
			h = chainHash(key, *r.Seq, prev, r)
		}
		if err := d.Writer().Exec(`UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?`, prev, h, r.ID).Error; err != nil {
			return err
		}
		prev = h
	}
	return nil
}

// ChainKeyForTest is the chain key Open derives from k.
func ChainKeyForTest(k Deriver) []byte { return k.Derive(chainKeyPurpose) }
