package sovereign

import (
	"context"
	"iter"
	"time"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Signup creates an account and signs it in; the platform mails a link to
// verify the email address. The password needs at least 10 characters, not
// only letters or only digits, and must not be the email.
//
// Errors: [CodeInvalidArgument] (a bad email, or a weak password with the
// rule it breaks), [CodeAlreadyExists] (the email has an account),
// [CodeResourceExhausted] (throttled). Signup carries an idempotency key and
// is retried like other creates.
func (c *ManagementClient) Signup(ctx context.Context, email, password string) (*Session, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.AccountServiceSignupProcedure, callCreate,
		c.accounts.Signup, &controlplanev1.SignupRequest{Email: email, Password: password})
	if err != nil {
		return nil, err
	}
	return sessionOf(m.GetSession(), m.GetAccount()), nil
}

// Login exchanges an email and password for a session.
//
// Errors: [CodeUnauthenticated] (the same for an unknown email and a wrong
// password), [CodeResourceExhausted] (too many attempts for the account or
// from the address). Login is never retried.
func (c *ManagementClient) Login(ctx context.Context, email, password string) (*Session, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.AccountServiceLoginProcedure, callOnce,
		c.accounts.Login, &controlplanev1.LoginRequest{Email: email, Password: password})
	if err != nil {
		return nil, err
	}
	return sessionOf(m.GetSession(), nil), nil
}

// Refresh exchanges a session's refresh token for a new session. The old
// refresh token stops working: store the new session before using it, and
// never refresh the same token twice (the platform takes a reused refresh
// token for a stolen one and ends every session of that login). Refresh is
// never retried, for the same reason.
func (c *ManagementClient) Refresh(ctx context.Context, refreshToken string) (*Session, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.AccountServiceRefreshProcedure, callOnce,
		c.accounts.Refresh, &controlplanev1.RefreshRequest{RefreshToken: refreshToken})
	if err != nil {
		return nil, err
	}
	return sessionOf(m.GetSession(), nil), nil
}

// Logout ends the session whose access token the client sends (its access
// and refresh tokens both stop working).
func (c *ManagementClient) Logout(ctx context.Context) error {
	_, err := unary(ctx, c.c, controlplanev1connect.AccountServiceLogoutProcedure, callOnce,
		c.accounts.Logout, &controlplanev1.LogoutRequest{})
	return err
}

// WhoAmI returns the account behind the client's credentials and how it
// authenticated.
func (c *ManagementClient) WhoAmI(ctx context.Context) (*Caller, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.AccountServiceWhoAmIProcedure, callRead,
		c.accounts.WhoAmI, &controlplanev1.WhoAmIRequest{})
	if err != nil {
		return nil, err
	}
	return &Caller{Account: accountOf(m.GetAccount()), Credential: m.GetCredential()}, nil
}

// RequestEmailVerification mails the caller a new email verification link.
func (c *ManagementClient) RequestEmailVerification(ctx context.Context) error {
	_, err := unary(ctx, c.c, controlplanev1connect.AccountServiceRequestEmailVerificationProcedure, callOnce,
		c.accounts.RequestEmailVerification, &controlplanev1.RequestEmailVerificationRequest{})
	return err
}

// VerifyEmail consumes a single-use verification token (sov_mt_…) from a
// verification mail and returns the verified account. It needs no
// credentials.
func (c *ManagementClient) VerifyEmail(ctx context.Context, token string) (*Account, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.AccountServiceVerifyEmailProcedure, callOnce,
		c.accounts.VerifyEmail, &controlplanev1.VerifyEmailRequest{Token: token})
	if err != nil {
		return nil, err
	}
	return accountOf(m.GetAccount()), nil
}

// RequestPasswordReset mails a single-use password reset token to email. It
// succeeds whether or not the email has an account, so that it does not tell
// which emails do. It needs no credentials.
func (c *ManagementClient) RequestPasswordReset(ctx context.Context, email string) error {
	_, err := unary(ctx, c.c, controlplanev1connect.AccountServiceRequestPasswordResetProcedure, callOnce,
		c.accounts.RequestPasswordReset, &controlplanev1.RequestPasswordResetRequest{Email: email})
	return err
}

// ResetPassword consumes a reset token, sets a new password and ends every
// session of the account. It needs no credentials.
func (c *ManagementClient) ResetPassword(ctx context.Context, token, newPassword string) error {
	_, err := unary(ctx, c.c, controlplanev1connect.AccountServiceResetPasswordProcedure, callOnce,
		c.accounts.ResetPassword, &controlplanev1.ResetPasswordRequest{Token: token, NewPassword: newPassword})
	return err
}

// CreateToken creates a personal access token (sov_pat_…) for the CLI or CI
// and returns its description and the token itself, which is shown only
// this once. name is 1 to 64 characters, unique among the caller's live
// tokens; ttl is its lifetime in whole seconds, 0 for a token that does not
// expire.
func (c *ManagementClient) CreateToken(ctx context.Context, name string, ttl time.Duration) (*PersonalAccessToken, string, error) {
	secs, err := ttlSeconds(ttl)
	if err != nil {
		return nil, "", err
	}
	m, err := unary(ctx, c.c, controlplanev1connect.AccountServiceCreateTokenProcedure, callCreate,
		c.accounts.CreateToken, &controlplanev1.CreateTokenRequest{Name: name, TtlSeconds: secs})
	if err != nil {
		return nil, "", err
	}
	return tokenOf(m.GetToken()), m.GetSecret(), nil
}

// Tokens lists the caller's personal access tokens (never the tokens
// themselves).
func (c *ManagementClient) Tokens(ctx context.Context) iter.Seq2[*PersonalAccessToken, error] {
	return pages(ctx, func(ctx context.Context, _ string) ([]*PersonalAccessToken, string, error) {
		m, err := unary(ctx, c.c, controlplanev1connect.AccountServiceListTokensProcedure, callRead,
			c.accounts.ListTokens, &controlplanev1.ListTokensRequest{})
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetTokens(), tokenOf), "", nil
	})
}

// RevokeToken revokes one of the caller's personal access tokens by id.
func (c *ManagementClient) RevokeToken(ctx context.Context, id string) error {
	_, err := unary(ctx, c.c, controlplanev1connect.AccountServiceRevokeTokenProcedure, callOnce,
		c.accounts.RevokeToken, &controlplanev1.RevokeTokenRequest{Id: id})
	return err
}

// ttlSeconds turns a lifetime into the wire's whole seconds.
func ttlSeconds(ttl time.Duration) (int64, error) {
	if ttl < 0 || (ttl > 0 && ttl < time.Second) {
		return 0, invalidArgument("lifetime %v: use 0 (no expiry) or at least one second", ttl)
	}
	return int64(ttl / time.Second), nil
}
