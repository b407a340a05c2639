package policy_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/net/idna"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const actor = "cli:root"

var cheapParams = &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	d     *db.DB
	dir   *directory.Service
	pol   *policy.Service
	clock *clock
	ctx   context.Context
}

// newEnv hosts mof.gov.sy and the Arabic وزارة.sy, with the national suffix
// gov.sy configured.
func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	e := &env{d: d, clock: &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, ctx: context.Background()}
	e.dir = directory.New(d, directory.Options{HashParams: cheapParams})
	if _, err := e.dir.AddMinistry(e.ctx, actor, directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Finance"}); err != nil {
		t.Fatal(err)
	}
	for _, dom := range []string{"mof.gov.sy", "وزارة.sy"} {
		if _, err := e.dir.AddDomain(e.ctx, actor, dom, "MOF"); err != nil {
			t.Fatal(err)
		}
	}
	e.pol = e.newPolicy(t, d)
	return e
}

func (e *env) newPolicy(t *testing.T, d *db.DB) *policy.Service {
	t.Helper()
	p, err := policy.New(d, policy.Options{NationalSuffixes: []string{"gov.sy"}, Hosted: e.dir, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) decide(t *testing.T, dir policy.Direction, s string) policy.Decision {
	t.Helper()
	dec, err := e.pol.Decide(e.ctx, dir, s)
	if err != nil {
		t.Fatalf("Decide(%q): %v", s, err)
	}
	return dec
}

func ace(t *testing.T, s string) string {
	t.Helper()
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDecideTable pins the policy of DESIGN.md §4 on named cases: the
// look-alikes of the issue, IDN in both forms, case, trailing dot, deny
// over allow, hosted over missing rules, suffix against exact.
func TestDecideTable(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, db.SQLite))
	for _, r := range []struct{ action, pattern string }{
		{policy.Allow, "partner.example"},        // exact: partner.example only
		{policy.Allow, ".edu.sy"},                // suffix
		{policy.Deny, ".evil.gov.sy"},            // deny inside the national suffix
		{policy.Allow, "ok.evil.gov.sy"},         // an allow under a deny suffix: deny wins
		{policy.Deny, "leak.mof.gov.sy"},         // deny beats the suffix allow
		{policy.Allow, ace(t, "g\u043ev.sy")},    // gоv.sy (Cyrillic о), named exactly in its xn-- form
		{policy.Allow, ".xn--mxa.example"},       // suffix rule on a Greek label
		{policy.Allow, "MIXED.Example."},         // stored canonical
		{policy.Allow, "وزارة.partner.example"},  // exact Arabic
		{policy.Allow, ".\u0441ity.example"},     // suffix rule on a mixed label: not named exactly
		{policy.Deny, "mof.gov.sy.example.com"},  // harmless: never national anyway
		{policy.Allow, "sub.partner.example.sy"}, // exact on a subdomain only
	} {
		var err error
		if r.action == policy.Allow {
			_, err = e.pol.Allow(e.ctx, actor, r.pattern, "test")
		} else {
			_, err = e.pol.Deny(e.ctx, actor, r.pattern, "test")
		}
		if err != nil {
			t.Fatalf("%s %s: %v", r.action, r.pattern, err)
		}
	}
	cyrillicGov := "g\u043ev.sy" // "gоv.sy", Cyrillic о
	cases := []struct {
		name, in string
		allow    bool
		rule     string
	}{
		{"suffix covers the domain itself", "gov.sy", true, "suffix:.gov.sy"},
		{"suffix covers a subdomain", "moct.gov.sy", true, "suffix:.gov.sy"},
		{"suffix covers a deep subdomain", "a.b.moct.gov.sy", true, "suffix:.gov.sy"},
		{"address form", "ali@moct.gov.sy", true, "suffix:.gov.sy"},
		{"upper case", "MOCT.GOV.SY", true, "suffix:.gov.sy"},
		{"trailing dot", "moct.gov.sy.", true, "suffix:.gov.sy"},
		{"hosted over missing rules", "mof.gov.sy", true, "hosted:mof.gov.sy"},
		{"hosted Arabic IDN, Unicode", "وزارة.sy", true, "hosted:وزارة.sy"},
		{"hosted Arabic IDN, xn-- form", ace(t, "وزارة.sy"), true, "hosted:وزارة.sy"},
		{"hosted Arabic IDN, xn-- upper case", strings.ToUpper(ace(t, "وزارة.sy")), true, "hosted:وزارة.sy"},
		{"Arabic label beside Latin labels", "وزارة.gov.sy", true, "suffix:.gov.sy"},
		{"Arabic label beside Latin labels, xn-- form", ace(t, "وزارة.gov.sy"), true, "suffix:.gov.sy"},
		{"look-alike: national domain as a prefix", "gov.sy.evil.test", false, "default"},
		{"look-alike: no dot before the suffix", "evilgov.sy", false, "default"},
		{"look-alike: hosted domain as a prefix", "mof.gov.sy.example.com", false, "deny:mof.gov.sy.example.com"},
		{"look-alike: Cyrillic о, named exactly", cyrillicGov, true, "allow:" + cyrillicGov},
		{"look-alike: Cyrillic о under the suffix", "moct." + cyrillicGov, false, "mixed-script"},
		{"look-alike: Cyrillic о in a subdomain label", "m\u043ef.gov.sy", false, "mixed-script"},
		{"look-alike: Cyrillic о, xn-- form", ace(t, "m\u043ef.gov.sy"), false, "mixed-script"},
		{"mixed label under a suffix rule on that label", "x.\u0441ity.example", false, "mixed-script"},
		{"Greek label under its suffix rule", "a.\u03b1.example", true, "allow:.α.example"},
		{"Latin and Arabic in one label (the IDNA Bidi rule refuses it first)", "mofوزارة.gov.sy", false, "invalid"},
		{"Latin and Greek in one label", "m\u03bff.gov.sy", false, "mixed-script"},
		{"Japanese scripts in one label are one", "\u65e5\u672c\u3054.gov.sy", true, "suffix:.gov.sy"},
		{"exact rule", "partner.example", true, "allow:partner.example"},
		{"exact rule is not a suffix", "sub.partner.example", false, "default"},
		{"exact rule on a subdomain is not its parent", "partner.example.sy", false, "default"},
		{"exact rule stored canonical", "mixed.example", true, "allow:mixed.example"},
		{"exact Arabic rule", "وزارة.partner.example", true, "allow:وزارة.partner.example"},
		{"suffix rule", "damascus.edu.sy", true, "allow:.edu.sy"},
		{"suffix rule covers its domain", "edu.sy", true, "allow:.edu.sy"},
		{"deny over allow: suffix deny inside suffix", "x.evil.gov.sy", false, "deny:.evil.gov.sy"},
		{"deny over allow: exact allow under deny suffix", "ok.evil.gov.sy", false, "deny:.evil.gov.sy"},
		{"deny over suffix allow", "leak.mof.gov.sy", false, "deny:leak.mof.gov.sy"},
		{"deny is exact", "other.mof.gov.sy", true, "suffix:.gov.sy"},
		{"foreign domain", "gmail.com", false, "default"},
		{"foreign address", "victim@gmail.com", false, "default"},
		{"single label", "localhost", false, "invalid"},
		{"IP literal", "[127.0.0.1]", false, "invalid"},
		{"invalid UTF-8", "gov\xff.sy", false, "invalid"},
		{"empty", "", false, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := e.decide(t, policy.Outbound, c.in)
			if dec.Allow != c.allow || dec.Rule != c.rule {
				t.Fatalf("Decide(%q) = allow %v by %q, want allow %v by %q", c.in, dec.Allow, dec.Rule, c.allow, c.rule)
			}
			switch {
			case dec.Allow && (dec.Code != 250 || dec.Enhanced != "2.1.5"):
				t.Fatalf("allowed with reply %d %s", dec.Code, dec.Enhanced)
			case !dec.Allow && c.rule == "invalid" && (dec.Code != 553 || dec.Enhanced != "5.1.3"):
				t.Fatalf("invalid with reply %d %s", dec.Code, dec.Enhanced)
			case !dec.Allow && c.rule != "invalid" && (dec.Code != 550 || dec.Enhanced != "5.7.1"):
				t.Fatalf("refused with reply %d %s", dec.Code, dec.Enhanced)
			}
		})
	}
}

