package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/mailauth"
)

// domainDKIMCmd is `diwan admin domain dkim DOMAIN [--ed25519] [--rotate]`:
// the domain's DKIM keys, generated on first use, printed as the DNS TXT
// records to publish (zone file lines, each key's state in a comment line
// above it). --ed25519 adds an Ed25519 key beside the RSA one (RFC 8463);
// --rotate replaces the active keys, the old ones staying published until
// dkim.rotation_overlap has passed.
func domainDKIMCmd() *cobra.Command {
	var ed25519, rotate bool
	c := &cobra.Command{
		Use:   "dkim DOMAIN [--ed25519] [--rotate]",
		Short: "generate or show a hosted domain's DKIM keys and print their DNS TXT records",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				keys := app.DKIMKeys(e)
				var recs []mailauth.Record
				var err error
				if rotate {
					if recs, err = keys.RotateBy(ctx, actor, args[0]); err != nil {
						return err
					}
				}
				if !rotate || ed25519 {
					if recs, err = keys.EnsureBy(ctx, actor, args[0], ed25519); err != nil {
						return err
					}
				}
				printRecords(cmd.OutOrStdout(), recs)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&ed25519, "ed25519", false, "also sign with an Ed25519 key (RFC 8463), generated if the domain has none")
	c.Flags().BoolVar(&rotate, "rotate", false, "replace the active keys; the old ones stay valid for dkim.rotation_overlap")
	return c
}

// printRecords writes each record as a zone file line after a comment
// line saying what it is:
//
//	; rsa-sha256, active: signs new mail
//	d20261206._domainkey.mof.gov.sy. IN TXT ("v=DKIM1; k=rsa; p=…" "…")
func printRecords(w io.Writer, recs []mailauth.Record) {
	for _, r := range recs {
		if r.Active {
			fmt.Fprintf(w, "; %s, active: signs new mail\n", r.Algorithm)
		} else {
			fmt.Fprintf(w, "; %s, retiring: keep it published until %s, then remove it\n",
				r.Algorithm, r.RetiresAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w, r.String())
	}
}
