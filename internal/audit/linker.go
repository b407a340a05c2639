package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
)

// linkerLockKey is the PostgreSQL advisory lock that makes the linker run
// one at a time across every server sharing the database ("DIWANAUD").
// Writers never take it.
const linkerLockKey int64 = 0x444957414e415544

const (
	defaultLinkBatch    = 1000
	defaultLinkInterval = 250 * time.Millisecond
	verifyBatch         = 5000
	verifyRounds        = 5
	errorLogEvery       = time.Minute
)

// Log links, verifies and lists the audit events of one database. Events
// are written by Sealer.Append, in the caller's transaction.
type Log struct {
	db       *db.DB
	logger   *slog.Logger
	now      func() time.Time
	interval time.Duration
	batch    int
	kick     chan struct{}
	passes   atomic.Int64 // linking passes Run has finished, for tests

	rowKey, chainKey []byte      // nil: a log that only lists
	heads            []HeadStore // where the head is recorded besides the database

	mu         sync.Mutex // guards what follows; linkers of one Log also hold it
	known      head       // the newest head this process knows to be genuine
	headsRead  bool       // known was read from the head stores
	headsStale bool       // known was not written to every head store yet
}

// Options are what a Log that links and verifies needs.
type Options struct {
	// Keys is the master key; the chain, row and head keys are derived
	// from it. Without it the Log lists events but cannot link or verify.
	Keys Deriver
	// Heads are where the chain head is recorded as the linker advances
	// (HeadFile under data_dir; HeadBlob for several nodes). Verify
	// compares the chain with each.
	Heads []HeadStore
	// Logger receives linker failures; nil discards them.
	Logger *slog.Logger
}

// Open returns the audit log of d that links and verifies with o.Keys.
func Open(d *db.DB, o Options) *Log {
	l := New(d, o.Logger)
	if o.Keys != nil {
		l.rowKey, l.chainKey = o.Keys.Derive(rowKeyPurpose), o.Keys.Derive(chainKeyPurpose)
	}
	l.heads = o.Heads
	return l
}

// New returns the audit log of d for listing events: without keys it
// cannot link or verify (see Open). logger receives failures; nil
// discards them.
func New(d *db.DB, logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Log{
		db:       d,
		logger:   logger,
		now:      time.Now,
		interval: defaultLinkInterval,
		batch:    defaultLinkBatch,
		kick:     make(chan struct{}, 1),
	}
}

// errNoKeys is returned by what needs the master key of a Log made by New.
var errNoKeys = errors.New("audit log opened without the master key")

// ForgedError is the error of LinkPending when it met a row that carries
// no valid seal: it linked the rows before it and nothing past it.
type ForgedError struct {
	EventID int64
	Reason  string
}

func (e *ForgedError) Error() string {
	return fmt.Sprintf("audit event %d is not linked: %s; nothing after it is linked until it is removed", e.EventID, e.Reason)
}

// Kick asks Run to link now instead of at its next tick. It never blocks;
// kicks that arrive while one is pending are merged.
func (l *Log) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Run links committed events every interval (about 250 ms) and whenever
// Kick is called, until ctx is done. Failures are logged and retried on the
// next tick; a lasting failure is logged once a minute, at ERROR: a row
// without a valid seal (with its event_id), a chain shorter than the
// recorded head, a head that does not authenticate.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	var failing bool
	var lastLogged time.Time
	for {
		_, err := l.LinkPending(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing || time.Since(lastLogged) >= errorLogEvery {
				attrs := []any{slog.Any("err", err)}
				var fe *ForgedError
				if errors.As(err, &fe) {
					attrs = append(attrs, slog.Int64("event_id", fe.EventID))
				}
				l.logger.Error("audit linker failed; events wait unlinked", attrs...)
				lastLogged = time.Now()
			}
			failing = true
		case err == nil && failing:
			l.logger.Info("audit linker recovered")
			failing = false
		}
		l.passes.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.kick:
		}
	}
}

