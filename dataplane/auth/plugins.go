package auth

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/mail"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// MFA is what the service needs of a TOTP implementation (package
// dataplane/auth/mfa). Each call gets q, a service-role transaction of the
// tenant, so the implementation keeps its tables in the tenant's schema
// (named "_auth_…", created by itself) and its writes commit or roll back
// with the call's.
type MFA interface {
	// Enroll starts TOTP enrolment for userID: a fresh secret, its
	// otpauth:// URI (labelled accountLabel, issued by issuer) and ten
	// recovery codes, shown once. The factor becomes active at the first
	// successful Verify.
	Enroll(ctx context.Context, q tenantdb.Querier, userID, accountLabel, issuer string) (secret, uri string, recoveryCodes []string, err error)
	// Verify checks a TOTP code (30 s steps, ±1 step, a used code refused)
	// or an unused recovery code (then used up). After 5 failures in a row
	// it returns an error wrapping ErrThrottled (or a *ThrottledError)
	// without checking. A wrong code is (false, nil); an *InputError for a
	// code of the wrong shape.
	Verify(ctx context.Context, q tenantdb.Querier, userID, code string) (ok bool, err error)
	// Enabled reports whether userID has an active factor.
	Enabled(ctx context.Context, q tenantdb.Querier, userID string) (bool, error)
}

// OAuthIdentity is who an OAuth / OIDC provider says signed in.
type OAuthIdentity struct {
	// Provider is the configured provider's name, e.g. "google".
	Provider string
	// Subject is the provider's stable id of the user (sub).
	Subject string
	// Email is the user's address at the provider; may be empty.
	Email string
	// EmailVerified is the provider's email_verified claim.
	EmailVerified bool
}

// OAuth is what the service needs of an OIDC implementation (package
// dataplane/auth/oauth); q is as for MFA. Errors: *InputError for bad
// input, ErrNotFound (wrapped) for an unknown provider, *CredentialError for
// a state or code that does not check out; anything else is internal.
type OAuth interface {
	// AuthorizeURL starts sign-in with provider (authorization code with
	// PKCE; state and nonce recorded) and returns where to send the
	// browser. redirectTo must be one of the provider's redirect URLs.
	AuthorizeURL(ctx context.Context, q tenantdb.Querier, ref, provider, redirectTo string) (string, error)
	// Exchange completes a sign-in: it checks state (single use), trades
	// code for tokens, checks the ID token (nonce included) and returns
	// who signed in and the redirectTo given to AuthorizeURL.
	Exchange(ctx context.Context, q tenantdb.Querier, ref, code, state string) (OAuthIdentity, string, error)
	// ListProviders returns the configured providers, client secrets left
	// out.
	ListProviders(ctx context.Context, q tenantdb.Querier, ref string) ([]*dataplanev1.Provider, error)
	// SetProvider creates or replaces a provider after checking its
	// issuer's discovery document; the answer leaves the client secret out.
	SetProvider(ctx context.Context, q tenantdb.Querier, ref string, p *dataplanev1.Provider) (*dataplanev1.Provider, error)
	// DeleteProvider removes a provider; ErrNotFound when there is none.
	DeleteProvider(ctx context.Context, q tenantdb.Querier, ref, name string) error
}

// Mailer delivers a tenant's auth mails.
type Mailer interface {
	Send(ctx context.Context, ref string, m mail.Message) error
}

// SMTPMailer sends every tenant's mails through one mail.Mailer (an SMTP
// server), from its configured sender.
type SMTPMailer struct{ Mailer mail.Mailer }

// Send implements Mailer.
func (m SMTPMailer) Send(ctx context.Context, _ string, msg mail.Message) error {
	return m.Mailer.Send(ctx, msg)
}

// TableMailbox is the dev mailbox: it keeps each mail in the tenant's
// _auth_mail table instead of sending it, and logs that it did (recipient
// and subject, never the body, which carries a secret token). It is the
// default Mailer, for development and for servers without SMTP.
type TableMailbox struct {
	// DB runs the tenant transaction. Required.
	DB *tenantdb.DB
	// Logger gets one line per kept mail. Default slog.Default().
	Logger *slog.Logger
}

// Send implements Mailer. The tenant's auth tables must exist (the service
// made them before it mails).
func (b *TableMailbox) Send(ctx context.Context, ref string, m mail.Message) error {
	err := b.DB.Tx(ctx, service(ref), tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO "+table(ref, mailTable)+" (to_address, subject, body) VALUES ($1, $2, $3)",
			strings.ToLower(strings.TrimSpace(m.To)), m.Subject, m.Body)
		return err
	})
	if err != nil {
		return fmt.Errorf("keep mail in the dev mailbox: %w", err)
	}
	cmp.Or(b.Logger, slog.Default()).InfoContext(ctx, "auth: mail kept in the tenant's dev mailbox (_auth_mail)", "tenant", ref, "to", m.To, "subject", m.Subject)
	return nil
}
