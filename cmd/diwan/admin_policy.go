package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/policy"
)

// policyCmd is `diwan admin policy …`: the national-mail rules (DESIGN.md
// §4). Rule changes are audited and apply on every node within seconds.
func policyCmd() *cobra.Command {
	c := group("policy", "national-mail rules: gov.sy names that exact domain, .gov.sy it and every subdomain")

	list := &cobra.Command{
		Use:   "list",
		Short: "list the rules, with the configured national suffixes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPolicy(cmd, func(ctx context.Context, _ *app.Env, p *policy.Service, _ string) error {
				rules, err := p.Rules(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, s := range p.NationalSuffixes() {
					rows = append(rows, []string{s, policy.Allow, "policy.national_suffixes", "config", ""})
				}
				for _, r := range rules {
					rows = append(rows, []string{r.Pattern, r.Action, r.Note, r.CreatedBy, r.CreatedAt.Format(time.RFC3339)})
				}
				return table(cmd.OutOrStdout(), "PATTERN\tACTION\tNOTE\tBY\tSINCE", rows)
			})
		},
	}

	set := func(action, short string) *cobra.Command {
		var note string
		var yes bool
		cmd := &cobra.Command{
			Use:   action + " PATTERN [--note T]",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withPolicy(cmd, func(ctx context.Context, _ *app.Env, p *policy.Service, actor string) error {
					var r policy.Rule
					var err error
					if action == policy.Allow {
						r, err = p.Allow(ctx, actor, args[0], note)
					} else if err = confirmDeny(ctx, p, args[0], yes); err == nil {
						r, err = p.Deny(ctx, actor, args[0], note)
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", action, r.Pattern)
					return nil
				})
			},
		}
		cmd.Flags().StringVar(&note, "note", "", "why the rule exists")
		if action == policy.Deny {
			cmd.Use = action + " PATTERN [--note T] [--yes]"
			cmd.Flags().BoolVar(&yes, "yes", false, "make the rule even if it covers hosted domains (their mail would be refused)")
		}
		return cmd
	}

	remove := &cobra.Command{
		Use:   "remove PATTERN",
		Short: "remove a rule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withPolicy(cmd, func(ctx context.Context, _ *app.Env, p *policy.Service, actor string) error {
				pattern, err := policy.CanonicalPattern(args[0])
				if err != nil {
					return err
				}
				if err := p.Remove(ctx, actor, pattern); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", pattern)
				return nil
			})
		},
	}

	test := &cobra.Command{
		Use:   "test ADDRESS",
		Short: "show how the policy decides an address or domain, and the SMTP replies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			domain := args[0]
			if i := strings.LastIndexByte(domain, '@'); i >= 0 {
				domain = domain[i+1:]
			}
			if _, err := directory.CanonicalDomain(domain); err != nil {
				return err
			}
			return withPolicy(cmd, func(ctx context.Context, _ *app.Env, p *policy.Service, _ string) error {
				out, err := p.Decide(ctx, policy.Outbound, args[0])
				if err != nil {
					return err
				}
				in, err := p.Decide(ctx, policy.Inbound, args[0])
				if err != nil {
					return err
				}
				verdict := "national"
				if !out.Allow {
					verdict = "not national"
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "%s: %s (%s)\n", out.Domain, verdict, out.Rule)
				fmt.Fprintf(w, "  as recipient: %d %s %s\n", out.Code, out.Enhanced, out.Message)
				fmt.Fprintf(w, "  as sender:    %d %s %s\n", in.Code, in.Enhanced, in.Message)
				return nil
			})
		},
	}

	var since string
	violations := &cobra.Command{
		Use:   "violations [--since 24h]",
		Short: "refusals (policy, relay attempts, spoofing, SMTP logins) per user and per domain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseSince(since)
			if err != nil {
				return err
			}
			return withEnv(cmd, func(ctx context.Context, e *app.Env, _ string) error {
				now := time.Now().UTC()
				v, err := e.Policy.Summary(ctx, e.Audit, now.Add(-d), now.Add(time.Second))
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if v.Total == 0 {
					fmt.Fprintf(w, "no refusals since %s\n", v.Since.Format(time.RFC3339))
					return nil
				}
				more := ""
				if v.Truncated {
					more = fmt.Sprintf(" (the newest %d counted)", policy.MaxSummarised)
				}
				fmt.Fprintf(w, "%d refusals since %s%s\n\n", v.Total, v.Since.Format(time.RFC3339), more)
				if err := table(w, "USER OR CLIENT\tTOTAL\tPOLICY\tRELAY\tSPOOFING\tAUTH", countRows(v.ByUser)); err != nil {
					return err
				}
				fmt.Fprintln(w)
				return table(w, "DOMAIN\tTOTAL\tPOLICY\tRELAY\tSPOOFING\tAUTH", countRows(v.ByDomain))
			})
		},
	}
	violations.Flags().StringVar(&since, "since", "24h", "how far back: a duration such as 90m, 24h or 7d")

	c.AddCommand(list, set(policy.Allow, "make a domain (gov.sy) or a domain and its subdomains (.gov.sy) national"),
		set(policy.Deny, "make a domain or subtree not national, whatever else matches (deny wins)"),
		remove, test, violations)
	return c
}

// confirmDeny refuses a deny rule that covers hosted domains unless yes
// is set, naming them, as the API answers 409 confirm_required.
func confirmDeny(ctx context.Context, p *policy.Service, pattern string, yes bool) error {
	if yes {
		return nil
	}
	err := p.CheckDeny(ctx, pattern)
	var ce *policy.ConfirmError
	if errors.As(err, &ce) {
		return fmt.Errorf("the deny rule %s covers hosted domains: %s; mail to and from them would be refused; run it again with --yes to make it",
			ce.Pattern, strings.Join(ce.Covers, ", "))
	}
	return err
}

// withPolicy is withEnv with the policy service of the configuration.
func withPolicy(cmd *cobra.Command, fn func(ctx context.Context, e *app.Env, p *policy.Service, actor string) error) error {
	return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
		return fn(ctx, e, e.Policy, actor)
	})
}

// parseSince reads a Go duration, or a number of days ("7d").
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("--since %q: give a positive duration such as 90m, 24h or 7d", s)
}

func countRows(cs []policy.Count) [][]string {
	rows := make([][]string, len(cs))
	for i, c := range cs {
		rows[i] = []string{c.Key, strconv.Itoa(c.Total), strconv.Itoa(c.ByReason[policy.ReasonPolicy]),
			strconv.Itoa(c.ByReason[policy.ReasonRelay]), strconv.Itoa(c.ByReason[policy.ReasonSpoofing]),
			strconv.Itoa(c.ByReason[policy.ReasonAuth])}
	}
	return rows
}
