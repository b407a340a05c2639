package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/delivery"
)

// queueCmd is `diwan admin queue …`: the outbound queue to other national
// servers, like postqueue. Retry and drop are audited; drop bounces the
// message to its sender.
func queueCmd() *cobra.Command {
	c := group("queue", "the outbound queue to other national servers")

	var state string
	var limit int
	list := &cobra.Command{
		Use:   "list [--state pending|sent|failed] [--limit N]",
		Short: "list the queue's recipients, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch state {
			case "", delivery.StatePending, delivery.StateSent, delivery.StateFailed:
			default:
				return fmt.Errorf("--state %q: give pending, sent or failed", state)
			}
			return withQueue(cmd, func(ctx context.Context, q *delivery.Queue, _ string) error {
				entries, total, err := q.List(ctx, delivery.ListOptions{State: state, Limit: limit})
				if err != nil {
					return err
				}
				rows := make([][]string, len(entries))
				for i, e := range entries {
					rows[i] = queueRow(e)
				}
				if err := table(cmd.OutOrStdout(), "ID\tFROM\tTO\tDOMAIN\tSIZE\tSTATE\tATTEMPTS\tCREATED\tNEXT ATTEMPT\tLAST ERROR", rows); err != nil {
					return err
				}
				if int64(len(entries)) < total {
					fmt.Fprintf(cmd.OutOrStdout(), "(%d of %d shown)\n", len(entries), total)
				}
				return nil
			})
		},
	}
	list.Flags().StringVar(&state, "state", "", "only entries in this state: pending, sent or failed")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many entries (up to 1000)")

	act := func(name, short, done string, fn func(*delivery.Queue, context.Context, string, int64) error) *cobra.Command {
		return &cobra.Command{
			Use:   name + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || id <= 0 {
					return fmt.Errorf("queue %s: %q is not a queue entry id (see diwan admin queue list)", name, args[0])
				}
				return withQueue(cmd, func(ctx context.Context, q *delivery.Queue, actor string) error {
					if err := fn(q, ctx, actor, id); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %d\n", done, id)
					return nil
				})
			},
		}
	}
	c.AddCommand(list,
		act("retry", "try a pending recipient again now", "retrying", (*delivery.Queue).Retry),
		act("drop", "give a pending recipient up and bounce it to its sender", "dropped", (*delivery.Queue).Drop))
	return c
}

func queueRow(e delivery.Entry) []string {
	from := e.From
	if from == "" {
		from = "<>"
	}
	next := "-"
	if e.State == delivery.StatePending {
		next = e.NextAttemptAt.Format(time.RFC3339)
	}
	lastErr := e.LastError
	if lastErr == "" {
		lastErr = "-"
	}
	return []string{strconv.FormatInt(e.ID, 10), from, e.To, e.Domain, strconv.FormatInt(e.Size, 10), e.State,
		strconv.Itoa(e.Attempts), e.CreatedAt.Format(time.RFC3339), next, lastErr}
}

// withQueue runs fn on the outbound queue (which records, retries and
// drops here; serve sends).
func withQueue(cmd *cobra.Command, fn func(ctx context.Context, q *delivery.Queue, actor string) error) error {
	return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
		q, _, release, err := e.OpenQueue(ctx, false)
		if err != nil {
			return err
		}
		defer release()
		return fn(ctx, q, actor)
	})
}
