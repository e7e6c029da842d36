// Package mail sends the control plane's mails (verification, password
// reset, invitations): through SMTP when one is configured, otherwise into
// the dev mailbox, a table that `sov dev mail` reads, with a log line saying
// a mail was kept (never its secret link).
package mail

import "context"

// Message is one plain-text mail.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Mailer delivers messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}
