// Package cli wires mamori's commands: flags become options, options are
// handed to the packages that do the work. No scanning logic lives here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Exit codes. Findings at or above the gate exit with --exit-code (1 by
// default); a scan that could not complete exits with ExitError whatever
// it found.
const (
	ExitClean    = 0
	ExitFindings = 1
	ExitError    = 2
)

// exitError carries an exit code out of a command.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// IO is where commands read and write; tests substitute buffers.
type IO struct {
	In          io.Reader
	Out, Err    io.Writer
	OutIsTTY    bool
	Environment func(string) string
}

// Version is the mamori version, set at build time with
// -ldflags "-X github.com/mamori-dev/mamori/internal/cli.Version=v0.1.0".
var Version = "dev"

// Run executes the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, stdio IO) int {
	root := newRoot(stdio)
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	err := root.ExecuteContext(ctx)
	var ee *exitError
	switch {
	case err == nil:
		return ExitClean
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stdio.Err, "Error:", err)
		return ExitError
	}
}

// Main runs mamori with the process's own arguments and streams.
func Main(ctx context.Context) int {
	tuneGC(os.Getenv)
	fi, err := os.Stdout.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return Run(ctx, os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, OutIsTTY: tty, Environment: os.Getenv})
}

func newRoot(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "mamori",
		Short:         "Kubernetes security: scan, enforce, watch, explain",
		Long:          "mamori (守り, protection) finds misconfigurations in Kubernetes manifests and known vulnerabilities in images, filesystems and disks.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersion(), newScan(stdio), newChecks(stdio), newPolicy(stdio), newWebhook(stdio),
		newDB(stdio), newVuln(stdio), newVersionCompare(stdio), newAgent(stdio), newTrace(stdio), newAdvise(stdio))
	root.AddCommand(newVerify(stdio), newSign(stdio), newAttest(stdio), newAudit(stdio))
	return root
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the mamori version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "mamori %s\n", Version)
			return err
		},
	}
}

// tuneGC trades memory for speed within a bound: a scan allocates mostly
// short-lived parse trees, so collecting at 4x the live heap instead of 2x
// saves a quarter of the CPU. The soft limit keeps the peak, heap plus the
// binary's own pages (some 40 MB), under 300 MB. GOGC and GOMEMLIMIT, when
// set, win.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(210 << 20)
	}
}
