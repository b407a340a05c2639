package audit

import (
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
// never be mistaken for a hash of anything else.
const chainDomain = "diwan-audit-v1"

// chainHash is the hash of one linked event, as lower-case hex SHA-256.
//
// The hashed bytes are the fields below, in this order, each written as its
// length in bytes (8-byte big-endian) followed by the bytes, so that no two
// different events encode the same:
//
//	"diwan-audit-v1", seq (decimal), prev_hash (hex), id (decimal),
//	created_at (RFC 3339 with nanoseconds, UTC, microsecond precision),
//	actor, action, target, details (the stored canonical JSON text).
//
// Tools outside Diwan may rely on this encoding to check the chain.
func chainHash(seq int64, prevHash string, r *eventRow) string {
	h := sha256.New()
	writeField(h, chainDomain)
	writeField(h, strconv.FormatInt(seq, 10))
	writeField(h, prevHash)
	writeField(h, strconv.FormatInt(r.ID, 10))
	writeField(h, canonicalTime(r.CreatedAt))
	writeField(h, r.Actor)
	writeField(h, r.Action)
	writeField(h, r.Target)
	writeField(h, r.Details)
	return hex.EncodeToString(h.Sum(nil))
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
