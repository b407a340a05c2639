package smtp

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter bounds the mail transactions each client starts (the user
// on submission, the connecting address on inbound): a token bucket per
// client refilled at perMinute a minute, holding up to a sixth of that (ten
// seconds' worth, at least one). Buckets idle for ten minutes are dropped.
// The count is per process; several nodes each allow the rate.
type rateLimiter struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	clients   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

const idleBucket = 10 * time.Minute

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{limit: rate.Limit(float64(perMinute) / 60), burst: max(1, perMinute/6),
		clients: map[string]*bucket{}, lastSweep: time.Now()}
}

// allow takes a token for the client ("user:ID", "ip:ADDRESS"), or
// reports that there is none.
func (l *rateLimiter) allow(client string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > idleBucket {
		for k, b := range l.clients {
			if now.Sub(b.used) > idleBucket {
				delete(l.clients, k)
			}
		}
		l.lastSweep = now
	}
	b := l.clients[client]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[client] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}
