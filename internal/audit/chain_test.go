package audit

import (
	"testing"
	"time"
)

// The chain encoding is a contract for tools that check the log outside
// Diwan: this pins it. A change here needs a new chainDomain version.
func TestChainHashEncodingIsStable(t *testing.T) {
	r := &eventRow{
		ID:        42,
		CreatedAt: time.Date(2025, 3, 1, 9, 30, 0, 123456789, time.FixedZone("DAM", 3*3600)),
		Actor:     "cli:root",
		Action:    "domain.add",
		Target:    "domain:mof.gov.sy",
		Details:   `{"ministry":"mof"}`,
	}
	if got := canonicalTime(r.CreatedAt); got != "2025-03-01T06:30:00.123456Z" {
		t.Fatalf("canonical time = %s", got)
	}
	// The old plain SHA-256 chain, which Rekey checks once.
	if got, want := legacyChainHash(7, genesisHash, r), "432c5019cfe2170d823aae9d74715a4156b668b41e96fb0c828f02e9639d9aca"; got != want {
		t.Fatalf("legacyChainHash = %s, want %s", got, want)
	}
	key := []byte("test chain key")
	mac := "00112233445566778899aabbccddeeff.0123"
	r.RowMAC = &mac
	const want = "6c9a41e177b648b0e7b65ddc7f706e00335667c84a9b70c574f666526dde16cf"
	if got := chainHash(key, 7, genesisHash, r); got != want {
		t.Fatalf("chainHash = %s, want %s", got, want)
	}
	if chainHash([]byte("another key"), 7, genesisHash, r) == want {
		t.Fatal("the chain hash does not depend on the key")
	}
	// Moving bytes between adjacent fields must change the hash.
	moved := *r
	moved.Actor, moved.Action = "cli:rootd", "omain.add"
	if chainHash(key, 7, genesisHash, &moved) == chainHash(key, 7, genesisHash, r) {
		t.Fatal("fields are not delimited: moving a byte between them keeps the hash")
	}
}

func TestCanonicalDetailsSortsKeysAtEveryLevel(t *testing.T) {
	type inner struct {
		Z int `json:"z"`
		A int `json:"a"`
	}
	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{nil, "{}"},
		{map[string]any{}, "{}"},
		{map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1}`},
		{map[string]any{"n": inner{Z: 1, A: 2}}, `{"n":{"a":2,"z":1}}`},
		{map[string]any{"big": int64(1) << 60}, `{"big":1152921504606846976}`},
	} {
		got, err := canonicalDetails(c.in)
		if err != nil || got != c.want {
			t.Errorf("canonicalDetails(%v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := canonicalDetails(map[string]any{"c": make(chan int)}); err == nil {
		t.Error("a channel was encoded")
	}
}
