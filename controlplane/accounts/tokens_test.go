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

func TestPersonalAccessTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	s := e.signup("ada@example.com")
	access := s.GetAccessToken()
	create := func(name string, ttl int64) (*controlplanev1.CreateTokenResponse, error) {
		resp, err := e.client.CreateToken(ctx, req(&controlplanev1.CreateTokenRequest{Name: name, TtlSeconds: ttl}, access))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	list := func(tok string) []*controlplanev1.PersonalAccessToken {
		t.Helper()
		resp, err := e.client.ListTokens(ctx, req(&controlplanev1.ListTokensRequest{}, tok))
		wantOK(t, err)
		return resp.Msg.GetTokens()
	}
	revoke := func(tok, id string) error {
		_, err := e.client.RevokeToken(ctx, req(&controlplanev1.RevokeTokenRequest{Id: id}, tok))
		return err
	}

	ci, err := create("ci", 0)
	wantOK(t, err)
	e.clock.Advance(time.Second)

	tests := []struct {
		name      string
		tokName   string
		ttl       int64
		code      connect.Code
		fragments []string
	}{
		{name: "ok with expiry", tokName: "laptop", ttl: 3600},
		{name: "ok, 64 characters", tokName: strings.Repeat("é", 64)},
		{name: "ok, one year", tokName: "yearly", ttl: 365 * 24 * 3600},
		{name: "empty name", tokName: "  ", code: connect.CodeInvalidArgument, fragments: []string{"name: required"}},
		{name: "name too long", tokName: strings.Repeat("x", 65), code: connect.CodeInvalidArgument, fragments: []string{"name: too long: at most 64"}},
		{name: "control character", tokName: "a\nb", code: connect.CodeInvalidArgument, fragments: []string{"control characters"}},
		{name: "negative ttl", tokName: "neg", ttl: -1, code: connect.CodeInvalidArgument, fragments: []string{"ttl_seconds: must not be negative"}},
		{name: "ttl over a year", tokName: "long", ttl: 365*24*3600 + 1, code: connect.CodeInvalidArgument, fragments: []string{"ttl_seconds: at most 31536000"}},
		{name: "huge ttl", tokName: "huge", ttl: 1 << 62, code: connect.CodeInvalidArgument, fragments: []string{"ttl_seconds"}},
		{name: "duplicate live name", tokName: "ci", code: connect.CodeAlreadyExists, fragments: []string{"name: a live personal access token with this name exists"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.count(`SELECT count(*) FROM controlplane.personal_access_tokens`)
			resp, err := create(tt.tokName, tt.ttl)
			if tt.code != 0 {
				wantErr(t, err, tt.code, tt.fragments...)
				if n := e.count(`SELECT count(*) FROM controlplane.personal_access_tokens`); n != before {
					t.Fatalf("%d tokens, want %d", n, before)
				}
				return
			}
			wantOK(t, err)
			secret := resp.GetSecret()
			if token.Check(secret, token.PersonalAccessToken) != nil {
				t.Fatalf("secret %q is not a PAT", secret)
			}
			pt := resp.GetToken()
			if pt.GetName() != strings.TrimSpace(tt.tokName) || !strings.HasPrefix(secret, pt.GetPrefix()) || len(pt.GetPrefix()) != len("sov_pat_XXXX") {
				t.Fatalf("token = %v", pt)
			}
			if (tt.ttl == 0) != (pt.GetExpiresAt() == nil) {
				t.Fatalf("expires_at = %v for ttl %d", pt.GetExpiresAt(), tt.ttl)
			}
			if tt.ttl > 0 && pt.GetExpiresAt().AsTime().Sub(e.clock.Now()) != time.Duration(tt.ttl)*time.Second {
				t.Fatalf("expires_at = %v, want now + %ds", pt.GetExpiresAt().AsTime(), tt.ttl)
			}
		})
	}

	// A PAT is a credential; its use is recorded at most once a minute.
	who, err := e.whoami(ci.GetSecret())
	wantOK(t, err)
	if who.GetCredential() != "personal_access_token" || who.GetAccount().GetEmail() != "ada@example.com" {
		t.Fatalf("whoami = %v", who)
	}
	lastUsed := func() time.Time {
		for _, pt := range list(access) {
			if pt.GetId() == ci.GetToken().GetId() {
				return pt.GetLastUsedAt().AsTime()
			}
		}
		t.Fatal("ci token not listed")
		return time.Time{}
	}
	first := lastUsed()
	if !first.Equal(e.clock.Now()) {
		t.Fatalf("last used %v, want %v", first, e.clock.Now())
	}
	e.clock.Advance(30 * time.Second)
	_, err = e.whoami(ci.GetSecret())
	wantOK(t, err)
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last used rewritten within a minute: %v", got)
	}
	e.clock.Advance(31 * time.Second)
	_, err = e.whoami(ci.GetSecret())
	wantOK(t, err)
	if got := lastUsed(); !got.Equal(e.clock.Now()) {
		t.Fatalf("last used %v, want %v", got, e.clock.Now())
	}

	// Lists show newest first, never the secret; a PAT may list too.
	listed := list(ci.GetSecret())
	if len(listed) != 4 || listed[len(listed)-1].GetId() != ci.GetToken().GetId() {
		t.Fatalf("listed %d tokens: %v", len(listed), listed)
	}
	for _, pt := range listed {
		if strings.Contains(pt.String(), ci.GetSecret()[len("sov_pat_XXXX"):]) {
			t.Fatal("a list shows a secret")
		}
	}

	// Another account sees none of them and cannot revoke them.
	g := e.signup("grace@example.com")
	if got := list(g.GetAccessToken()); len(got) != 0 {
		t.Fatalf("grace lists %v", got)
	}
	wantErr(t, revoke(g.GetAccessToken(), ci.GetToken().GetId()), connect.CodeNotFound, "personal access token not found")
	wantErr(t, revoke(access, "not-a-uuid"), connect.CodeNotFound)
	wantErr(t, revoke(access, "00000000-0000-0000-0000-000000000000"), connect.CodeNotFound)
	wantErr(t, revoke("", ci.GetToken().GetId()), connect.CodeUnauthenticated, "missing credentials")
	_, err = e.whoami(ci.GetSecret())
	wantOK(t, err)

	// Revoke: the token stops working, the name is free again, revoking
	// twice is fine.
	wantOK(t, revoke(access, ci.GetToken().GetId()))
	wantOK(t, revoke(access, ci.GetToken().GetId()))
	_, err = e.whoami(ci.GetSecret())
	wantErr(t, err, connect.CodeUnauthenticated, "token revoked")
	again, err := create("ci", 0)
	wantOK(t, err)
	if again.GetToken().GetId() == ci.GetToken().GetId() {
		t.Fatal("same id")
	}
	for _, pt := range list(access) {
		if pt.GetId() == ci.GetToken().GetId() && pt.GetRevokedAt() == nil {
			t.Fatal("revoked token listed without revoked_at")
		}
	}

	// An expired token's name is free too.
	_, err = create("short-lived", 60)
	wantOK(t, err)
	_, err = create("short-lived", 60)
	wantErr(t, err, connect.CodeAlreadyExists)
	e.clock.Advance(time.Minute)
	_, err = create("short-lived", 60)
	wantOK(t, err)
}