// LinkPending links every committed event that waits, in id order, in
// batches of one transaction each, and returns how many it linked. Events
// committed while it runs are linked too if it sees them before it finds
// nothing left. A row without a valid seal stops it (*ForgedError); a
// chain shorter than the recorded head stops it too, before it links
// anything, so that the head is not overwritten.
func (l *Log) LinkPending(ctx context.Context) (linked int, err error) {
	if l.chainKey == nil {
		return 0, errNoKeys
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readHeads(ctx); err != nil {
		return 0, err
	}
	defer func() {
		if herr := l.writeHeads(ctx); herr != nil && err == nil {
			err = herr
		}
	}()
	for {
		n, forged, err := l.linkBatch(ctx)
		linked += n
		if err != nil {
			return linked, err
		}
		if forged != nil {
			return linked, forged
		}
		if n < l.batch {
			return linked, nil
		}
	}
}

// linkBatch links up to l.batch waiting events after the current head of
// the chain, in one transaction that holds the linker lock. It stops
// before the first row whose seal is not valid and returns it.
//
// On PostgreSQL the lock is pg_advisory_xact_lock; on SQLite the write
// transaction itself (BEGIN IMMEDIATE) serialises linkers. Because seq is
// given here and not at insert, an event whose writer commits late (a
// smaller id committed after larger ids were linked) simply gets a later
// seq: the chain never skips an event.
func (l *Log) linkBatch(ctx context.Context) (int, *ForgedError, error) {
	var n int
	var forged *ForgedError
	var newHead head
	err := l.db.Transaction(ctx, func(tx *gorm.DB) error {
		if l.db.IsPostgres() {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", linkerLockKey).Error; err != nil {
				return fmt.Errorf("take linker lock: %w", err)
			}
		}
		seq, prev, err := chainHead(tx)
		if err != nil {
			return err
		}
		if err := l.checkKnownHead(tx, seq, prev); err != nil {
			return err
		}
		var rows []eventRow
		err = tx.Raw(`SELECT id, created_at, actor, action, target, details, row_mac
			FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT ?`, l.batch).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("read waiting events: %w", err)
		}
		links := make([]link, 0, len(rows))
		for i := range rows {
			if err := checkSeal(l.rowKey, &rows[i]); err != nil {
				forged = &ForgedError{EventID: rows[i].ID, Reason: err.Error()}
				break
			}
			seq++
			h := chainHash(l.chainKey, seq, prev, &rows[i])
			links = append(links, link{id: rows[i].ID, seq: seq, prevHash: prev, hash: h})
			prev = h
		}
		if len(links) == 0 {
			return nil
		}
		if err := l.writeLinks(tx, links); err != nil {
			return fmt.Errorf("link events %d to %d: %w", links[0].id, links[len(links)-1].id, err)
		}
		n = len(links)
		newHead = head{Seq: seq, Hash: prev, Time: l.now()}
		l.logger.Debug("audit events linked", slog.Int("count", n), slog.Int64("head_seq", seq), slog.String("head_hash", prev))
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("audit link: %w", err)
	}
	if n > 0 {
		l.known, l.headsStale = newHead, true
	}
	return n, forged, nil
}

// checkKnownHead refuses to link on a chain that does not reach, or does
// not hold, the head this process knows (recorded, or linked by itself):
// its newest events were deleted or replaced.
func (l *Log) checkKnownHead(tx *gorm.DB, seq int64, hash string) error {
	k := l.known
	if k.Seq == 0 {
		return nil
	}
	if seq < k.Seq {
		return fmt.Errorf("the chain ends at seq %d but the recorded head is seq %d: %s missing at the end; nothing is linked until this is looked at",
			seq, k.Seq, plural(k.Seq-seq, "event"))
	}
	if seq > k.Seq { // linked by another node meanwhile
		var got []string
		if err := tx.Raw(`SELECT hash FROM audit_events WHERE seq = ?`, k.Seq).Scan(&got).Error; err != nil {
			return fmt.Errorf("read the event at the recorded head: %w", err)
		}
		if len(got) == 1 {
			hash = got[0]
		} else {
			hash = ""
		}
	}
	if hash != k.Hash {
		return fmt.Errorf("the event at seq %d does not match the recorded head: replaced; nothing is linked until this is looked at", k.Seq)
	}
	return nil
}

