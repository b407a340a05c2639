package main

import (
	"os"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
)

func serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "run every enabled listener until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := app.LoadConfig(configFlag, os.Stderr)
			if err != nil {
				return err
			}
			log := app.NewLogger(cfg, os.Stderr)
			return app.Serve(cmd.Context(), cfg, log, cmd.OutOrStdout(), os.Stderr)
		},
	}
}

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "apply pending migrations (Diwan's and River's) and print what was applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := app.LoadConfig(configFlag, os.Stderr)
			if err != nil {
				return err
			}
			log := app.NewLogger(cfg, os.Stderr)
			return app.Migrate(cmd.Context(), cfg, log, cmd.OutOrStdout(), os.Stderr)
		},
	}
}
