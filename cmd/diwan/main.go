// Command diwan is the national government correspondence system: mail
// server, correspondence workflow engine and store in one program.
//
// main only parses the command line; the work is done in internal/app.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "diwan: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

// configFlag is the value of --config, accepted before or after the
// subcommand.
var configFlag string

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "diwan",
		Short:         "Diwan — national government correspondence system",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&configFlag, "config", "", "configuration file (default $DIWAN_CONFIG, else configs/dev.yaml)")
	root.AddCommand(versionCmd(), migrateCmd(), serveCmd(), adminCmd())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	return root
}
