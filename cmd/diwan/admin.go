package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
)

func adminCmd() *cobra.Command {
	c := group("admin", "administer ministries, domains, users and the audit log")
	c.AddCommand(ministryCmd(), domainCmd(), userCmd(), registryCmd(), departmentCmd(), memberCmd(), aliasCmd(), policyCmd(), auditCmd(), queueCmd())
	return c
}

// withEnv loads the configuration, opens the database (migrating it when
// database.auto_migrate is true, else refusing a schema that is behind) and
// the services, runs fn and links the audit events fn wrote.
func withEnv(cmd *cobra.Command, fn func(ctx context.Context, e *app.Env, actor string) error) error {
	cfg, err := app.LoadConfig(configFlag, os.Stderr)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, os.Stderr)
	ctx := cmd.Context()
	e, err := app.Open(ctx, cfg, log, cfg.Database.AutoMigrate, io.Discard)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := fn(ctx, e, cliActor()); err != nil {
		return err
	}
	if _, err := e.Audit.LinkPending(ctx); err != nil {
		return fmt.Errorf("link audit events: %w", err)
	}
	return nil
}

// cliActor names the operator in audit events: "cli:<os user>".
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return "cli:" + n
	}
	return fmt.Sprintf("cli:uid%d", os.Getuid())
}

// readPassword reads one line from r and strips the line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// group is a command that only holds subcommands: run without one, or with
// an unknown one, it fails with a one-line reason.
func group(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q (one of: %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))
			}
			return fmt.Errorf("%q needs a subcommand: one of %s", cmd.CommandPath(), strings.Join(names, ", "))
		},
	}
}