func TestDecideRepliesNameTheDomainInASCII(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, db.SQLite))
	dec := e.decide(t, policy.Outbound, "ali@GMAIL.com")
	if want := "Delivery to gmail.com is not permitted by the national mail policy"; dec.Message != want {
		t.Fatalf("outbound message %q, want %q", dec.Message, want)
	}
	dec = e.decide(t, policy.Inbound, "x@m\u043ef.gov.sy")
	if want := "Mail from " + ace(t, "m\u043ef.gov.sy") + " is not accepted by the national mail policy"; dec.Message != want {
		t.Fatalf("inbound message %q, want %q", dec.Message, want)
	}
	if dec.Domain != "m\u043ef.gov.sy" {
		t.Fatalf("Domain = %q, want the canonical Unicode form", dec.Domain)
	}
	dec = e.decide(t, policy.Inbound, "x@bad..sy")
	if dec.Code != 553 || dec.Enhanced != "5.1.7" {
		t.Fatalf("invalid sender domain: %d %s", dec.Code, dec.Enhanced)
	}
	dec = e.decide(t, policy.Inbound, "moct.gov.sy")
	if !dec.Allow || dec.Enhanced != "2.1.0" {
		t.Fatalf("national sender: %+v", dec)
	}
}

func TestMixedScript(t *testing.T) {
	for label, want := range map[string]bool{
		"gov":                false,
		"g\u043ev":           true,  // Latin + Cyrillic
		"\u0433\u043e\u0432": false, // all Cyrillic
		"وزارة":              false,
		"وزارة1-2":           false, // digits and hyphen belong to any script
		"moفf":               true,
		"\u03b1\u03b2":       false, // Greek
		"a\u03b1":            true,  // Latin + Greek
		"日本ご":                false, // Han + Hiragana
		"ab日本":               false, // Latin + Han
		"한국日":                false, // Hangul + Han
		"\u0531\u10d0":       true,  // Armenian + Georgian
		"\u1780\u0e01":       true,  // Khmer + Thai (Khmer not listed first)
		"\u1780\u1781":       false, // Khmer only
		"\u1780\u1820":       true,  // Khmer + Mongolian: two unlisted scripts
		"é":                  false, // Latin with a diacritic
	} {
		if got := policy.MixedScript(label); got != want {
			t.Errorf("MixedScript(%q) = %v, want %v", label, got, want)
		}
	}
}

