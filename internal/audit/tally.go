package audit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// TallyWindow is how long the events of one key are summed into one.
const TallyWindow = time.Minute

const (
	// maxTallyKeys bounds the keys summed at once; an event with a new key
	// beyond it is summed under the key "other".
	maxTallyKeys = 10_000
	// maxTallyDomains bounds the domains one event counts by name; the
	// rest are counted under "other".
	maxTallyDomains = 20
)

// Tally sums events that come as fast as a client sends them (refused
// envelopes, refused logins), so that a flood costs the audit log one event
// per key a window, not one per attempt, while nothing goes uncounted: the
// first event of a key is written at once with "count": 1 and opens a
// window of TallyWindow; the events within it are summed and written as one
// event (the first one's, with "count", "first_at" and, when domains were
// given, "domains": the count per domain) when the window ends (Run), or by
// the key's next event after it ended, or by Flush. Readers of the log
// take an event for as many as its "count" says (Count).
type Tally struct {
	write func(context.Context, Event) error
	now   func() time.Time

	mu   sync.Mutex
	open map[string]*tallied
}

// tallied is the events of one key since its last write.
type tallied struct {
	since   time.Time // the window started
	first   Event     // the first event summed since, whose details the write carries
	firstAt time.Time
	n       int
	domains map[string]int
}

// NewTally returns a tally that writes each summed event with write (the
// owner's transaction and Sealer); now is the clock, nil for time.Now.
func NewTally(write func(context.Context, Event) error, now func() time.Time) *Tally {
	if now == nil {
		now = time.Now
	}
	return &Tally{write: write, now: now, open: map[string]*tallied{}}
}

// Add sums e under key, counting it for domain too when domain is not "".
// It writes only when e opens a window.
func (t *Tally) Add(ctx context.Context, key string, e Event, domain string) error {
	now := t.now()
	t.mu.Lock()
	c := t.open[key]
	if c == nil && len(t.open) >= maxTallyKeys {
		key = "other"
		c = t.open[key]
	}
	if c != nil && now.Sub(c.since) < TallyWindow {
		c.add(e, domain, now)
		t.mu.Unlock()
		return nil
	}
	// A new key, or a window that ended: one event now, with what the
	// ended window summed.
	if c == nil || c.n == 0 {
		c = &tallied{}
	}
	c.add(e, domain, now)
	t.open[key] = &tallied{since: now}
	t.mu.Unlock()
	return t.write(ctx, c.event())
}

func (c *tallied) add(e Event, domain string, now time.Time) {
	if c.n == 0 {
		c.first, c.firstAt = e, now
	}
	c.n++
	if domain == "" {
		return
	}
	if c.domains == nil {
		c.domains = map[string]int{}
	}
	if _, ok := c.domains[domain]; !ok && len(c.domains) >= maxTallyDomains {
		domain = "other"
	}
	c.domains[domain]++
}

// event is the one event written for what c summed.
func (c *tallied) event() Event {
	e := c.first
	d := make(map[string]any, len(e.Details)+3)
	for k, v := range e.Details {
		d[k] = v
	}
	d["count"] = c.n
	if c.n > 1 {
		d["first_at"] = c.firstAt.UTC().Format(time.RFC3339)
		if len(c.domains) > 0 {
			d["domains"] = c.domains
		}
	}
	e.Details = d
	return e
}

// Run writes the sum of every window as it ends, until ctx ends; then it
// writes what is still summed (Flush) and returns. The server runs it for
// as long as events may be added.
func (t *Tally) Run(ctx context.Context, onError func(error)) {
	tick := time.NewTicker(TallyWindow / 12)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := t.Flush(fctx); err != nil {
				onError(err)
			}
			return
		case <-tick.C:
			if err := t.flush(ctx, false); err != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// Flush writes the sum of every open window now, whether it ended or not,
// so that nothing goes unrecorded at shutdown.
func (t *Tally) Flush(ctx context.Context) error { return t.flush(ctx, true) }

// flush writes the windows that ended (all of them when all is set): each
// with a sum becomes one event and starts a new window; one without is
// dropped.
func (t *Tally) flush(ctx context.Context, all bool) error {
	now := t.now()
	var due []*tallied
	t.mu.Lock()
	for k, c := range t.open {
		if !all && now.Sub(c.since) < TallyWindow {
			continue
		}
		if c.n == 0 {
			delete(t.open, k)
			continue
		}
		due = append(due, c)
		t.open[k] = &tallied{since: now}
	}
	t.mu.Unlock()
	var errs []error
	for _, c := range due {
		errs = append(errs, t.write(ctx, c.event()))
	}
	return errors.Join(errs...)
}

// Count reads how many events a recorded event stands for (1 unless a
// Tally summed it), and their count per domain when it has them.
func Count(details map[string]any) (int, map[string]int) {
	n := 1
	if f, ok := details["count"].(float64); ok && f >= 1 {
		n = int(f)
	}
	m, ok := details["domains"].(map[string]any)
	if !ok || len(m) == 0 {
		return n, nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		if f, ok := v.(float64); ok && f >= 1 {
			out[k] = int(f)
		}
	}
	return n, out
}
