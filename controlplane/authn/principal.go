// Package authn says who is calling the control plane. The interceptor in
// this package reads the bearer credential (an access token or a personal
// access token), checks it, and puts the Principal in the context; handlers
// read it with FromContext.
package authn

import "context"

// Credential kinds.
const (
	CredentialSession = "session"
	CredentialPAT     = "personal_access_token"
)

// Principal is an authenticated account.
type Principal struct {
	// AccountID is the account's id (UUID text).
	AccountID string
	// Email is the account's email address, lowercased.
	Email string
	// EmailVerified is whether the email address has been verified.
	EmailVerified bool
	// Credential is CredentialSession or CredentialPAT.
	Credential string
	// SessionID is the session behind an access token; empty for a PAT.
	SessionID string
	// TokenID is the personal access token's id; empty for a session.
	TokenID string
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the caller, when the request was authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