func TestRulesAreCanonicalAuditedAndReplaced(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		r, err := e.pol.Allow(e.ctx, actor, " .EDU.SY. ", " universities ")
		if err != nil {
			t.Fatal(err)
		}
		if r.Pattern != ".edu.sy" || r.Note != "universities" || !r.Suffix() || r.CreatedBy != actor {
			t.Fatalf("Allow = %+v", r)
		}
		if !e.decide(t, policy.Outbound, "x.edu.sy").Allow {
			t.Fatal("allow rule not applied at once in the process that made it")
		}
		if _, err := e.pol.Deny(e.ctx, actor, ".edu.sy", "closed"); err != nil {
			t.Fatal(err)
		}
		if dec := e.decide(t, policy.Outbound, "x.edu.sy"); dec.Allow || dec.Rule != "deny:.edu.sy" {
			t.Fatalf("after deny: %+v", dec)
		}
		rules, err := e.pol.Rules(e.ctx)
		if err != nil || len(rules) != 1 || rules[0].Action != policy.Deny || rules[0].Note != "closed" {
			t.Fatalf("Rules = %+v, %v; want the deny replacing the allow", rules, err)
		}
		if err := e.pol.Remove(e.ctx, actor, ".Edu.Sy"); err != nil {
			t.Fatal(err)
		}
		if err := e.pol.Remove(e.ctx, actor, ".edu.sy"); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("second Remove = %v, want ErrNotFound", err)
		}
		if dec := e.decide(t, policy.Outbound, "x.edu.sy"); dec.Allow || dec.Rule != "default" {
			t.Fatalf("after remove: %+v", dec)
		}
		for _, bad := range []string{"", ".", "..gov.sy", "sy", "[::1]", "gov sy", "*.gov.sy", "gov_x.sy"} {
			_, err := e.pol.Allow(e.ctx, actor, bad, "")
			var ie *directory.InputError
			if !errors.As(err, &ie) || ie.Field != "pattern" {
				t.Errorf("Allow(%q) = %v, want an InputError for pattern", bad, err)
			}
		}
		var ie *directory.InputError
		if _, err := e.pol.Allow(e.ctx, actor, "x.sy", "a\x00b"); !errors.As(err, &ie) || ie.Field != "note" {
			t.Errorf("control character in note: %v", err)
		}
		log := audit.New(d, nil)
		for action, n := range map[string]int{"policy.allow": 1, "policy.deny": 1, "policy.remove": 1} {
			recs, err := log.List(e.ctx, audit.Filter{Action: action, TargetPrefix: "policy:.edu.sy"})
			if err != nil || len(recs) != n || recs[0].Actor != actor {
				t.Errorf("%s events: %+v, %v; want %d by %s", action, recs, err, n, actor)
			}
		}
		recs, _ := log.List(e.ctx, audit.Filter{Action: "policy.deny"})
		if recs[0].Details["previous"] != "allow" {
			t.Errorf("deny event details %v, want previous allow", recs[0].Details)
		}
	})
}

