package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
)

// userTokenCmd is `diwan admin user token ADDRESS`: it creates a personal
// API token for the user and prints it, alone on one line, this once (only
// its SHA-256 is kept). The token goes in "Authorization: Bearer TOKEN"
// and stops working when the user is disabled.
func userTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "token ADDRESS",
		Short: "create a personal API token for a user and print it once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				token, err := e.Directory.CreateToken(ctx, actor, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), token)
				return nil
			})
		},
	}
}
