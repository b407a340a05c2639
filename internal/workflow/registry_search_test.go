package workflow_test

import (
	"fmt"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// The Arabic spelling variants are one letter to the search: أ إ آ ٱ and
// ا; ة and ه; ى and ي; harakat and tatweel are not letters; case and
// punctuation do not count.
func TestFoldSearchMakesArabicSpellingVariantsAlike(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"وزارة الإسكان", "وزاره الاسكان"},
		{"أحمد", "احمد"},
		{"آمال", "امال"},
		{"ٱلمكتب", "المكتب"},
		{"مستشفى", "مستشفي"},
		{"مستشفی", "مستشفي"},
		{"کتاب", "كتاب"},
		{"وَزَارَةُ", "وزاره"},
		{"وزارـــة", "وزاره"},
		{"Ministry of  Housing!", "ministry of housing"},
		{"MOCT-HQ", "moct hq"},
		{"ديوان ٢", "ديوان 2"},
	} {
		if fa, fb := workflow.FoldSearch(c.a), workflow.FoldSearch(c.b); fa != fb {
			t.Errorf("fold(%q) = %q, fold(%q) = %q; want them alike", c.a, fa, c.b, fb)
		}
	}
}

func TestSearchRegistriesByCodeAndArabicOrEnglishName(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		op := workflow.OperatorActor(operator)
		_, err := f.wf.AddRegistry(f.ctx, op, workflow.Registry{Code: "MOH-HSG", Ministry: "MOF", NameAR: "وزارة الإسكان",
			NameEN: "Ministry of Housing", Address: "housing@mof.gov.sy"})
		f.must(err)
		codes := func(q string) []string {
			t.Helper()
			rs, err := f.wf.SearchRegistries(f.ctx, q, 0)
			f.must(err)
			out := make([]string, len(rs))
			for i, r := range rs {
				out[i] = r.Code
			}
			return out
		}
		want := func(q string, codes []string, want ...string) {
			t.Helper()
			if len(codes) != len(want) {
				t.Fatalf("search %q = %v, want %v", q, codes, want)
			}
			for i := range want {
				if codes[i] != want[i] {
					t.Fatalf("search %q = %v, want %v", q, codes, want)
				}
			}
		}
		for _, q := range []string{"وزاره الاسكان", "وزارة الإسكان", "الاسكان", "housing", "HOUSING ministry", "moh-hsg", "hsg"} {
			want(q, codes(q), "MOH-HSG")
		}
		want("", codes(""))
		want("   ", codes("   "))
		want("nothing like it", codes("nothing like it"))
		// A code that starts with what is typed comes first.
		want("mo", codes("mo"), "MOCT", "MOCT2", "MOF", "MOH-HSG")
		want("mof", codes("mof"), "MOF")
		want("ديوان", codes("ديوان"), "MOCT", "MOCT2", "MOF")
		rs, err := f.wf.SearchRegistries(f.ctx, "mo", 2)
		f.must(err)
		if len(rs) != 2 || rs[0].Ministry != "MOCT" || rs[0].NameEN != "MOCT registry" {
			t.Fatalf("search with a limit of 2: %+v", rs)
		}

		// Another process renames and adds registries: the search sees it
		// at once (registry_state's version moved).
		other := f.service(d) // its own memory, as another process has
		name := "ديوان الأشغال العامة"
		_, err = other.UpdateRegistry(f.ctx, op, "MOCT2", workflow.RegistryUpdate{NameAR: &name})
		f.must(err)
		want("الاشغال", codes("الاشغال"), "MOCT2")
		_, err = other.AddRegistry(f.ctx, op, workflow.Registry{Code: "MOCT3", Ministry: "MOCT", NameAR: "ديوان المعلوماتية",
			NameEN: "IT registry", Address: "it-diwan@moct.gov.sy"})
		f.must(err)
		want("المعلوماتيه", codes("المعلوماتيه"), "MOCT3")
	})
}

// BenchmarkSearchRegistries measures one search of the recipient picker
// among 1,000 registries (the index kept: one small read of the versions
// and a scan in memory).
//
//	go test -run '^$' -bench SearchRegistries ./internal/workflow/
func BenchmarkSearchRegistries(b *testing.B) {
	for _, driver := range []string{db.SQLite, db.Postgres} {
		b.Run(driver, func(b *testing.B) {
			f := newFixture(b, dbtest.Open(b, driver), fixtureOptions{})
			op := workflow.OperatorActor(operator)
			for i := range 1000 {
				_, err := f.wf.AddRegistry(f.ctx, op, workflow.Registry{Code: fmt.Sprintf("R%04d", i), Ministry: "MOCT",
					NameAR: fmt.Sprintf("مديرية الإسكان رقم %d", i), NameEN: fmt.Sprintf("Housing directorate %d", i),
					Address: fmt.Sprintf("r%d@moct.gov.sy", i)})
				f.must(err)
			}
			b.ResetTimer()
			for b.Loop() {
				rs, err := f.wf.SearchRegistries(f.ctx, "مديريه الاسكان 99", 20)
				if err != nil || len(rs) == 0 {
					b.Fatal(len(rs), err)
				}
			}
		})
	}
}