// TestRuleChangeAppliesInAnotherProcess: two services on two connections
// to one database (as two nodes have), the rule set on one decides on the
// other within the refresh interval (BenchmarkRuleChangeInAnotherProcess
// measures how soon).
func TestRuleChangeAppliesInAnotherProcess(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			var dsn string
			if driver == db.Postgres {
				dsn = testenv.Postgres(t)
			} else {
				dsn = t.TempDir() + "/diwan.db"
			}
			open := func() *db.DB {
				d, err := db.Open(context.Background(), db.Options{Driver: driver, DSN: dsn})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return d
			}
			d1 := open()
			if _, err := d1.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			d2 := open()
			ctx := context.Background()
			p1, err := policy.New(d1, policy.Options{NationalSuffixes: []string{"gov.sy"}})
			if err != nil {
				t.Fatal(err)
			}
			p2, err := policy.New(d2, policy.Options{NationalSuffixes: []string{"gov.sy"}})
			if err != nil {
				t.Fatal(err)
			}
			decide := func(p *policy.Service, s string) bool {
				dec, err := p.Decide(ctx, policy.Outbound, s)
				if err != nil {
					t.Fatal(err)
				}
				return dec.Allow
			}
			if decide(p2, "partner.example") || !decide(p2, "x.gov.sy") {
				t.Fatal("unexpected starting decisions")
			}
			start := time.Now()
			if _, err := p1.Allow(ctx, actor, "partner.example", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := p1.Deny(ctx, actor, "x.gov.sy", ""); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, func() bool { return decide(p2, "partner.example") && !decide(p2, "x.gov.sy") })
			t.Logf("%s: applied in the other process after %v", driver, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestRefreshChecksTheVersionOncePerInterval: a rule another process set
// applies here once the refresh interval (a quarter of a second) has
// passed, not before; a newly hosted domain within five seconds.
func TestRefreshChecksTheVersionOncePerInterval(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, db.SQLite))
	other := e.newPolicy(t, e.d) // a second process's view, same clock
	if e.decide(t, policy.Outbound, "partner.example").Allow {
		t.Fatal("allowed before any rule")
	}
	if _, err := other.Allow(e.ctx, actor, "partner.example", ""); err != nil {
		t.Fatal(err)
	}
	if e.decide(t, policy.Outbound, "partner.example").Allow {
		t.Fatal("applied before the refresh interval passed (the snapshot should be in use)")
	}
	e.clock.Advance(policy.DefaultRefreshInterval / 2)
	if e.decide(t, policy.Outbound, "partner.example").Allow {
		t.Fatal("applied within the refresh interval (the snapshot should be in use)")
	}
	e.clock.Advance(policy.DefaultRefreshInterval/2 + time.Millisecond)
	if !e.decide(t, policy.Outbound, "partner.example").Allow {
		t.Fatal("not applied after the refresh interval")
	}
	if policy.DefaultRefreshInterval > 250*time.Millisecond {
		t.Fatalf("DefaultRefreshInterval %v: a change must apply in another process within a second, loads and all", policy.DefaultRefreshInterval)
	}
	// A newly hosted domain is national within five seconds.
	if _, err := e.dir.AddDomain(e.ctx, actor, "new.example", "MOF"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Second)
	if dec := e.decide(t, policy.Outbound, "new.example"); !dec.Allow || dec.Rule != "hosted:new.example" {
		t.Fatalf("newly hosted domain: %+v", dec)
	}
}

