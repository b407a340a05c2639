package httpd

import (
	"sync"
	"time"

	"diwan.gov.sy/diwan/internal/workflow"
)

// uiCountersTTL is how long the navigation's counters of a user are kept.
const uiCountersTTL = 5 * time.Second

// uiCountersMax bounds how many users' counters are kept; past it the
// expired ones are dropped, and if none is, all of them.
const uiCountersMax = 10000

// uiCountersCache keeps each user's navigation counters (workflow.Counters)
// for uiCountersTTL: a clerk moving through the registers counts once every
// few seconds, not on every page. Counting over a book of a million
// entries was most of PostgreSQL's CPU of a register page (3.7 of 4.2 ms
// with 16 clients, BenchmarkRegistersPagePostgres). A user's own change
// through the UI drops their counters (forget), so what they did shows at
// once; what others do shows within the TTL. Its zero value is ready.
type uiCountersCache struct {
	mu sync.Mutex
	m  map[string]orgEntry[workflow.Counters]
}

// get is the user's counters while fresh, else what load counts (kept
// when there was no error).
func (k *uiCountersCache) get(login string, load func() (workflow.Counters, error)) (workflow.Counters, error) {
	now := time.Now()
	k.mu.Lock()
	e, ok := k.m[login]
	k.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]orgEntry[workflow.Counters]{}
	}
	if len(k.m) >= uiCountersMax {
		for l, e := range k.m {
			if !now.Before(e.expires) {
				delete(k.m, l)
			}
		}
		if len(k.m) >= uiCountersMax {
			clear(k.m)
		}
	}
	k.m[login] = orgEntry[workflow.Counters]{v: v, expires: now.Add(uiCountersTTL)}
	return v, nil
}

// forget drops the user's counters: they have just changed something.
func (k *uiCountersCache) forget(login string) {
	k.mu.Lock()
	delete(k.m, login)
	k.mu.Unlock()
}
