package mailstore

import "sync"

// LocalFeed is the in-process Feed: subscribers of a mailbox are called in
// the publisher's goroutine, in publication order.
type LocalFeed struct {
	mu   sync.RWMutex
	subs map[int64]map[*subscription]struct{}
}

type subscription struct {
	mu     sync.Mutex
	fn     func(Event)
	closed bool
}

var _ Feed = (*LocalFeed)(nil)

// NewLocalFeed returns an in-process feed.
func NewLocalFeed() *LocalFeed {
	return &LocalFeed{subs: map[int64]map[*subscription]struct{}{}}
}

// Publish implements Feed.
func (f *LocalFeed) Publish(events ...Event) {
	for _, e := range events {
		f.mu.RLock()
		set := f.subs[e.MailboxID]
		list := make([]*subscription, 0, len(set))
		for s := range set {
			list = append(list, s)
		}
		f.mu.RUnlock()
		for _, s := range list {
			s.mu.Lock()
			if !s.closed {
				s.fn(e)
			}
			s.mu.Unlock()
		}
	}
}

// Subscribe implements Feed.
func (f *LocalFeed) Subscribe(mailboxID int64, fn func(Event)) (cancel func()) {
	s := &subscription{fn: fn}
	f.mu.Lock()
	set := f.subs[mailboxID]
	if set == nil {
		set = map[*subscription]struct{}{}
		f.subs[mailboxID] = set
	}
	set[s] = struct{}{}
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs[mailboxID], s)
			if len(f.subs[mailboxID]) == 0 {
				delete(f.subs, mailboxID)
			}
			f.mu.Unlock()
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
		})
	}
}
