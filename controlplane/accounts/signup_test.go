package accounts_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
)

const rule = "a password needs 10 to 128 characters, not only letters and not only digits, and must not contain the name in your email address"

func TestSignup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.signup("taken@example.com")

	tests := []struct {
		name      string
		email     string
		password  string
		code      connect.Code // 0: success
		fragments []string
	}{
		{name: "ok", email: "Ada@Example.COM", password: goodPassword},
		{name: "empty email", email: "", password: goodPassword, code: connect.CodeInvalidArgument, fragments: []string{"email: required"}},
		{name: "not an email", email: "ada.example.com", password: goodPassword, code: connect.CodeInvalidArgument, fragments: []string{"email: not a valid email address"}},
		{name: "display name", email: "Ada <ada2@example.com>", password: goodPassword, code: connect.CodeInvalidArgument, fragments: []string{"email: not a valid"}},
		{name: "email too long", email: strings.Repeat("a", 250) + "@x.io", password: goodPassword, code: connect.CodeInvalidArgument, fragments: []string{"at most 254"}},
		{name: "password too short", email: "b@example.com", password: "sh0rt!", code: connect.CodeInvalidArgument, fragments: []string{"password: weak password, too short", rule}},
		{name: "password too long", email: "b@example.com", password: strings.Repeat("ab1", 43), code: connect.CodeInvalidArgument, fragments: []string{"too long", rule}},
		{name: "only letters", email: "b@example.com", password: "onlyletterspassword", code: connect.CodeInvalidArgument, fragments: []string{"only letters", rule}},
		{name: "only digits", email: "b@example.com", password: "12345678901", code: connect.CodeInvalidArgument, fragments: []string{"only digits", rule}},
		{name: "contains the email's name", email: "grace@example.com", password: "my-Grace-2024!", code: connect.CodeInvalidArgument, fragments: []string{"contains the name in your email address", rule}},
		{name: "duplicate", email: "taken@example.com", password: goodPassword, code: connect.CodeAlreadyExists, fragments: []string{"already exists"}},
		{name: "duplicate in other case", email: " TAKEN@example.com ", password: goodPassword, code: connect.CodeAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.count(`SELECT count(*) FROM controlplane.accounts`)
			sessions := e.count(`SELECT count(*) FROM controlplane.sessions`)
			resp, err := e.client.Signup(ctx, req(&controlplanev1.SignupRequest{Email: tt.email, Password: tt.password}, ""))
			if tt.code != 0 {
				wantErr(t, err, tt.code, tt.fragments...)
				// Nothing half-written.
				if n := e.count(`SELECT count(*) FROM controlplane.accounts`); n != before {
					t.Fatalf("accounts: %d rows, want %d", n, before)
				}
				if n := e.count(`SELECT count(*) FROM controlplane.sessions`); n != sessions {
					t.Fatalf("sessions: %d rows, want %d", n, sessions)
				}
				return
			}
			wantOK(t, err)
			a := resp.Msg.GetAccount()
			if a.GetEmail() != "ada@example.com" || a.GetEmailVerified() || a.GetId() == "" || a.GetCreatedAt() == nil {
				t.Fatalf("account = %v", a)
			}
			s := resp.Msg.GetSession()
			if !strings.HasPrefix(s.GetAccessToken(), "sov_at_") || !strings.HasPrefix(s.GetRefreshToken(), "sov_rt_") {
				t.Fatalf("session tokens %q, %q", s.GetAccessToken(), s.GetRefreshToken())
			}
			if d := s.GetAccessExpiresAt().AsTime().Sub(e.clock.Now()); d.Minutes() != 15 {
				t.Fatalf("access token lives %s, want 15m", d)
			}
			if d := s.GetRefreshExpiresAt().AsTime().Sub(e.clock.Now()); d.Hours() != 30*24 {
				t.Fatalf("refresh token lives %s, want 720h", d)
			}
			who, err := e.whoami(s.GetAccessToken())
			wantOK(t, err)
			if who.GetAccount().GetId() != a.GetId() || who.GetCredential() != "session" {
				t.Fatalf("whoami = %v", who)
			}
			// A verification mail, and only hashes in the database.
			tok := e.lastToken("ada@example.com", "Verify")
			if n := e.count(`SELECT count(*) FROM controlplane.mail_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')`, tok); n != 1 {
				t.Fatalf("mail token rows = %d", n)
			}
			if n := e.count(`SELECT count(*) FROM controlplane.sessions WHERE access_token_hash = $1 OR refresh_token_hash = $1`, s.GetAccessToken()); n != 0 {
				t.Fatal("a session token is stored in the clear")
			}
			var hash string
			if err := e.pool.QueryRow(ctx, `SELECT password_hash FROM controlplane.accounts WHERE id = $1`, a.GetId()).Scan(&hash); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
				t.Fatalf("password hash %q is not argon2id PHC", hash)
			}
		})
	}
}

func TestSignupThrottledPerIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *accountsConfig) { c.SignupPerIP = limit(2) })
	e.signup("one@example.com")
	e.signup("two@example.com")
	_, err := e.client.Signup(context.Background(), req(&controlplanev1.SignupRequest{Email: "three@example.com", Password: goodPassword}, ""))
	wantErr(t, err, connect.CodeResourceExhausted, "too many signups; try again in")
	if n := e.count(`SELECT count(*) FROM controlplane.accounts`); n != 2 {
		t.Fatalf("%d accounts, want 2", n)
	}
}
