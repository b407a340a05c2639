package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// rowDomain opens every sealed record.
const rowDomain = "diwan-audit-row-v1"

// seal is the row_mac of one row: "NONCE.TAG", or "NONCE.TAG.FIELD" when
// the details field FIELD is open (PrepareOpen). TAG is the lower-case hex
// HMAC-SHA256, under the "audit row" key, of these fields, each written as
// its length (8-byte big-endian) and its bytes:
//
//	"diwan-audit-row-v1", NONCE (32 hex digits, random), FIELD ("" when
//	none), created_at (as in the chain), actor, action, target, details
//	(the stored canonical JSON; with FIELD's value null when open).
//
// The id is not sealed (the writer does not know it before the insert);
// the random nonce makes every seal unique, and the unique index on
// row_mac refuses a copy of a sealed row.
func seal(key []byte, nonce, open string, createdAt time.Time, actor, action, target, details string) string {
	h := hmac.New(sha256.New, key)
	writeField(h, rowDomain)
	writeField(h, nonce)
	writeField(h, open)
	writeField(h, canonicalTime(createdAt))
	writeField(h, actor)
	writeField(h, action)
	writeField(h, target)
	writeField(h, details)
	mac := nonce + "." + hex.EncodeToString(h.Sum(nil))
	if open != "" {
		mac += "." + open
	}
	return mac
}

// checkSeal reports why r's seal is not one this server made under key, or
// nil when it is.
func checkSeal(key []byte, r *eventRow) error {
	if r.RowMAC == nil || *r.RowMAC == "" {
		return errors.New("it carries no seal: not written by this server")
	}
	parts := strings.SplitN(*r.RowMAC, ".", 3)
	if len(parts) < 2 || len(parts[0]) != 32 {
		return errors.New("its seal is malformed: not written by this server")
	}
	nonce, open := parts[0], ""
	details := r.Details
	if len(parts) == 3 {
		open = parts[2]
		var err error
		if details, err = closeField(r.Details, open); err != nil {
			return errors.New("its seal does not match its content: changed, or not written by this server")
		}
	}
	want := seal(key, nonce, open, r.CreatedAt, r.Actor, r.Action, r.Target, details)
	if !hmac.Equal([]byte(want), []byte(*r.RowMAC)) {
		return errors.New("its seal does not match its content: changed, or not written by this server")
	}
	return nil
}

// closeField returns the canonical details with the top-level field open
// set to null, as PrepareOpen sealed them.
func closeField(details, open string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(details))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return "", err
	}
	if _, ok := d[open]; !ok {
		return "", errors.New("open field missing")
	}
	d[open] = nil
	return canonicalDetails(d)
}

// newNonce is the random part of a seal: 16 bytes as 32 hex digits.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
