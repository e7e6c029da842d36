// Package mail sends the control plane's mails (verification, password
// reset, invitations): through SMTP when one is configured, otherwise into
// the dev mailbox, a table that `sov dev mail` reads, with a log line saying
// a mail was kept (never its secret link). Messages, the Mailer contract and
// the SMTP client are internal/mail's, shared with the data plane.
package mail

import imail "github.com/sovereign-backend/sovereign/internal/mail"

// Message is one plain-text mail.
type Message = imail.Message

// Mailer delivers messages.
type Mailer = imail.Mailer

// SMTPConfig configures an SMTP mailer.
type SMTPConfig = imail.SMTPConfig

// SMTP sends mail through an SMTP server.
type SMTP = imail.SMTP

// NewSMTP returns an SMTP mailer.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) { return imail.NewSMTP(cfg) }
