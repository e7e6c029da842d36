package accounts_test

import (
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/controlplane/accounts"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.signup("ada@example.com")

	tests := []struct {
		name     string
		email    string
		password string
		code     connect.Code
	}{
		{name: "ok", email: "ada@example.com", password: goodPassword},
		{name: "ok, email in other case", email: " ADA@example.com", password: goodPassword},
		{name: "wrong password", email: "ada@example.com", password: "wrong horse battery", code: connect.CodeUnauthenticated},
		{name: "unknown email", email: "nobody@example.com", password: goodPassword, code: connect.CodeUnauthenticated},
		{name: "not an email", email: "nobody", password: goodPassword, code: connect.CodeUnauthenticated},
		{name: "empty", code: connect.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := e.login(tt.email, tt.password)
			if tt.code != 0 {
				// The same code and message whether or not the account exists.
				wantErr(t, err, tt.code)
				if got := err.(*connect.Error).Message(); got != "email or password is wrong" {
					t.Fatalf("message %q", got)
				}
				return
			}
			wantOK(t, err)
			who, err := e.whoami(s.GetAccessToken())
			wantOK(t, err)
			if who.GetAccount().GetEmail() != "ada@example.com" {
				t.Fatalf("whoami = %v", who)
			}
		})
	}
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()

	t.Run("per account", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *accountsConfig) { c.LoginPerEmail = limit(3) })
		e.signup("ada@example.com")
		for i := range 3 {
			_, err := e.login("ada@example.com", fmt.Sprint("wrong password ", i))
			wantErr(t, err, connect.CodeUnauthenticated)
		}
		// Over the limit, even the right password is refused.
		_, err := e.login("ada@example.com", goodPassword)
		wantErr(t, err, connect.CodeResourceExhausted, "too many login attempts; try again in 20s")
		throttled := err.(*connect.Error).Message()
		// An unknown address is throttled with the very same answer.
		for range 3 {
			_, err = e.login("nobody@example.com", goodPassword)
			wantErr(t, err, connect.CodeUnauthenticated, "email or password is wrong")
		}
		_, err = e.login("nobody@example.com", goodPassword)
		wantErr(t, err, connect.CodeResourceExhausted)
		if got := err.(*connect.Error).Message(); got != throttled {
			t.Fatalf("unknown email throttled with %q, existing with %q", got, throttled)
		}
		// Other accounts are not affected, and the account recovers.
		e.signup("grace@example.com")
		_, err = e.login("grace@example.com", goodPassword)
		wantOK(t, err)
		e.clock.Advance(20 * time.Second)
		_, err = e.login("ada@example.com", goodPassword)
		wantOK(t, err)
	})

	t.Run("per IP", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *accountsConfig) { c.LoginPerIP = limit(4) })
		e.signup("ada@example.com")
		for i := range 4 {
			_, err := e.login(fmt.Sprintf("user%d@example.com", i), goodPassword)
			wantErr(t, err, connect.CodeUnauthenticated)
		}
		_, err := e.login("ada@example.com", goodPassword)
		wantErr(t, err, connect.CodeResourceExhausted, "too many login attempts; try again in 15s")
		e.clock.Advance(15 * time.Second)
		_, err = e.login("ada@example.com", goodPassword)
		wantOK(t, err)
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for name, cfg := range map[string]accountsConfig{
		"no pool":    {Mailer: e.box},
		"no mailer":  {Pool: e.pool},
		"bad limit":  {Pool: e.pool, Mailer: e.box, LoginPerIP: ratelimit.Limit{Rate: 1, Per: -time.Second}},
		"bad argon2": {Pool: e.pool, Mailer: e.box, Argon2: accounts.Argon2Params{Memory: 1}},
	} {
		if _, err := accounts.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
