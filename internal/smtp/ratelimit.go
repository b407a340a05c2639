package smtp

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter bounds the messages each user submits: a token bucket per
// user refilled at perMinute a minute, holding up to a sixth of that (ten
// seconds' worth, at least one). Buckets idle for ten minutes are dropped.
// The count is per process; several nodes each allow the rate.
type rateLimiter struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	users     map[int64]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

const idleBucket = 10 * time.Minute

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{limit: rate.Limit(float64(perMinute) / 60), burst: max(1, perMinute/6),
		users: map[int64]*bucket{}, lastSweep: time.Now()}
}

// allow takes a token for the user, or reports that there is none.
func (l *rateLimiter) allow(userID int64) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > idleBucket {
		for id, b := range l.users {
			if now.Sub(b.used) > idleBucket {
				delete(l.users, id)
			}
		}
		l.lastSweep = now
	}
	b := l.users[userID]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.users[userID] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}