// readHeads loads the newest valid recorded head, once. A head that does
// not authenticate stops linking: overwriting it would hide what it shows.
func (l *Log) readHeads(ctx context.Context) error {
	if l.headsRead {
		return nil
	}
	for _, st := range l.heads {
		b, err := st.ReadHead(ctx)
		if errors.Is(err, ErrNoHead) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read the recorded chain head (%s): %w", st, err)
		}
		h, err := decodeHead(l.chainKey, b)
		if err != nil {
			return fmt.Errorf("recorded chain head (%s) is not valid: %v; nothing is linked until it is looked at", st, err)
		}
		if h.Seq > l.known.Seq {
			l.known = h
		}
	}
	l.headsRead = true
	return nil
}

// writeHeads records the head in every head store, if it moved since they
// were last written.
func (l *Log) writeHeads(ctx context.Context) error {
	if !l.headsStale {
		return nil
	}
	b := encodeHead(l.chainKey, l.known)
	var errs []error
	for _, st := range l.heads {
		if err := st.WriteHead(ctx, b); err != nil {
			errs = append(errs, fmt.Errorf("record the chain head (%s): %w", st, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	l.headsStale = false
	return nil
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// link is the chain position given to one event.
type link struct {
	id, seq        int64
	prevHash, hash string
}

// writeLinks stores links, refusing to overwrite an event already linked
// (that would mean a second linker ran without the lock).
func (l *Log) writeLinks(tx *gorm.DB, links []link) error {
	linkedAt := l.now().UTC().Truncate(time.Microsecond)
	var updated int64
	if l.db.IsPostgres() {
		// One statement per batch: one round trip instead of a thousand.
		var values strings.Builder
		args := make([]any, 0, 4*len(links)+1)
		for i, k := range links {
			if i > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT))")
			args = append(args, k.id, k.seq, k.prevHash, k.hash)
		}
		args = append(args, linkedAt)
		res := tx.Exec(`WITH v (id, seq, prev_hash, hash) AS (VALUES `+values.String()+`)
			UPDATE audit_events SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash, linked_at = ?
			FROM v WHERE audit_events.id = v.id AND audit_events.seq IS NULL`, args...)
		if res.Error != nil {
			return res.Error
		}
		updated = res.RowsAffected
	} else {
		// SQLite is in-process, so a statement per event costs no round
		// trip, and each is a primary-key lookup (its planner does not drive
		// UPDATE ... FROM through the key).
		for _, k := range links {
			res := tx.Exec(`UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ?, linked_at = ?
				WHERE id = ? AND seq IS NULL`, k.seq, k.prevHash, k.hash, linkedAt, k.id)
			if res.Error != nil {
				return res.Error
			}
			updated += res.RowsAffected
		}
	}
	if updated != int64(len(links)) {
		return fmt.Errorf("%d events updated, want %d: another linker ran without the lock", updated, len(links))
	}
	return nil
}

// chainHead returns the seq and hash of the last linked event, or 0 and the
// genesis hash when nothing is linked yet.
func chainHead(tx *gorm.DB) (int64, string, error) {
	var head []eventRow
	err := tx.Raw(`SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&head).Error
	if err != nil {
		return 0, "", fmt.Errorf("read chain head: %w", err)
	}
	if len(head) == 0 {
		return 0, genesisHash, nil
	}
	if head[0].Seq == nil || head[0].Hash == nil {
		return 0, "", errors.New("read chain head: last linked event has no hash")
	}
	return *head[0].Seq, *head[0].Hash, nil
}
