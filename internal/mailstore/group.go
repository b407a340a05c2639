package mailstore

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Group commit of deliveries and appends.
//
// A delivery or an append ends in a short transaction (usage, UIDs, the
// message row, its mailbox rows) whose cost is mostly the commit itself:
// on SQLite's one connection every commit is a WAL fsync that all other
// writers wait behind. Concurrent writes are therefore handed to one
// committer, which runs all those queued in one transaction, one after the
// other, and commits once. Each write still sees the state its
// predecessors left (UIDs and quotas stay exact), and none is answered
// before the shared commit is durable.
//
// When a write of a group fails, the whole transaction rolls back and each
// write of the group runs again in a transaction of its own, so that one
// write's error (a quota, a swept content) never fails another.

// maxGroup bounds how many writes share a transaction.
const maxGroup = 64

// groupTimeout bounds the transaction of a group: the writes no longer
// depend on their callers' contexts once queued (a caller that gave up
// must not leave half a group), but a hung database must not hang them.
const groupTimeout = time.Minute

// write is one delivery's or append's transaction body.
type write struct {
	users  []int64                            // whose mail it changes: their stripes are held
	fn     func(tx *gorm.DB) ([]Event, error) // the statements; may run more than once
	origin any                                // the caller's WithOrigin, for its events

	events []Event
	err    error
	done   chan struct{}
}

// commitWrite queues w and returns once it has committed (or failed); its
// events are published by then.
func (s *Store) commitWrite(ctx context.Context, users []int64, fn func(tx *gorm.DB) ([]Event, error)) error {
	w := &write{users: users, fn: fn, origin: ctx.Value(originKey{}), done: make(chan struct{})}
	s.group.Lock()
	s.queue = append(s.queue, w)
	if !s.committing {
		s.committing = true
		go s.committer()
	}
	s.group.Unlock()
	<-w.done
	return w.err
}

// committer commits the queued writes, a group at a time, until none is
// left.
func (s *Store) committer() {
	for {
		s.group.Lock()
		n := min(len(s.queue), maxGroup)
		if n == 0 {
			s.committing = false
			s.group.Unlock()
			return
		}
		batch := s.queue[:n:n]
		s.queue = s.queue[n:]
		if len(s.queue) == 0 {
			s.queue = nil
		}
		s.group.Unlock()
		s.commitGroup(batch)
	}
}

// commitGroup runs the writes of batch in one transaction, or each in its
// own when that fails, publishes their events in commit order and wakes
// their callers.
func (s *Store) commitGroup(batch []*write) {
	var users []int64
	for _, w := range batch {
		users = append(users, w.users...)
	}
	slices.Sort(users)
	users = slices.Compact(users)
	unlock := s.lock(users...)
	defer func() {
		unlock()
		for _, w := range batch {
			close(w.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	if len(batch) > 1 {
		err := s.tx(ctx, func(tx *gorm.DB) error {
			if err := s.lockUsers(tx, users); err != nil {
				return err
			}
			for _, w := range batch {
				ev, err := w.fn(tx)
				if err != nil {
					return err
				}
				w.events = ev
			}
			return nil
		})
		if err == nil {
			s.grouped.Add(int64(len(batch)))
			for _, w := range batch {
				s.publishWrite(w)
			}
			return
		}
	}
	for _, w := range batch {
		w.err = s.tx(ctx, func(tx *gorm.DB) error {
			if err := s.lockUsers(tx, w.users); err != nil {
				return err
			}
			ev, err := w.fn(tx)
			w.events = ev
			return err
		})
		if w.err == nil {
			s.publishWrite(w)
		}
	}
}

func (s *Store) publishWrite(w *write) {
	for i := range w.events {
		w.events[i].Origin = w.origin
	}
	if len(w.events) > 0 {
		s.feed.Publish(w.events...)
	}
}
