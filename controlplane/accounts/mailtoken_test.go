package accounts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/token"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
)

func (e *env) verify(tok string) (*controlplanev1.Account, error) {
	resp, err := e.client.VerifyEmail(context.Background(), req(&controlplanev1.VerifyEmailRequest{Token: tok}, ""))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetAccount(), nil
}

func (e *env) requestVerification(access string) error {
	_, err := e.client.RequestEmailVerification(context.Background(), req(&controlplanev1.RequestEmailVerificationRequest{}, access))
	return err
}

func (e *env) requestReset(email string) error {
	_, err := e.client.RequestPasswordReset(context.Background(), req(&controlplanev1.RequestPasswordResetRequest{Email: email}, ""))
	return err
}

func (e *env) reset(tok, password string) error {
	_, err := e.client.ResetPassword(context.Background(), req(&controlplanev1.ResetPasswordRequest{Token: tok, NewPassword: password}, ""))
	return err
}

func TestEmailVerification(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.signup("ada@example.com")
	first := e.lastToken("ada@example.com", "Verify")

	// A new mail on request; both tokens work until one is used.
	wantOK(t, e.requestVerification(s.GetAccessToken()))
	if n := len(e.mails("ada@example.com")); n != 2 {
		t.Fatalf("%d mails, want 2", n)
	}
	second := e.lastToken("ada@example.com", "Verify")
	if second == first {
		t.Fatal("the same token was mailed twice")
	}
	wantErr(t, e.requestVerification(""), connect.CodeUnauthenticated, "missing credentials")

	a, err := e.verify(second)
	wantOK(t, err)
	if !a.GetEmailVerified() || a.GetEmail() != "ada@example.com" {
		t.Fatalf("verified account = %v", a)
	}
	who, err := e.whoami(s.GetAccessToken())
	wantOK(t, err)
	if !who.GetAccount().GetEmailVerified() {
		t.Fatal("whoami: not verified")
	}
	wantErr(t, e.requestVerification(s.GetAccessToken()), connect.CodeFailedPrecondition, "already verified")

	// An expiring token, made before the clock moves.
	g := e.signup("grace@example.com")
	stale := e.lastToken("grace@example.com", "Verify")
	e.clock.Advance(25 * time.Hour)
	g2, err := e.refresh(g.GetRefreshToken())
	wantOK(t, err)
	wantOK(t, e.requestVerification(g2.GetAccessToken()))
	fresh := e.lastToken("grace@example.com", "Verify")
	wantOK(t, e.requestReset("grace@example.com"))
	resetTok := e.lastToken("grace@example.com", "Reset")

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{name: "used", token: second, reason: "token already used"},
		{name: "expired", token: stale, reason: "token expired"},
		{name: "malformed", token: "sov_mt_nope", reason: "malformed token"},
		{name: "unknown", token: token.New(token.MailToken), reason: "token not recognised"},
		{name: "reset token", token: resetTok, reason: "token not recognised"},
		{name: "empty", token: "", reason: "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.verify(tt.token)
			wantErr(t, err, connect.CodeUnauthenticated, tt.reason)
		})
	}
	a, err = e.verify(fresh)
	wantOK(t, err)
	if !a.GetEmailVerified() {
		t.Fatal("grace: not verified")
	}
}

func TestEmailVerificationThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *accountsConfig) { c.MailPerAddress = limit(2) })
	s := e.signup("ada@example.com")
	wantOK(t, e.requestVerification(s.GetAccessToken()))
	wantOK(t, e.requestVerification(s.GetAccessToken()))
	wantErr(t, e.requestVerification(s.GetAccessToken()), connect.CodeResourceExhausted, "too many mails; try again in")
	if n := len(e.mails("ada@example.com")); n != 3 { // signup's and two requested
		t.Fatalf("%d mails, want 3", n)
	}
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	s := e.signup("ada@example.com")
	other, err := e.login("ada@example.com", goodPassword)
	wantOK(t, err)
	pat, err := e.client.CreateToken(ctx, req(&controlplanev1.CreateTokenRequest{Name: "ci"}, s.GetAccessToken()))
	wantOK(t, err)

	// The same answer with and without an account; a mail only with one.
	wantOK(t, e.requestReset("nobody@example.com"))
	if n := len(e.mails("nobody@example.com")); n != 0 {
		t.Fatalf("%d mails to an address without an account", n)
	}
	wantErr(t, e.requestReset("not an email"), connect.CodeInvalidArgument, "email: not a valid email address")
	wantOK(t, e.requestReset("ADA@example.com"))
	older := e.lastToken("ada@example.com", "Reset")
	wantOK(t, e.requestReset("ada@example.com"))
	tok := e.lastToken("ada@example.com", "Reset")
	if !strings.Contains(e.mails("ada@example.com")[0].Body, tok) {
		t.Fatal("the reset mail does not show its token")
	}

	// Bad input leaves the token usable and the password as it was.
	wantErr(t, e.reset(tok, "short"), connect.CodeInvalidArgument, "weak password, too short", rule)
	wantErr(t, e.reset(tok, "xx-ada-2024-xx"), connect.CodeInvalidArgument, "contains the name in your email address")
	wantErr(t, e.reset("sov_mt_bad", "new secret words 1"), connect.CodeUnauthenticated, "malformed token")
	wantErr(t, e.reset(token.New(token.MailToken), "new secret words 1"), connect.CodeUnauthenticated, "token not recognised")
	_, err = e.login("ada@example.com", goodPassword)
	wantOK(t, err)

	wantOK(t, e.reset(tok, "new secret words 1"))

	// Sessions end, personal access tokens stay.
	for _, tok := range []string{s.GetAccessToken(), other.GetAccessToken()} {
		_, err := e.whoami(tok)
		wantErr(t, err, connect.CodeUnauthenticated, "token revoked")
	}
	who, err := e.whoami(pat.Msg.GetSecret())
	wantOK(t, err)
	// The mailbox is proven, so the email is verified.
	if !who.GetAccount().GetEmailVerified() {
		t.Fatal("email not verified by the reset")
	}
	_, err = e.login("ada@example.com", goodPassword)
	wantErr(t, err, connect.CodeUnauthenticated, "email or password is wrong")
	_, err = e.login("ada@example.com", "new secret words 1")
	wantOK(t, err)

	// Single use, and the older token is spent with it.
	wantErr(t, e.reset(tok, "another secret 2"), connect.CodeUnauthenticated, "token already used")
	wantErr(t, e.reset(older, "another secret 2"), connect.CodeUnauthenticated, "token already used")

	// Expiry after 1 hour.
	wantOK(t, e.requestReset("ada@example.com"))
	late := e.lastToken("ada@example.com", "Reset")
	e.clock.Advance(61 * time.Minute)
	wantErr(t, e.reset(late, "another secret 2"), connect.CodeUnauthenticated, "token expired")
	_, err = e.login("ada@example.com", "new secret words 1")
	wantOK(t, err)
}

func TestPasswordResetThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *accountsConfig) { c.MailPerAddress = limit(1) })
	e.signup("ada@example.com")
	for _, addr := range []string{"ada@example.com", "nobody@example.com"} {
		wantOK(t, e.requestReset(addr))
		// The same answer whether or not the address has an account.
		wantErr(t, e.requestReset(addr), connect.CodeResourceExhausted, "too many mails; try again in 60s")
	}
}
