package directory

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedCache remembers recent successful password checks, as mail
// servers do (Dovecot's auth cache): mail clients log in again for every
// connection, often several at once and every few minutes, and each
// argon2id check costs HashParams.Memory and tens of milliseconds of CPU.
//
// An entry says "this password matched this stored hash": an HMAC-SHA-256
// of the stored hash and the password under a key made at start-up and
// never stored, so the cache holds nothing a password can be recovered
// from. A login whose password and stored hash give the same MAC within
// the TTL skips argon2id. Everything else about the login is checked as
// before from the row read at each login (disabled, locked), a changed
// password changes the stored hash and so misses, and a failed check is
// never cached: every wrong password costs the full check and counts
// towards the lockout. Only a correct password can hit, so the faster
// answer tells an attacker nothing.
type verifiedCache struct {
	ttl time.Duration
	key [32]byte

	mu sync.Mutex
	m  map[int64]verified // by user ID: the last password verified
}

type verified struct {
	mac   [sha256.Size]byte
	until time.Time
}

// maxVerified bounds the cache; beyond it expired entries are dropped and,
// if it is still full, new ones are not kept.
const maxVerified = 100_000

// newVerifiedCache returns a cache keeping entries for ttl; nil (no cache)
// when ttl <= 0.
func newVerifiedCache(ttl time.Duration) *verifiedCache {
	if ttl <= 0 {
		return nil
	}
	c := &verifiedCache{ttl: ttl, m: map[int64]verified{}}
	_, _ = rand.Read(c.key[:]) // never fails (crypto/rand panics instead)
	return c
}

func (c *verifiedCache) sum(hash, password string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// hit reports whether password was verified against hash for the user
// within the TTL.
func (c *verifiedCache) hit(userID int64, hash, password string, now time.Time) bool {
	if c == nil {
		return false
	}
	mac := c.sum(hash, password)
	c.mu.Lock()
	e, ok := c.m[userID]
	c.mu.Unlock()
	return ok && now.Before(e.until) && hmac.Equal(e.mac[:], mac[:])
}

// add records that password matched hash for the user.
func (c *verifiedCache) add(userID int64, hash, password string, now time.Time) {
	if c == nil {
		return
	}
	e := verified{mac: c.sum(hash, password), until: now.Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[userID]; !ok && len(c.m) >= maxVerified {
		for id, old := range c.m {
			if !now.Before(old.until) {
				delete(c.m, id)
			}
		}
		if len(c.m) >= maxVerified {
			return
		}
	}
	c.m[userID] = e
}
