package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
)

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print version and commit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "diwan %s (commit %s)\n", app.Version, app.Commit)
			return nil
		},
	}
}
