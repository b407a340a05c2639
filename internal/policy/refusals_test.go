package policy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/policy"
)

// refusedEvents returns the policy.refused events, newest first.
func refusedEvents(t *testing.T, d *db.DB) []audit.Record {
	t.Helper()
	recs, err := audit.New(d, nil).List(context.Background(), audit.Filter{Action: policy.ActionRefused, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func eventCount(r audit.Record) int {
	f, _ := r.Details["count"].(float64)
	return int(f)
}

// TestRefusalsFromOneClientAreCountedPerMinute: a client refused
// thousands of times costs the audit log one event when it starts and one
// a minute after, each with the count of the refusals it stands for; other
// clients and other reasons have events of their own, and the counts add
// up to every refusal.
func TestRefusalsFromOneClientAreCountedPerMinute(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		rec := func(client, reason, domain string) {
			t.Helper()
			r := policy.Refusal{Reason: reason, Rule: "default", Listener: "inbound", Client: client,
				From: "a@" + domain, Domain: domain}
			if err := e.pol.RecordRefusal(e.ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3000 {
			rec("203.0.113.9", policy.ReasonPolicy, fmt.Sprintf("d%d.example", i%30))
		}
		recs := refusedEvents(t, d)
		if len(recs) != 1 || eventCount(recs[0]) != 1 || recs[0].Details["domain"] != "d0.example" {
			t.Fatalf("after 3000 refusals in the first minute: %+v", recs)
		}
		// Another reason, another client: their own first events.
		rec("203.0.113.9", policy.ReasonRelay, "gmail.com")
		rec("198.51.100.7", policy.ReasonPolicy, "gmail.com")
		if n := len(refusedEvents(t, d)); n != 3 {
			t.Fatalf("%d events, want 3", n)
		}
		// The minute ends: the next refusal writes the count of the window.
		e.clock.Advance(policy.RefusalWindow)
		rec("203.0.113.9", policy.ReasonPolicy, "d0.example")
		recs = refusedEvents(t, d)
		if len(recs) != 4 || eventCount(recs[0]) != 3000 || recs[0].Details["first_at"] == nil {
			t.Fatalf("the second event: %+v", recs[0])
		}
		if doms, _ := recs[0].Details["domains"].(map[string]any); len(doms) != 21 || doms["other"] != float64(1000) {
			t.Fatalf("domains of the second event: %v", recs[0].Details["domains"])
		}
		for range 10 {
			rec("203.0.113.9", policy.ReasonPolicy, "d1.example")
		}
		if err := e.pol.FlushRefusals(e.ctx); err != nil {
			t.Fatal(err)
		}
		recs = refusedEvents(t, d)
		if len(recs) != 5 || eventCount(recs[0]) != 10 {
			t.Fatalf("after the flush: %+v", recs[0])
		}
		v, err := policy.Summarize(e.ctx, audit.New(d, nil), time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if v.Total != 3013 {
			t.Fatalf("Summarize total %d, want 3013", v.Total)
		}
		if len(v.ByUser) != 2 || v.ByUser[0].Key != "smtp:203.0.113.9" || v.ByUser[0].ByReason[policy.ReasonPolicy] != 3011 {
			t.Fatalf("ByUser = %+v", v.ByUser)
		}
		for _, c := range v.ByDomain {
			if c.Key == "d1.example" && c.Total != 110 {
				t.Fatalf("d1.example counted %d, want 110", c.Total)
			}
		}
	})
}

// TestRefusalCountsAreWrittenWhenTheServerStops: what RunRefusals still
// counts when its context ends is written before it returns.
func TestRefusalCountsAreWrittenWhenTheServerStops(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	e := newEnv(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.pol.RunRefusals(ctx); close(done) }()
	for range 7 {
		if err := e.pol.RecordRefusal(e.ctx, policy.Refusal{Reason: policy.ReasonRelay, Rule: "relay:not-hosted",
			Listener: "inbound", Client: "203.0.113.9", To: "x@gmail.com", Domain: "gmail.com"}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunRefusals did not return")
	}
	total := 0
	for _, r := range refusedEvents(t, d) {
		total += eventCount(r)
	}
	if total != 7 {
		t.Fatalf("events count %d refusals, want 7", total)
	}
}
