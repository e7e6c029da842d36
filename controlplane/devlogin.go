package controlplane

import (
	"context"
	"fmt"

	"github.com/sovereign-backend/sovereign/controlplane/accounts"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// DevLogin is a local account made for `sovereign dev`, so a newcomer can use
// the CLI without signing up.
type DevLogin struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Token is a personal access token of the account (sov_pat_…).
	Token string `json:"token"`
}

// CreateDevLogin signs up email with a random password and gives it a
// personal access token that does not expire. It fails when the account
// exists; callers keep the result, since its secrets cannot be read back.
func (p *Plane) CreateDevLogin(ctx context.Context, email string) (DevLogin, error) {
	// A token minus its prefix is 38 base62 characters: a strong password.
	password := token.New("")
	sess, err := p.accounts.Signup(ctx, accounts.SignupParams{Email: email, Password: password, ClientIP: "127.0.0.1"})
	if err != nil {
		return DevLogin{}, fmt.Errorf("create dev account: %w", err)
	}
	principal, err := p.accounts.Authenticate(ctx, sess.AccessToken)
	if err != nil {
		return DevLogin{}, fmt.Errorf("create dev account: %w", err)
	}
	_, pat, err := p.accounts.CreateToken(ctx, principal, accounts.CreateTokenParams{Name: "sovereign dev"})
	if err != nil {
		return DevLogin{}, fmt.Errorf("create dev token: %w", err)
	}
	return DevLogin{Email: sess.Account.Email, Password: password, Token: pat}, nil
}
