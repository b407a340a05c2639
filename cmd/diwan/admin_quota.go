package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
)

// userQuotaCmd is `diwan admin user quota ADDRESS SIZE`: the storage quota
// of a user's mail, enforced by the mail store on APPEND, COPY and
// delivery. SIZE is a number of bytes with an optional unit (KiB, MiB, GiB,
// TiB, or the decimal KB, MB, GB, TB), or 0 / "unlimited" for no limit.
func userQuotaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "quota ADDRESS SIZE",
		Short: "set a user's mail storage quota (e.g. 2GiB, 500MB; 0 or unlimited for none)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			size, err := parseSize(args[1])
			if err != nil {
				return err
			}
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				if err := e.Directory.SetQuota(ctx, actor, args[0], size); err != nil {
					return err
				}
				if size == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "quota of %s: unlimited\n", args[0])
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "quota of %s: %s (%d bytes)\n", args[0], formatSize(size), size)
				}
				return nil
			})
		},
	}
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// parseSize reads "2GiB", "1.5 GiB", "500MB", "1048576", "0", "unlimited".
func parseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	if strings.EqualFold(in, "unlimited") || strings.EqualFold(in, "none") {
		return 0, nil
	}
	i := 0
	for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.') {
		i++
	}
	num, unit := in[:i], strings.ToLower(strings.TrimSpace(in[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("quota size %q: expected a number of bytes with an optional unit, such as 2GiB or 500MB, or unlimited", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("quota size %q: %v", s, err)
	}
	b := v * float64(mult)
	if b >= math.MaxInt64/2 {
		return 0, fmt.Errorf("quota size %q is too large", s)
	}
	return int64(math.Round(b)), nil
}

// formatSize writes a byte count in the largest binary unit that keeps it
// at least 1.
func formatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v := float64(n)
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	num := strings.TrimRight(strings.TrimRight(strconv.FormatFloat(v, 'f', 2, 64), "0"), ".")
	return num + " " + units[u]
}
