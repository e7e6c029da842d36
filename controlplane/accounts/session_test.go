package accounts_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/token"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
)

func (e *env) refresh(rt string) (*controlplanev1.Session, error) {
	resp, err := e.client.Refresh(context.Background(), req(&controlplanev1.RefreshRequest{RefreshToken: rt}, ""))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetSession(), nil
}

func (e *env) logout(tok string) error {
	_, err := e.client.Logout(context.Background(), req(&controlplanev1.LogoutRequest{}, tok))
	return err
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	s := e.signup("ada@example.com")
	loggedOut, err := e.login("ada@example.com", goodPassword)
	wantOK(t, err)
	wantOK(t, e.logout(loggedOut.GetAccessToken()))
	expiring, err := e.login("ada@example.com", goodPassword)
	wantOK(t, err)
	pat, err := e.client.CreateToken(ctx, req(&controlplanev1.CreateTokenRequest{Name: "ci", TtlSeconds: 3600}, s.GetAccessToken()))
	wantOK(t, err)
	revokedPAT, err := e.client.CreateToken(ctx, req(&controlplanev1.CreateTokenRequest{Name: "old"}, s.GetAccessToken()))
	wantOK(t, err)
	_, err = e.client.RevokeToken(ctx, req(&controlplanev1.RevokeTokenRequest{Id: revokedPAT.Msg.GetToken().GetId()}, s.GetAccessToken()))
	wantOK(t, err)
	// Later: the first login's access token and the PAT expire.
	e.clock.Advance(2 * time.Hour)
	s2, err := e.refresh(s.GetRefreshToken())
	wantOK(t, err)

	good := s2.GetAccessToken()
	tampered := []byte(good)
	tampered[10] ^= 1

	tests := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
		code   connect.Code
		reason string
	}{
		{name: "session", header: "Bearer " + good},
		{name: "scheme is case-insensitive", header: "bearer " + good},
		{name: "missing", code: connect.CodeUnauthenticated, reason: "missing credentials: send Authorization: Bearer <token>"},
		{name: "other scheme", header: "Basic YWRhOnB3", code: connect.CodeUnauthenticated, reason: "missing credentials"},
		{name: "empty bearer", header: "Bearer ", code: connect.CodeUnauthenticated, reason: "missing credentials"},
		{name: "garbage", header: "Bearer hello", code: connect.CodeUnauthenticated, reason: "malformed token"},
		{name: "bad checksum", header: "Bearer " + string(tampered), code: connect.CodeUnauthenticated, reason: "malformed token"},
		{name: "unknown", header: "Bearer " + token.New(token.AccessToken), code: connect.CodeUnauthenticated, reason: "token not recognised"},
		{name: "refresh token", header: "Bearer " + s2.GetRefreshToken(), code: connect.CodeUnauthenticated, reason: "a refresh token is not a credential"},
		{name: "project key", header: "Bearer " + token.New(token.SecretKey), code: connect.CodeUnauthenticated, reason: "a project API key does not work on the control plane"},
		{name: "expired session", header: "Bearer " + expiring.GetAccessToken(), code: connect.CodeUnauthenticated, reason: "token expired"},
		{name: "logged out", header: "Bearer " + loggedOut.GetAccessToken(), code: connect.CodeUnauthenticated, reason: "token revoked"},
		{name: "expired PAT", header: "Bearer " + pat.Msg.GetSecret(), code: connect.CodeUnauthenticated, reason: "token expired"},
		{name: "revoked PAT", header: "Bearer " + revokedPAT.Msg.GetSecret(), code: connect.CodeUnauthenticated, reason: "token revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := connect.NewRequest(&controlplanev1.WhoAmIRequest{})
			if tt.header != "" {
				r.Header().Set("Authorization", tt.header)
			}
			resp, err := e.client.WhoAmI(ctx, r)
			if tt.code != 0 {
				wantErr(t, err, tt.code, tt.reason)
				return
			}
			wantOK(t, err)
			if resp.Msg.GetAccount().GetEmail() != "ada@example.com" {
				t.Fatalf("whoami = %v", resp.Msg)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	first := e.signup("ada@example.com")
	other, err := e.login("ada@example.com", goodPassword)
	wantOK(t, err)

	// Rotation: a new pair; the old refresh token is spent.
	second, err := e.refresh(first.GetRefreshToken())
	wantOK(t, err)
	if second.GetAccessToken() == first.GetAccessToken() || second.GetRefreshToken() == first.GetRefreshToken() {
		t.Fatal("refresh did not give new tokens")
	}
	if second.GetAccount().GetEmail() != "ada@example.com" {
		t.Fatalf("account = %v", second.GetAccount())
	}
	third, err := e.refresh(second.GetRefreshToken())
	wantOK(t, err)
	_, err = e.whoami(third.GetAccessToken())
	wantOK(t, err)

	// Reuse of a spent refresh token signs the whole login out.
	_, err = e.refresh(first.GetRefreshToken())
	wantErr(t, err, connect.CodeUnauthenticated, "refresh token reuse detected; all sessions of this login were signed out")
	for name, tok := range map[string]string{"first": first.GetAccessToken(), "second": second.GetAccessToken(), "third": third.GetAccessToken()} {
		_, err := e.whoami(tok)
		wantErr(t, err, connect.CodeUnauthenticated, "token revoked")
		_ = name
	}
	_, err = e.refresh(third.GetRefreshToken())
	wantErr(t, err, connect.CodeUnauthenticated, "token revoked")
	// Another login of the same account lives on.
	_, err = e.whoami(other.GetAccessToken())
	wantOK(t, err)
	if _, err := e.refresh(other.GetRefreshToken()); err != nil {
		t.Fatalf("other login's refresh: %v", err)
	}

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{name: "empty", token: "", reason: "malformed token"},
		{name: "access token", token: other.GetAccessToken(), reason: "malformed token"},
		{name: "unknown", token: token.New(token.RefreshToken), reason: "token not recognised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.refresh(tt.token)
			wantErr(t, err, connect.CodeUnauthenticated, tt.reason)
		})
	}

	t.Run("expired", func(t *testing.T) {
		late, err := e.login("ada@example.com", goodPassword)
		wantOK(t, err)
		e.clock.Advance(31 * 24 * time.Hour)
		_, err = e.refresh(late.GetRefreshToken())
		wantErr(t, err, connect.CodeUnauthenticated, "token expired")
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	first := e.signup("ada@example.com")
	second, err := e.refresh(first.GetRefreshToken())
	wantOK(t, err)
	other, err := e.login("ada@example.com", goodPassword)
	wantOK(t, err)

	wantOK(t, e.logout(second.GetAccessToken()))
	// The whole login ends, including the access token from before the
	// refresh; the other login does not.
	for _, tok := range []string{first.GetAccessToken(), second.GetAccessToken()} {
		_, err := e.whoami(tok)
		wantErr(t, err, connect.CodeUnauthenticated, "token revoked")
	}
	_, err = e.refresh(second.GetRefreshToken())
	wantErr(t, err, connect.CodeUnauthenticated, "token revoked")
	_, err = e.whoami(other.GetAccessToken())
	wantOK(t, err)

	wantErr(t, e.logout(second.GetAccessToken()), connect.CodeUnauthenticated, "token revoked")
	wantErr(t, e.logout(""), connect.CodeUnauthenticated, "missing credentials")

	pat, err := e.client.CreateToken(ctx, req(&controlplanev1.CreateTokenRequest{Name: "ci"}, other.GetAccessToken()))
	wantOK(t, err)
	wantErr(t, e.logout(pat.Msg.GetSecret()), connect.CodeFailedPrecondition, "RevokeToken")
}
