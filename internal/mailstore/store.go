package mailstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
)

// Store is the mail store. Build it with New; its methods are documented on
// the api interface in api.go and repeated briefly here.
type Store struct {
	db    *db.DB
	blobs Blobs
	dir   Directory
	feed  Feed
	log   *slog.Logger
	clock func() time.Time
	loc   *time.Location

	maxBytes    int64
	memSpool    int64
	spoolDir    string
	grace       time.Duration
	retention   time.Duration // of expunge records (condstore.go)
	putTimeout  time.Duration
	tombstoneMx time.Duration // how long a delivery waits for a sweep of its content

	// stripes order the publication of events per user: a writer locks
	// the stripes of the users whose mail it changes before its transaction
	// and unlocks them after publishing, so events of one mailbox are
	// published in commit (ModSeq) order. (The transactions of one user
	// queue on the user's usage row anyway, see lockUser.)
	stripes [64]sync.Mutex

	// uidLists are the UID lists of large mailboxes SELECT read
	// (uidcache.go).
	uidLists uidCache

	// Group commit of deliveries and appends (group.go).
	group      sync.Mutex
	queue      []*write
	committing bool
	grouped    atomic.Int64 // writes committed in a transaction shared with others

	ensured sync.Map // user ID → struct{}: EnsureUser has run in this process
}

// New returns a Store on the database and blob store of o.
func New(o Options) (*Store, error) {
	if o.DB == nil || o.Blobs == nil || o.Directory == nil {
		return nil, errors.New("mailstore: a database, a blob store and a directory are required")
	}
	s := &Store{
		db:          o.DB,
		blobs:       o.Blobs,
		dir:         o.Directory,
		feed:        o.Feed,
		log:         o.Logger,
		clock:       o.Clock,
		loc:         o.Location,
		maxBytes:    o.MaxMessageBytes,
		memSpool:    o.MemorySpool,
		spoolDir:    o.SpoolDir,
		grace:       o.SweepGrace,
		retention:   o.ExpungedRetention,
		putTimeout:  o.PutTimeout,
		tombstoneMx: 30 * time.Second,
	}
	if s.feed == nil {
		s.feed = NewLocalFeed()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxMessageBytes
	}
	if s.memSpool <= 0 {
		s.memSpool = 1 << 20
	}
	if s.spoolDir == "" {
		s.spoolDir = os.TempDir()
	}
	if s.grace <= 0 {
		s.grace = time.Hour
	}
	if s.retention <= 0 {
		s.retention = DefaultExpungedRetention
	}
	if s.putTimeout <= 0 {
		s.putTimeout = 10 * time.Minute
	}
	if s.putTimeout > s.grace/2 {
		return nil, fmt.Errorf("mailstore: PutTimeout %s must be at most half of SweepGrace %s", s.putTimeout, s.grace)
	}
	return s, nil
}

// Feed returns the store's change feed.
func (s *Store) Feed() Feed { return s.feed }

func (s *Store) now() int64 { return s.clock().Unix() }

func (s *Store) postgres() bool { return s.db.IsPostgres() }

// errRollback makes tx roll back without an error for the caller.
var errRollback = errors.New("mailstore: nothing to do")

// tx runs fn in a transaction, again (up to 5 times) when PostgreSQL
// reports a deadlock or a serialization failure. fn must have no effect
// outside the transaction.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	for attempt := 0; ; attempt++ {
		err := s.db.Transaction(ctx, fn)
		if err == nil || attempt == 4 || !retryable(err) {
			return err
		}
		d := time.Duration(1+rand.IntN(10<<attempt)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// readTx runs fn in a transaction that sees one snapshot (REPEATABLE READ,
// read only, on PostgreSQL; on SQLite a read transaction on a connection
// of the read pool, which WAL gives a snapshot of its own).
func (s *Store) readTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.ReadTransaction(ctx, fn)
}

func retryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 40P01") || strings.Contains(s, "SQLSTATE 40001")
}

