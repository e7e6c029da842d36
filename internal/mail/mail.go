// Package mail delivers the platform's plain-text mails through an SMTP
// server. It is shared by the planes: the data plane sends its tenants' end
// users their verification and password reset mails with it. (The control
// plane's controlplane/mail holds the same SMTP mailer plus its dev
// mailbox; it should become aliases of this package.)
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
