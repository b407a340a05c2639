package resolver

import (
	"context"
	"slices"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/testenv"
)

func TestResolverAsksTheConfiguredServerAndFallsOverToTheNext(t *testing.T) {
	addr := testenv.DNS(t, testenv.Zone{
		"mx-host=moh.gov.sy,mail.moh.gov.sy,10",
		"address=/mail.moh.gov.sy/127.0.0.3",
		`txt-record=moh.gov.sy,"v=spf1 ip4:127.0.0.3 -all"`,
	})
	// The first server refuses connections: the resolver goes on to the next.
	r := New([]string{"127.0.0.1:1", addr})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mx, err := r.LookupMX(ctx, "moh.gov.sy")
	if err != nil || len(mx) != 1 || mx[0].Host != "mail.moh.gov.sy." || mx[0].Pref != 10 {
		t.Fatalf("MX moh.gov.sy = %v, %v; want mail.moh.gov.sy. 10", mx, err)
	}
	ips, err := r.LookupHost(ctx, "mail.moh.gov.sy")
	if err != nil || !slices.Contains(ips, "127.0.0.3") {
		t.Fatalf("A mail.moh.gov.sy = %v, %v", ips, err)
	}
	txt, err := r.LookupTXT(ctx, "moh.gov.sy")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:127.0.0.3 -all" {
		t.Fatalf("TXT moh.gov.sy = %q, %v", txt, err)
	}
	if _, err := r.LookupMX(ctx, "mof.gov.sy"); err == nil {
		t.Fatal("MX of a name the server does not know: no error")
	}
}