// lock locks the stripes of the users and returns the unlock function.
func (s *Store) lock(userIDs ...int64) func() {
	idx := make([]int, 0, len(userIDs))
	for _, id := range userIDs {
		idx = append(idx, int(uint64(id)%uint64(len(s.stripes))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.stripes[i].Lock()
	}
	return func() {
		for j := len(idx) - 1; j >= 0; j-- {
			s.stripes[idx[j]].Unlock()
		}
	}
}

// publish hands committed events to the feed, tagged with the origin of
// ctx.
func (s *Store) publish(ctx context.Context, events ...Event) {
	if len(events) == 0 {
		return
	}
	origin := ctx.Value(originKey{})
	for i := range events {
		events[i].Origin = origin
	}
	s.feed.Publish(events...)
}

// lockUser takes the user's usage row: every transaction that changes a
// user's messages starts here, so they queue per user in one lock order
// (usage row, then mailboxes by id, then messages by id).
func lockUser(tx *gorm.DB, userID int64) error {
	res := tx.Exec("UPDATE mail_users SET used_bytes = used_bytes WHERE user_id = ?", userID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %d has no mail store: %w", userID, ErrNotFound)
	}
	return nil
}

// addUsage changes the user's usage by delta (taking the usage row, see
// lockUser) and, when check is set and delta is positive, refuses to go
// over quota (the user's quota as the directory gave it; 0: none):
// ErrOverQuota, with nothing changed. A user without a mail store is
// ErrNotFound.
func addUsage(tx *gorm.DB, userID, delta, quota int64, check bool) error {
	var used []int64
	if !check || delta <= 0 {
		if err := tx.Raw("UPDATE mail_users SET used_bytes = used_bytes + ? WHERE user_id = ? RETURNING used_bytes",
			delta, userID).Scan(&used).Error; err != nil {
			return err
		}
	} else {
		if err := tx.Raw(`UPDATE mail_users SET used_bytes = used_bytes + ? WHERE user_id = ? AND `+quotaRoom+`
			RETURNING used_bytes`, delta, userID, delta, quota, delta).Scan(&used).Error; err != nil {
			return err
		}
	}
	if len(used) > 0 {
		return nil
	}
	var rows []int64
	if err := tx.Raw(`SELECT used_bytes FROM mail_users WHERE user_id = ?`, userID).Scan(&rows).Error; err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("user %d has no mail store: %w", userID, ErrNotFound)
	}
	return fmt.Errorf("user %d: %d bytes used of %d: %w", userID, rows[0], quota, ErrOverQuota)
}

// quotaRoom is the condition on a mail_users row that ? more bytes stay
// within a quota of ? (0: none; the bytes are given once more). The quota
// comes from the directory, read before the transaction; the condition on
// the row makes concurrent writes of one user exact.
const quotaRoom = `used_bytes + ? <= COALESCE(NULLIF(CAST(? AS BIGINT), 0), used_bytes + ?)`

// quota returns the user's quota from the directory; a user it does not
// know is ErrNotFound.
func (s *Store) quota(ctx context.Context, userID int64) (int64, error) {
	q, err := s.dir.Quota(ctx, []int64{userID})
	if err != nil {
		return 0, err
	}
	n, ok := q[userID]
	if !ok {
		return 0, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	return n, nil
}

// lockUsers takes the usage rows of several users in ID order (PostgreSQL;
// SQLite has one writer): a group of writes takes all its users first, so
// that it keeps the lock order of lockUser.
func (s *Store) lockUsers(tx *gorm.DB, userIDs []int64) error {
	if !s.postgres() || len(userIDs) < 2 {
		return nil
	}
	var got []int64
	return tx.Raw("SELECT user_id FROM mail_users WHERE user_id IN ? ORDER BY user_id FOR UPDATE", userIDs).Scan(&got).Error
}

// Usage returns the user's storage use and quota.
func (s *Store) Usage(ctx context.Context, userID int64) (Usage, error) {
	quota, err := s.quota(ctx, userID)
	if err != nil {
		return Usage{}, fmt.Errorf("usage of user %d: %w", userID, err)
	}
	var used []int64
	err = s.db.Reader().WithContext(ctx).Raw(`SELECT used_bytes FROM mail_users WHERE user_id = ?`, userID).Scan(&used).Error
	if err != nil {
		return Usage{}, fmt.Errorf("usage of user %d: %w", userID, err)
	}
	u := Usage{Quota: quota}
	if len(used) > 0 {
		u.Bytes = used[0]
	}
	return u, nil
}

// checkMailbox verifies that the mailbox belongs to the user.
func (s *Store) checkMailbox(ctx context.Context, userID, mailboxID int64) error {
	var n int64
	err := s.db.Reader().WithContext(ctx).Raw("SELECT count(*) FROM mailboxes WHERE id = ? AND user_id = ?", mailboxID, userID).Scan(&n).Error
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("mailbox %d of user %d: %w", mailboxID, userID, ErrNotFound)
	}
	return nil
}

// batches splits uids into slices of at most n.
func batches(uids []uint32, n int) [][]uint32 {
	var out [][]uint32
	for len(uids) > n {
		out = append(out, uids[:n])
		uids = uids[n:]
	}
	if len(uids) > 0 {
		out = append(out, uids)
	}
	return out
}

// uidCond is a condition on mm.uid for a sorted batch: a range when the
// batch is contiguous, else a list.
func uidCond(b []uint32) (string, []any) {
	if len(b) > 0 && int(b[len(b)-1]-b[0]) == len(b)-1 {
		return "mm.uid BETWEEN ? AND ?", []any{b[0], b[len(b)-1]}
	}
	return "mm.uid IN ?", []any{b}
}

// sortedUIDs returns uids ascending without duplicates (a copy).
func sortedUIDs(uids []uint32) []uint32 {
	out := slices.Clone(uids)
	slices.Sort(out)
	return slices.Compact(out)
}
