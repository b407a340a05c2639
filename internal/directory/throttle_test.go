package directory

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A check of an address that has failed waits while another address's
// check runs; another address's check never waits for it.
func TestChecksOfFailingAddressesGiveWay(t *testing.T) {
	o := newCheckOrder(func() time.Duration { return 0 })
	ctx := context.Background()
	clean, err := o.take(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func())
	go func() {
		r, err := o.take(ctx, true)
		if err != nil {
			panic(err)
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("a suspect check ran beside a clean one")
	case <-time.After(50 * time.Millisecond):
	}
	clean()
	var suspect func()
	select {
	case suspect = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the suspect check did not run once the clean one ended")
	}
	// A clean check starts at once beside a running suspect one; a second
	// suspect check waits, and gives up with its context.
	other, err := o.take(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := o.take(short, true); err == nil {
		t.Fatal("two suspect checks at once")
	}
	other()
	suspect()
}

// BenchmarkAddressGate is the cost the per-address count adds to every
// login, flood included: one admit and done, in memory.
//
//	go test -run '^$' -bench AddressGate ./internal/directory/
func BenchmarkAddressGate(b *testing.B) {
	g := newAddressGate(30, 15*time.Minute, 0, 1, 5)
	now := time.Now()
	i := 0
	for b.Loop() {
		a, refused := g.admit(fmt.Sprint("203.0.113.", i%200), now)
		if !refused {
			a.done(true)
		}
		i++
	}
}

// An address with no failures is never delayed, however small the bound.
func TestAnAddressWithoutFailuresIsNotDelayed(t *testing.T) {
	for _, maxFailures := range []int{1, 2, 3} {
		g := newAddressGate(maxFailures, time.Minute, time.Hour, 1, 1)
		for range 3 {
			a, refused := g.admit("192.0.2.1", time.Now())
			if refused {
				t.Fatalf("max %d: refused without failures", maxFailures)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			release, _, err := a.turn(ctx)
			cancel()
			if err != nil {
				t.Fatalf("max %d: delayed without failures: %v", maxFailures, err)
			}
			release()
			a.done(false)
		}
	}
}