func TestNationalSuffixesAreValidated(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	if _, err := policy.New(d, policy.Options{NationalSuffixes: []string{"gov..sy"}}); err == nil || !strings.Contains(err.Error(), "policy.national_suffixes") {
		t.Fatalf("New with a bad suffix = %v, want an error naming policy.national_suffixes", err)
	}
	p, err := policy.New(d, policy.Options{NationalSuffixes: []string{".GOV.SY", "edu.sy"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.NationalSuffixes(), ","); got != ".edu.sy,.gov.sy" {
		t.Fatalf("NationalSuffixes = %s", got)
	}
}

func TestViolationsSummarisePerUserAndDomain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		rec := func(r policy.Refusal) {
			t.Helper()
			if err := e.pol.RecordRefusal(e.ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			rec(policy.Refusal{Reason: policy.ReasonPolicy, Rule: "default", Listener: "submission", User: "ali@mof.gov.sy",
				Client: "192.0.2.1", From: "ali@mof.gov.sy", To: "x@gmail.com", Domain: "gmail.com"})
		}
		rec(policy.Refusal{Reason: policy.ReasonSpoofing, Rule: "spoofing:envelope", Listener: "submission", User: "ali@mof.gov.sy",
			Client: "192.0.2.1", From: "boss@mof.gov.sy", Domain: "mof.gov.sy"})
		rec(policy.Refusal{Reason: policy.ReasonRelay, Rule: "relay:not-hosted", Listener: "inbound",
			Client: "203.0.113.9", From: "a@moct.gov.sy", To: "victim@gmail.com", Domain: "gmail.com"})
		// Refused SMTP logins, as the directory records them: a wrong
		// password, then three refusals of the throttled address, summed
		// into events with their count.
		dir := directory.New(d, directory.Options{HashParams: cheapParams, AddressMaxFailures: 1, ThrottleDelay: -1})
		login := directory.WithClient(e.ctx, "smtp:203.0.113.9")
		for range 4 {
			if _, err := dir.Authenticate(login, "nobody@mof.gov.sy", "wrong password"); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Fatal(err)
			}
		}
		if err := e.pol.FlushRefusals(e.ctx); err != nil {
			t.Fatal(err)
		}
		if err := dir.FlushRefusals(e.ctx); err != nil {
			t.Fatal(err)
		}
		v, err := policy.Summarize(e.ctx, audit.New(d, nil), time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if v.Total != 9 || v.Truncated {
			t.Fatalf("Total = %d (truncated %v), want 9", v.Total, v.Truncated)
		}
		want := map[string]map[string]int{
			"ali@mof.gov.sy":   {policy.ReasonPolicy: 3, policy.ReasonSpoofing: 1},
			"smtp:203.0.113.9": {policy.ReasonRelay: 1, policy.ReasonAuth: 4},
		}
		if len(v.ByUser) != 2 || v.ByUser[0].Key != "smtp:203.0.113.9" || v.ByUser[0].Total != 5 {
			t.Fatalf("ByUser = %+v", v.ByUser)
		}
		for _, c := range v.ByUser {
			for reason, n := range want[c.Key] {
				if c.ByReason[reason] != n {
					t.Errorf("%s %s = %d, want %d", c.Key, reason, c.ByReason[reason], n)
				}
			}
		}
		if len(v.ByDomain) != 2 || v.ByDomain[0].Key != "gmail.com" || v.ByDomain[0].Total != 4 ||
			v.ByDomain[1].Key != "mof.gov.sy" || v.ByDomain[1].Total != 2 {
			t.Fatalf("ByDomain = %+v", v.ByDomain)
		}
		recs, err := audit.New(d, nil).List(e.ctx, audit.Filter{Action: policy.ActionRefused, Actor: "smtp:203.0.113.9"})
		if err != nil || len(recs) != 1 || recs[0].Target != "domain:gmail.com" || recs[0].Details["to"] != "victim@gmail.com" ||
			recs[0].Details["rule"] != "relay:not-hosted" || recs[0].Details["client"] != "203.0.113.9" {
			t.Fatalf("relay refusal event: %+v, %v", recs, err)
		}
	})
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
