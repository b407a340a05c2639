package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/directory"
)

func ministryCmd() *cobra.Command {
	c := group("ministry", "ministries")
	var nameAR, nameEN string
	add := &cobra.Command{
		Use:   "add CODE --name-ar A --name-en E",
		Short: "add a ministry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				m, err := e.Directory.AddMinistry(ctx, actor, directory.Ministry{Code: args[0], NameAR: nameAR, NameEN: nameEN})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added ministry %s\n", m.Code)
				return nil
			})
		},
	}
	add.Flags().StringVar(&nameAR, "name-ar", "", "Arabic name")
	add.Flags().StringVar(&nameEN, "name-en", "", "English name")
	list := &cobra.Command{
		Use:   "list",
		Short: "list ministries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, _ string) error {
				ms, err := e.Directory.Ministries(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, m := range ms {
					rows = append(rows, []string{m.Code, m.NameAR, m.NameEN})
				}
				return table(cmd.OutOrStdout(), "CODE\tNAME_AR\tNAME_EN", rows)
			})
		},
	}
	c.AddCommand(add, list)
	return c
}

func domainCmd() *cobra.Command {
	c := group("domain", "hosted domains")
	var ministry string
	add := &cobra.Command{
		Use:   "add DOMAIN --ministry CODE",
		Short: "host a domain for a ministry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				d, err := e.Directory.AddDomain(ctx, actor, args[0], ministry)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added domain %s (ministry %s)\n", d.Name, d.Ministry)
				return nil
			})
		},
	}
	add.Flags().StringVar(&ministry, "ministry", "", "code of the ministry")
	list := &cobra.Command{
		Use:   "list",
		Short: "list hosted domains",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, _ string) error {
				ds, err := e.Directory.Domains(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, d := range ds {
					ascii, _ := directory.ASCIIDomain(d.Name)
					if ascii == d.Name {
						ascii = ""
					}
					rows = append(rows, []string{d.Name, d.Ministry, ascii})
				}
				return table(cmd.OutOrStdout(), "DOMAIN\tMINISTRY\tACE", rows)
			})
		},
	}
	c.AddCommand(add, list, domainDKIMCmd())
	return c
}

func userCmd() *cobra.Command {
	c := group("user", "user accounts")

	var name, ministry, roles string
	var pwStdin bool
	add := &cobra.Command{
		Use:   "add ADDRESS --name N --ministry CODE --role R[,R…] [--password-stdin]",
		Short: "add a user; without --password-stdin a password is generated, printed once, and must be changed at first login",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nu := directory.NewUser{Address: args[0], Name: name, Ministry: ministry, Roles: splitList(roles)}
			if pwStdin {
				pw, err := readPassword(cmd.InOrStdin())
				if err != nil {
					return err
				}
				nu.Password = pw
			} else {
				nu.Password = directory.GeneratePassword()
				nu.MustChangePassword = true
			}
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				u, err := e.Directory.AddUser(ctx, actor, nu)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added user %s\n", u.Login)
				if !pwStdin {
					fmt.Fprintf(cmd.OutOrStdout(), "password: %s (to be changed at first login)\n", nu.Password)
				}
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().StringVar(&ministry, "ministry", "", "code of the ministry")
	add.Flags().StringVar(&roles, "role", "", "roles, comma-separated: admin, clerk, head, staff, ministry_admin")
	add.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from one line of standard input")

	list := &cobra.Command{
		Use:   "list",
		Short: "list users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, _ string) error {
				var rows [][]string
				for offset := 0; ; {
					us, err := e.Directory.Users(ctx, directory.ListOptions{Limit: 1000, Offset: offset})
					if err != nil {
						return err
					}
					rows = append(rows, userRows(us, time.Now())...)
					if len(us) < 1000 {
						break
					}
					offset += len(us)
				}
				return table(cmd.OutOrStdout(), "LOGIN\tNAME\tMINISTRY\tROLES\tSTATE", rows)
			})
		},
	}

	var passwdStdin bool
	passwd := &cobra.Command{
		Use:   "passwd ADDRESS --password-stdin",
		Short: "set a user's password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !passwdStdin {
				return fmt.Errorf("user passwd: give the new password on standard input with --password-stdin")
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				if err := e.Directory.SetPassword(ctx, actor, args[0], pw, false); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password changed for %s\n", args[0])
				return nil
			})
		},
	}
	passwd.Flags().BoolVar(&passwdStdin, "password-stdin", false, "read the password from one line of standard input")

	disable := &cobra.Command{
		Use:   "disable ADDRESS",
		Short: "disable a user: their logins, sessions and tokens stop working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				if err := e.Directory.Disable(ctx, actor, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "disabled %s\n", args[0])
				return nil
			})
		},
	}
	unlock := &cobra.Command{
		Use:   "unlock ADDRESS",
		Short: "lift a user's lockout: the account's lock and the failed logins counted from every address",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				if err := e.Directory.Unlock(ctx, actor, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unlocked %s\n", args[0])
				return nil
			})
		},
	}
	setRoles := &cobra.Command{
		Use:   "roles ADDRESS R[,R…]",
		Short: "replace a user's roles: admin, clerk, head, staff, ministry_admin",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				rs, err := e.Directory.SetRoles(ctx, actor, args[0], splitList(args[1]))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "roles of %s: %s\n", args[0], strings.Join(rs, ","))
				return nil
			})
		},
	}
	c.AddCommand(add, list, passwd, disable, unlock, setRoles, userQuotaCmd(), userTokenCmd())
	return c
}

func auditCmd() *cobra.Command {
	c := group("audit", "the audit log")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "walk the audit chain: ok N events (M waiting), or the first broken link (exit 1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, _ string) error {
				r, err := e.Audit.Verify(ctx)
				if err != nil {
					return err
				}
				if r.Broken != nil {
					return fmt.Errorf("audit chain %s", r.String())
				}
				fmt.Fprintln(cmd.OutOrStdout(), r.String())
				return nil
			})
		},
	}
	c.AddCommand(verify)
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// userRows are the rows of "user list"; a locked account's state says
// until when ("locked-until 2026-03-01T09:15:00Z").
func userRows(us []directory.User, now time.Time) [][]string {
	var rows [][]string
	for _, u := range us {
		state := "active"
		switch {
		case u.Disabled:
			state = "disabled"
		case u.Locked(now):
			state = "locked-until " + u.LockedUntil.UTC().Format(time.RFC3339)
		case u.MustChangePassword:
			state = "must-change-password"
		}
		rows = append(rows, []string{u.Login, u.Name, u.Ministry, strings.Join(u.Roles, ","), state})
	}
	return rows
}
