// Package mail is `sov dev mail`: read the local platform's dev mailbox,
// where the mails it would have sent (verification, password reset,
// invitations) are kept when no SMTP server is configured.
package mail

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov dev mail`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a control plane client (the mailbox needs no login).
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	To     string
	JSON   bool
}

// NewCmdMail builds the command; runF replaces the run function in tests.
func NewCmdMail(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.AnonymousClient, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "Read the local platform's mailbox (verification and reset mails), newest first",
		Long: `Read the mails the local platform would have sent, newest first. Only
` + "`sov dev`" + ` (and servers started with --dev-mailbox) keep a mailbox.

On a terminal each mail is shown in full; in a pipe each is one tab-separated
line: sent, to, subject, body (newlines turned into spaces).`,
		Example: `  sov dev mail --to dev@example.com`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "only mails to this address")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run prints the mailbox.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	mails, err := sovereign.Collect(mc.DevMail(ctx, opts.To))
	if err != nil {
		if c, ok := sovereign.ErrorCode(err); ok && (c == sovereign.CodeNotFound || c == sovereign.CodeUnimplemented) {
			return factory.WithExitCode(fmt.Errorf("this platform keeps no dev mailbox (only `sov dev` does): %w", err), factory.ExitNotFound)
		}
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(mails))
	}
	if !opts.IO.OutTTY {
		tp := tableprinter.New(opts.IO.Out, false, opts.Now())
		for _, m := range mails {
			tp.Time(m.SentAt)
			tp.Field(m.To)
			tp.Field(m.Subject)
			tp.Field(m.Body)
			tp.EndRow()
		}
		return tp.Render()
	}
	if len(mails) == 0 {
		_, err := fmt.Fprintln(opts.IO.Out, "No mail.")
		return err
	}
	var b strings.Builder
	for i, m := range mails {
		if i > 0 {
			b.WriteString("\n" + strings.Repeat("─", 60) + "\n\n")
		}
		fmt.Fprintf(&b, "To:      %s\nSubject: %s\nSent:    %s\n\n%s\n", m.To, m.Subject, tableprinter.RelativeTime(opts.Now(), m.SentAt), strings.TrimRight(m.Body, "\n"))
	}
	_, err = fmt.Fprint(opts.IO.Out, b.String())
	return err
}
