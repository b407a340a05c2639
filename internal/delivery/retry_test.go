package delivery

import (
	"testing"
	"time"
)

// The retry schedule of delivery.retry_intervals: each attempt waits the
// next interval, the last one repeats, no wait runs past delivery.max_age,
// and what is still waiting at max_age fails with 4.4.7 (RFC 3463:
// delivery time expired).
func TestRetryScheduleFollowsIntervalsUntilMaxAge(t *testing.T) {
	e := &engine{o: Options{
		RetryIntervals: []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 2 * time.Hour},
		MaxAge:         72 * time.Hour,
	}}
	created := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		attemptsBefore int
		at             time.Duration // since created
		wantDelay      time.Duration
		wantState      string
	}{
		{0, 0, time.Minute, StatePending},
		{1, time.Minute, 5 * time.Minute, StatePending},
		{2, 6 * time.Minute, 15 * time.Minute, StatePending},
		{3, 21 * time.Minute, time.Hour, StatePending},
		{4, 81 * time.Minute, 2 * time.Hour, StatePending},
		{5, 201 * time.Minute, 2 * time.Hour, StatePending},
		{30, 71 * time.Hour, time.Hour, StatePending}, // cut at max_age
		{31, 72 * time.Hour, time.Second, StateFailed},
	} {
		rows := []relayRow{{CreatedAt: created, Attempts: c.attemptsBefore}}
		out := []fate{{state: StatePending, status: "4.3.0", reply: "451 4.3.0 busy"}}
		delay := e.settle(rows, out, created.Add(c.at))
		if out[0].state != c.wantState || (c.wantState == StatePending && delay != c.wantDelay) {
			t.Errorf("attempt %d at +%s: %s, next in %s; want %s, next in %s",
				c.attemptsBefore+1, c.at, out[0].state, delay, c.wantState, c.wantDelay)
		}
		if c.wantState == StateFailed && out[0].status != "4.4.7" {
			t.Errorf("given up with status %s, want 4.4.7", out[0].status)
		}
	}
}
