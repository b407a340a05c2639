package audit_test

import (
	"context"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
)

// legacyChain writes linked events as Diwan did before rows were sealed:
// no seal, plain SHA-256 hashes; and waiting ones.
func legacyChain(t *testing.T, d *db.DB, linked, waiting int) {
	t.Helper()
	var unsealed *audit.Sealer
	for _, e := range numbered(linked) {
		if err := unsealed.Append(context.Background(), d.Writer(), e); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, d, `UPDATE audit_events SET seq = id`)
	if err := audit.RelinkForTest(d, nil, 1); err != nil {
		t.Fatal(err)
	}
	for _, e := range numbered(waiting) {
		if err := unsealed.Append(context.Background(), d.Writer(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func rekey(t *testing.T, l *audit.Log) bool {
	t.Helper()
	done, err := l.Rekey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func TestRekeyBringsAnOldChainUnderTheMasterKeyOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		legacyChain(t, d, 10, 2)
		r := recordedLog(t, d)
		if !rekey(t, r.log) {
			t.Fatal("an old chain was not re-keyed")
		}
		// It linked the waiting events and audit.rekeyed, and recorded
		// the head, so that a verify right after it holds.
		if file, b := r.headSeqs(t); file != "13" || b != "13" {
			t.Fatalf("heads after re-keying: %s, %s", file, b)
		}
		if got := verify(t, r.open(testKey)).String(); got != "ok 13 events (0 waiting)" {
			t.Fatalf("verify = %s", got)
		}
		recs, err := r.log.List(context.Background(), audit.Filter{Action: audit.ActionRekeyed})
		if err != nil || len(recs) != 1 {
			t.Fatalf("rekeyed events: %v, %v", recs, err)
		}
		if d := recs[0].Details; d["legacy_verify"] != "ok 10 events (2 waiting)" || d["events"] != float64(12) || d["legacy_head_seq"] != float64(10) {
			t.Fatalf("audit.rekeyed details %v", d)
		}
		// Once only: a row without a seal written afterwards is refused,
		// not re-keyed, by this process and by the next.
		var unsealed *audit.Sealer
		if err := unsealed.Append(context.Background(), d.Writer(), numbered(1)[0]); err != nil {
			t.Fatal(err)
		}
		for _, l := range []*audit.Log{r.log, r.open(testKey)} {
			if rekey(t, l) {
				t.Fatal("re-keyed twice")
			}
		}
		if _, err := r.log.LinkPending(context.Background()); err == nil || !strings.Contains(err.Error(), "no seal") {
			t.Fatalf("link of an unsealed row after re-keying: %v", err)
		}
	})
}

func TestRekeyKeepsTheVerdictOfABrokenOldChain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		legacyChain(t, d, 5, 0)
		exec(t, d, `UPDATE audit_events SET actor = 'cli:mallory' WHERE id = 3`)
		r := recordedLog(t, d)
		if !rekey(t, r.log) {
			t.Fatal("not re-keyed")
		}
		link(t, r.log)
		recs, err := r.log.List(context.Background(), audit.Filter{Action: audit.ActionRekeyed})
		if err != nil || len(recs) != 1 {
			t.Fatalf("rekeyed events: %v, %v", recs, err)
		}
		if v, _ := recs[0].Details["legacy_verify"].(string); !strings.HasPrefix(v, "broken at event 3 (seq 3)") {
			t.Fatalf("legacy_verify = %q", v)
		}
	})
}

// Whoever replaces the whole log with rows of their own does not get them
// re-keyed while a head is recorded.
func TestRekeyDoesNothingOnceAHeadIsRecorded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := recordedLog(t, d)
		appendCommitted(t, d, numbered(3)...)
		link(t, r.log)
		exec(t, d, `DELETE FROM audit_events`)
		legacyChain(t, d, 3, 0)
		if rekey(t, r.open(testKey)) {
			t.Fatal("a replaced log was re-keyed")
		}
		if rep := verify(t, r.open(testKey)); rep.Broken == nil {
			t.Fatalf("verify of a replaced log = %s", rep)
		}
	})
}
