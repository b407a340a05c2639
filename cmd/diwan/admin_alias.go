package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
)

// aliasCmd is `diwan admin alias …`: addresses on hosted domains that
// deliver to users. postmaster@ every hosted domain exists without one and
// reaches the administrators until an alias sends it on.
func aliasCmd() *cobra.Command {
	c := group("alias", "aliases (postmaster@ exists on every hosted domain)")

	var to string
	add := &cobra.Command{
		Use:   "add ADDRESS --to ADDRESS[,…]",
		Short: "make an address deliver to users",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				a, err := e.Directory.AddAlias(ctx, actor, args[0], splitList(to))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added alias %s → %s\n", a.Address, strings.Join(a.Targets, ", "))
				return nil
			})
		},
	}
	add.Flags().StringVar(&to, "to", "", "the users' addresses, comma-separated")

	list := &cobra.Command{
		Use:   "list",
		Short: "list aliases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, _ string) error {
				as, err := e.Directory.Aliases(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, a := range as {
					rows = append(rows, []string{a.Address, strings.Join(a.Targets, ","), a.CreatedBy})
				}
				return table(cmd.OutOrStdout(), "ADDRESS\tTO\tBY", rows)
			})
		},
	}

	remove := &cobra.Command{
		Use:   "remove ADDRESS",
		Short: "remove an alias",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				if err := e.Directory.RemoveAlias(ctx, actor, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed alias %s\n", args[0])
				return nil
			})
		},
	}
	c.AddCommand(add, list, remove)
	return c
}
