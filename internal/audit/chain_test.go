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
	const want = "432c5019cfe2170d823aae9d74715a4156b668b41e96fb0c828f02e9639d9aca"
	if got := chainHash(7, genesisHash, r); got != want {
		t.Fatalf("chainHash = %s, want %s", got, want)
	}
	// Moving bytes between adjacent fields must change the hash.
	moved := *r
	moved.Actor, moved.Action = "cli:rootd", "omain.add"
	if chainHash(7, genesisHash, &moved) == chainHash(7, genesisHash, r) {
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
