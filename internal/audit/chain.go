package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strconv"
	"time"
)

// genesisHash is the prev_hash of the first event in the chain (seq 1).
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// chainDomain opens every hashed record, so that a hash of this chain can
// never be mistaken for a hash of anything else. v1 was plain SHA-256
// (legacyChainHash); v2 is keyed.
const chainDomain = "diwan-audit-v2"

// chainHash is the hash of one linked event, as lower-case hex
// HMAC-SHA256 under the "audit chain" key (derived from the master key,
// never stored in the database): without the key nobody can compute the
// hashes that follow an event they changed.
//
// The hashed bytes are the fields below, in this order, each written as its
// length in bytes (8-byte big-endian) followed by the bytes, so that no two
// different events encode the same:
//
//	"diwan-audit-v2", seq (decimal), prev_hash (hex), id (decimal),
//	created_at (RFC 3339 with nanoseconds, UTC, microsecond precision),
//	actor, action, target, details (the stored canonical JSON text),
//	row_mac (the writer's seal, "" when none).
//
// Tools outside Diwan that hold the chain key may rely on this encoding to
// check the chain.
func chainHash(key []byte, seq int64, prevHash string, r *eventRow) string {
	h := hmac.New(sha256.New, key)
	writeField(h, chainDomain)
	writeEvent(h, seq, prevHash, r)
	mac := ""
	if r.RowMAC != nil {
		mac = *r.RowMAC
	}
	writeField(h, mac)
	return hex.EncodeToString(h.Sum(nil))
}

// legacyChainHash is the plain SHA-256 chain of databases written before
// the chain was keyed ("diwan-audit-v1", the same fields without row_mac).
// Rekey checks such a chain once before it re-keys it; nothing else
// accepts it.
func legacyChainHash(seq int64, prevHash string, r *eventRow) string {
	h := sha256.New()
	writeField(h, "diwan-audit-v1")
	writeEvent(h, seq, prevHash, r)
	return hex.EncodeToString(h.Sum(nil))
}

func writeEvent(h hash.Hash, seq int64, prevHash string, r *eventRow) {
	writeField(h, strconv.FormatInt(seq, 10))
	writeField(h, prevHash)
	writeField(h, strconv.FormatInt(r.ID, 10))
	writeField(h, canonicalTime(r.CreatedAt))
	writeField(h, r.Actor)
	writeField(h, r.Action)
	writeField(h, r.Target)
	writeField(h, r.Details)
}

func canonicalTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
