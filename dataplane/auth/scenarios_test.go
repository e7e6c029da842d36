package auth_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/auth"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

func ptr[T any](v T) *T { return &v }

// TestConnectScenarios calls every AuthService and AuthAdminService RPC
// with each kind of bad input, and checks the code and message.
func TestConnectScenarios(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	s := e.signUp(e.a, "ada@example.com")
	at := s.GetAccessToken()
	otherUser := e.signUp(e.b, "bob@example.com").GetUser().GetId()
	if _, err := e.admin.SetProvider(ctx, req(&dataplanev1.SetProviderRequest{Provider: &dataplanev1.Provider{Name: "idp"}}, e.a.sk, "")); err != nil {
		t.Fatal(err)
	}
	a, ad := e.auth, e.admin
	pk, sk := e.a.pk, e.a.sk
	type call func(context.Context) error
	tests := []struct {
		name string
		call call
		code connect.Code
		msg  string
	}{
		// AuthService.
		{"SignUp/no key", func(ctx context.Context) error {
			_, err := a.SignUp(ctx, req(&dataplanev1.SignUpRequest{Email: "x@example.com", Password: goodPW}, "", ""))
			return err
		}, connect.CodeUnauthenticated, "missing API key"},
		{"SignUp/no email", func(ctx context.Context) error {
			_, err := a.SignUp(ctx, req(&dataplanev1.SignUpRequest{Password: goodPW}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "email: required"},
		{"SignUp/bad email", func(ctx context.Context) error {
			_, err := a.SignUp(ctx, req(&dataplanev1.SignUpRequest{Email: "Ada <ada@example.com>", Password: goodPW}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "email: not a valid email address"},
		{"SignUp/weak password", func(ctx context.Context) error {
			_, err := a.SignUp(ctx, req(&dataplanev1.SignUpRequest{Email: "x@example.com", Password: "1234567890"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "password: weak password, only digits"},
		{"SignUp/taken", func(ctx context.Context) error {
			_, err := a.SignUp(ctx, req(&dataplanev1.SignUpRequest{Email: "ADA@example.com", Password: goodPW}, pk, ""))
			return err
		}, connect.CodeAlreadyExists, "a user with this email already exists"},
		{"Token/no grant", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "grant_type: required"},
		{"Token/bad grant", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "client_credentials"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, `grant_type: must be "password", "refresh_token" or "anonymous"`},
		{"Token/password without email", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Password: goodPW}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "email: required"},
		{"Token/password without password", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "ada@example.com"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "password: required"},
		{"Token/wrong password", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "ada@example.com", Password: "wrong password 1"}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid email or password"},
		{"Token/unknown user", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "nobody@example.com", Password: goodPW}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid email or password"},
		{"Token/user of another project", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "bob@example.com", Password: goodPW}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid email or password"},
		{"Token/refresh without token", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "refresh_token"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "refresh_token: required"},
		{"Token/malformed refresh token", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "refresh_token", RefreshToken: "sov_rt_nope"}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid refresh token"},
		{"Token/refresh token of another project", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "refresh_token", RefreshToken: s.GetRefreshToken()}, e.b.pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid refresh token"},
		{"Token/access token of another project", func(ctx context.Context) error {
			_, err := a.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "anonymous"}, e.b.pk, at))
			return err
		}, connect.CodeUnauthenticated, auth.ReasonUnknownKey},
		{"SignOut/no user", func(ctx context.Context) error {
			_, err := a.SignOut(ctx, req(&dataplanev1.SignOutRequest{}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, auth.MissingUserMessage},
		{"SignOut/bad scope", func(ctx context.Context) error {
			_, err := a.SignOut(ctx, req(&dataplanev1.SignOutRequest{Scope: "global"}, pk, at))
			return err
		}, connect.CodeInvalidArgument, `scope: must be "session" or "all"`},
		{"GetUser/no user", func(ctx context.Context) error {
			_, err := a.GetUser(ctx, req(&dataplanev1.GetUserRequest{}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, auth.MissingUserMessage},
		{"GetUser/secret key alone is no user", func(ctx context.Context) error {
			_, err := a.GetUser(ctx, req(&dataplanev1.GetUserRequest{}, sk, ""))
			return err
		}, connect.CodeUnauthenticated, auth.MissingUserMessage},
		{"UpdateUser/no user", func(ctx context.Context) error {
			_, err := a.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Email: "x@example.com"}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, auth.MissingUserMessage},
		{"UpdateUser/nothing", func(ctx context.Context) error {
			_, err := a.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{}, pk, at))
			return err
		}, connect.CodeInvalidArgument, "give an email, a password or both"},
		{"UpdateUser/bad email", func(ctx context.Context) error {
			_, err := a.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Email: "nope"}, pk, at))
			return err
		}, connect.CodeInvalidArgument, "email: not a valid email address"},
		{"UpdateUser/weak password", func(ctx context.Context) error {
			_, err := a.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Password: "ada is great 1"}, pk, at))
			return err
		}, connect.CodeInvalidArgument, "it contains the name in your email address"},
		{"Recover/no email", func(ctx context.Context) error {
			_, err := a.Recover(ctx, req(&dataplanev1.RecoverRequest{}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "email: required"},
		{"Recover/bad email", func(ctx context.Context) error {
			_, err := a.Recover(ctx, req(&dataplanev1.RecoverRequest{Email: "@"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "email: not a valid email address"},
		{"Verify/no type", func(ctx context.Context) error {
			_, err := a.Verify(ctx, req(&dataplanev1.VerifyRequest{Token: "x"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "type: required"},
		{"Verify/bad type", func(ctx context.Context) error {
			_, err := a.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "magiclink", Token: "x"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, `type: must be "signup" or "recovery"`},
		{"Verify/no token", func(ctx context.Context) error {
			_, err := a.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "signup"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "token: required"},
		{"Verify/malformed token", func(ctx context.Context) error {
			_, err := a.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "signup", Token: "sov_mt_x"}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid token"},
		{"Verify/recovery without password", func(ctx context.Context) error {
			_, err := a.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "recovery", Token: e.mailToken(e.a, "ada@example.com")}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "new_password: required"},
		{"Verify/signup token as recovery", func(ctx context.Context) error {
			_, err := a.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "recovery", Token: e.mailToken(e.a, "ada@example.com"), NewPassword: goodPW + "!"}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid token"},
		{"Verify/token of another project", func(ctx context.Context) error {
			_, err := a.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "signup", Token: e.mailToken(e.a, "ada@example.com")}, e.b.pk, ""))
			return err
		}, connect.CodeUnauthenticated, "invalid token"},
		{"MfaEnroll/no user", func(ctx context.Context) error {
			_, err := a.MfaEnroll(ctx, req(&dataplanev1.MfaEnrollRequest{}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, auth.MissingUserMessage},
		{"MfaVerify/no user", func(ctx context.Context) error {
			_, err := a.MfaVerify(ctx, req(&dataplanev1.MfaVerifyRequest{Code: "123456"}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, auth.MissingUserMessage},
		{"MfaVerify/no code", func(ctx context.Context) error {
			_, err := a.MfaVerify(ctx, req(&dataplanev1.MfaVerifyRequest{}, pk, at))
			return err
		}, connect.CodeInvalidArgument, "code: required"},
		{"MfaVerify/not enrolled", func(ctx context.Context) error {
			_, err := a.MfaVerify(ctx, req(&dataplanev1.MfaVerifyRequest{Code: "123456"}, pk, at))
			return err
		}, connect.CodeFailedPrecondition, "call MfaEnroll first"},
		{"Authorize/no provider", func(ctx context.Context) error {
			_, err := a.Authorize(ctx, req(&dataplanev1.AuthorizeRequest{}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "provider: required"},
		{"Authorize/unknown provider", func(ctx context.Context) error {
			_, err := a.Authorize(ctx, req(&dataplanev1.AuthorizeRequest{Provider: "nope"}, pk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"Callback/no code", func(ctx context.Context) error {
			_, err := a.Callback(ctx, req(&dataplanev1.CallbackRequest{State: "s"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "code: required"},
		{"Callback/no state", func(ctx context.Context) error {
			_, err := a.Callback(ctx, req(&dataplanev1.CallbackRequest{Code: "c"}, pk, ""))
			return err
		}, connect.CodeInvalidArgument, "state: required"},
		{"Callback/bad state", func(ctx context.Context) error {
			_, err := a.Callback(ctx, req(&dataplanev1.CallbackRequest{Code: "c", State: "forged"}, pk, ""))
			return err
		}, connect.CodeUnauthenticated, "OAuth sign-in failed"},

		// AuthAdminService.
		{"admin/no key", func(ctx context.Context) error {
			_, err := ad.ListUsers(ctx, req(&dataplanev1.ListUsersRequest{}, "", ""))
			return err
		}, connect.CodeUnauthenticated, "missing API key"},
		{"admin/publishable key", func(ctx context.Context) error {
			_, err := ad.ListUsers(ctx, req(&dataplanev1.ListUsersRequest{}, pk, ""))
			return err
		}, connect.CodePermissionDenied, "needs the project's secret key"},
		{"admin/secret key acting as a user", func(ctx context.Context) error {
			_, err := ad.GetUser(ctx, req(&dataplanev1.AuthAdminServiceGetUserRequest{Id: s.GetUser().GetId()}, sk, at))
			return err
		}, connect.CodePermissionDenied, "needs the project's secret key"},
		{"ListUsers/limit too big", func(ctx context.Context) error {
			_, err := ad.ListUsers(ctx, req(&dataplanev1.ListUsersRequest{Limit: 1001}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "limit: must be from 1 to 1000"},
		{"ListUsers/negative limit", func(ctx context.Context) error {
			_, err := ad.ListUsers(ctx, req(&dataplanev1.ListUsersRequest{Limit: -1}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "limit: must be from 1 to 1000"},
		{"ListUsers/bad cursor", func(ctx context.Context) error {
			_, err := ad.ListUsers(ctx, req(&dataplanev1.ListUsersRequest{Cursor: "!!"}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "cursor: not a cursor this API gave"},
		{"GetUser/no id", func(ctx context.Context) error {
			_, err := ad.GetUser(ctx, req(&dataplanev1.AuthAdminServiceGetUserRequest{}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "id: required"},
		{"GetUser/not a uuid", func(ctx context.Context) error {
			_, err := ad.GetUser(ctx, req(&dataplanev1.AuthAdminServiceGetUserRequest{Id: "1 OR 1=1"}, sk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"GetUser/another project's user", func(ctx context.Context) error {
			_, err := ad.GetUser(ctx, req(&dataplanev1.AuthAdminServiceGetUserRequest{Id: otherUser}, sk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"CreateUser/bad email", func(ctx context.Context) error {
			_, err := ad.CreateUser(ctx, req(&dataplanev1.CreateUserRequest{Email: "x"}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "email: not a valid email address"},
		{"CreateUser/weak password", func(ctx context.Context) error {
			_, err := ad.CreateUser(ctx, req(&dataplanev1.CreateUserRequest{Email: "x@example.com", Password: "short"}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "password: weak password, too short"},
		{"CreateUser/bad role", func(ctx context.Context) error {
			_, err := ad.CreateUser(ctx, req(&dataplanev1.CreateUserRequest{Email: "x@example.com", Role: "Admin!"}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, `role: "Admin!" is not a valid role`},
		{"CreateUser/role service", func(ctx context.Context) error {
			_, err := ad.CreateUser(ctx, req(&dataplanev1.CreateUserRequest{Email: "x@example.com", Role: "service"}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, `role: "service" is reserved`},
		{"CreateUser/role anon", func(ctx context.Context) error {
			_, err := ad.CreateUser(ctx, req(&dataplanev1.CreateUserRequest{Email: "x@example.com", Role: "anon"}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, `role: "anon" is reserved`},
		{"CreateUser/taken", func(ctx context.Context) error {
			_, err := ad.CreateUser(ctx, req(&dataplanev1.CreateUserRequest{Email: "ada@example.com"}, sk, ""))
			return err
		}, connect.CodeAlreadyExists, "already exists"},
		{"DeleteUser/no id", func(ctx context.Context) error {
			_, err := ad.DeleteUser(ctx, req(&dataplanev1.DeleteUserRequest{}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "id: required"},
		{"DeleteUser/unknown", func(ctx context.Context) error {
			_, err := ad.DeleteUser(ctx, req(&dataplanev1.DeleteUserRequest{Id: "01890000-0000-7000-8000-000000000000"}, sk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"DeleteUser/another project's user", func(ctx context.Context) error {
			_, err := ad.DeleteUser(ctx, req(&dataplanev1.DeleteUserRequest{Id: otherUser}, sk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"UpdateUser/no id", func(ctx context.Context) error {
			_, err := ad.UpdateUser(ctx, req(&dataplanev1.AuthAdminServiceUpdateUserRequest{Disabled: ptr(true)}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "id: required"},
		{"UpdateUser/nothing", func(ctx context.Context) error {
			_, err := ad.UpdateUser(ctx, req(&dataplanev1.AuthAdminServiceUpdateUserRequest{Id: s.GetUser().GetId()}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "give at least one"},
		{"UpdateUser/bad role", func(ctx context.Context) error {
			_, err := ad.UpdateUser(ctx, req(&dataplanev1.AuthAdminServiceUpdateUserRequest{Id: s.GetUser().GetId(), Role: ptr(strings.Repeat("r", 64))}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "is not a valid role"},
		{"UpdateUser/unknown", func(ctx context.Context) error {
			_, err := ad.UpdateUser(ctx, req(&dataplanev1.AuthAdminServiceUpdateUserRequest{Id: otherUser, Role: ptr("x")}, sk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"RevokeSessions/no id", func(ctx context.Context) error {
			_, err := ad.RevokeSessions(ctx, req(&dataplanev1.RevokeSessionsRequest{}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "user_id: required"},
		{"RevokeSessions/unknown", func(ctx context.Context) error {
			_, err := ad.RevokeSessions(ctx, req(&dataplanev1.RevokeSessionsRequest{UserId: otherUser}, sk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"SetProvider/none", func(ctx context.Context) error {
			_, err := ad.SetProvider(ctx, req(&dataplanev1.SetProviderRequest{}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "provider: required"},
		{"SetProvider/no name", func(ctx context.Context) error {
			_, err := ad.SetProvider(ctx, req(&dataplanev1.SetProviderRequest{Provider: &dataplanev1.Provider{Issuer: "https://x"}}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "provider.name: required"},
		{"DeleteProvider/no name", func(ctx context.Context) error {
			_, err := ad.DeleteProvider(ctx, req(&dataplanev1.DeleteProviderRequest{}, sk, ""))
			return err
		}, connect.CodeInvalidArgument, "name: required"},
		{"DeleteProvider/unknown", func(ctx context.Context) error {
			_, err := ad.DeleteProvider(ctx, req(&dataplanev1.DeleteProviderRequest{Name: "nope"}, sk, ""))
			return err
		}, connect.CodeNotFound, "not found"},
		{"ListProviders/publishable key", func(ctx context.Context) error {
			_, err := ad.ListProviders(ctx, req(&dataplanev1.ListProvidersRequest{}, pk, ""))
			return err
		}, connect.CodePermissionDenied, "secret key"},
		{"ListSigningKeys/publishable key", func(ctx context.Context) error {
			_, err := ad.ListSigningKeys(ctx, req(&dataplanev1.ListSigningKeysRequest{}, pk, ""))
			return err
		}, connect.CodePermissionDenied, "secret key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(ctx)
			if c, msg := code(err); c != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %v %q, want %v with %q", c, msg, tt.code, tt.msg)
			}
		})
	}
}

// TestAdmin covers the admin calls that succeed: create, list with paging
// and prefix, role, revoke, delete, providers.
func TestAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	sk := e.a.sk
	var ids []string
	for _, email := range []string{"m1@example.com", "m2@example.com", "m3@example.com", "z@example.com"} {
		res, err := e.admin.CreateUser(ctx, req(&dataplanev1.CreateUserRequest{Email: email, Password: goodPW, EmailVerified: email != "z@example.com", Role: "editor"}, sk, ""))
		if err != nil {
			t.Fatal(err)
		}
		if u := res.Msg.GetUser(); u.GetRole() != "editor" || u.GetEmailVerified() != (email != "z@example.com") {
			t.Fatalf("created %v", u)
		}
		ids = append(ids, res.Msg.GetUser().GetId())
	}
	if subj, _ := e.lastMail(e.a, "z@example.com"); subj == "" {
		t.Fatal("no verification mail for an unverified created user")
	}
	var got []string
	cursor := ""
	for {
		res, err := e.admin.ListUsers(ctx, req(&dataplanev1.ListUsersRequest{Limit: 2, Cursor: cursor, EmailPrefix: "M"}, sk, ""))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range res.Msg.GetUsers() {
			got = append(got, u.GetEmail())
		}
		if cursor = res.Msg.GetNextCursor(); cursor == "" {
			break
		}
	}
	if strings.Join(got, ",") != "m1@example.com,m2@example.com,m3@example.com" {
		t.Fatalf("paged list with prefix: %v", got)
	}
	all, err := e.admin.ListUsers(ctx, req(&dataplanev1.ListUsersRequest{}, sk, ""))
	if err != nil || len(all.Msg.GetUsers()) != 4 || all.Msg.GetNextCursor() != "" {
		t.Fatalf("list: %v, %v", all, err)
	}
	// A role reaches the user's requests at once (auth.role), and "" resets.
	in, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "m1@example.com", Password: goodPW}, e.a.pk, ""))
	if err != nil {
		t.Fatal(err)
	}
	atok := in.Msg.GetSession().GetAccessToken()
	if _, c := parts(t, atok); c["role"] != "editor" {
		t.Fatalf("role claim %v", c["role"])
	}
	if _, err := e.admin.UpdateUser(ctx, req(&dataplanev1.AuthAdminServiceUpdateUserRequest{Id: ids[0], Role: ptr("")}, sk, "")); err != nil {
		t.Fatal(err)
	}
	cu, err := e.svc.VerifyAccessToken(ctx, e.a.ref, atok)
	if err != nil || cu.Role != "authenticated" || cu.AAL != "aal1" || cu.ID != ids[0] {
		t.Fatalf("caller after role reset: %+v, %v", cu, err)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(cu.Claims), &claims); err != nil || claims["sub"] != ids[0] {
		t.Fatalf("claims %q: %v", cu.Claims, err)
	}
	rv, err := e.admin.RevokeSessions(ctx, req(&dataplanev1.RevokeSessionsRequest{UserId: ids[0]}, sk, ""))
	if err != nil || rv.Msg.GetRevoked() != 1 {
		t.Fatalf("revoke: %v, %v", rv, err)
	}
	if _, err := e.whoami(e.a, atok); err == nil {
		t.Fatal("a revoked session's token works")
	}
	if _, err := e.admin.DeleteUser(ctx, req(&dataplanev1.DeleteUserRequest{Id: ids[1]}, sk, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.GetUser(ctx, req(&dataplanev1.AuthAdminServiceGetUserRequest{Id: ids[1]}, sk, "")); err == nil {
		t.Fatal("a deleted user is found")
	}
	if g, err := e.admin.GetUser(ctx, req(&dataplanev1.AuthAdminServiceGetUserRequest{Id: ids[2]}, sk, "")); err != nil || g.Msg.GetUser().GetEmail() != "m3@example.com" {
		t.Fatalf("get: %v, %v", g, err)
	}
	// Providers go to the OAuth implementation.
	if _, err := e.admin.SetProvider(ctx, req(&dataplanev1.SetProviderRequest{Provider: &dataplanev1.Provider{Name: "idp", Issuer: "https://idp.example"}}, sk, "")); err != nil {
		t.Fatal(err)
	}
	lp, err := e.admin.ListProviders(ctx, req(&dataplanev1.ListProvidersRequest{}, sk, ""))
	if err != nil || len(lp.Msg.GetProviders()) != 1 {
		t.Fatalf("providers: %v, %v", lp, err)
	}
	if _, err := e.admin.DeleteProvider(ctx, req(&dataplanev1.DeleteProviderRequest{Name: "idp"}, sk, "")); err != nil {
		t.Fatal(err)
	}
}

// TestREST runs the REST routes as scenarios.
func TestREST(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.signUp(e.a, "rest@example.com")
	at, rt := s.GetAccessToken(), s.GetRefreshToken()
	pk := e.a.pk
	type scenario struct {
		name, method, path, key, bearer, body string
		status                                int
		want                                  []string
	}
	tests := []scenario{
		{"signup", "POST", "/v1/auth/signup", pk, "", `{"email": "new@example.com", "password": "` + goodPW + `"}`, 200, []string{`"access_token":"ey`, `"refresh_token":"sov_rt_`, `"aal":"aal1"`, `"email":"new@example.com"`}},
		{"signup/taken", "POST", "/v1/auth/signup", pk, "", `{"email": "rest@example.com", "password": "` + goodPW + `"}`, 409, []string{`"code":"already_exists"`}},
		{"signup/bad JSON", "POST", "/v1/auth/signup", pk, "", `{"email": `, 400, []string{"invalid JSON"}},
		{"signup/unknown field", "POST", "/v1/auth/signup", pk, "", `{"mail": "x"}`, 400, []string{`unknown field`}},
		{"signup/no key", "POST", "/v1/auth/signup", "", "", `{}`, 401, []string{"missing API key"}},
		{"signup/weak", "POST", "/v1/auth/signup", pk, "", `{"email": "w@example.com", "password": "x"}`, 400, []string{"weak password"}},
		{"token/password JSON", "POST", "/v1/auth/token", pk, "", `{"grant_type": "password", "email": "rest@example.com", "password": "` + goodPW + `"}`, 200, []string{`"access_token"`}},
		{"token/password form", "POST", "/v1/auth/token", pk, "", "form:grant_type=password&username=rest%40example.com&password=" + url.QueryEscape(goodPW), 200, []string{`"access_token"`}},
		{"token/grant in query", "POST", "/v1/auth/token?grant_type=anonymous", pk, "", `{}`, 200, []string{`"anonymous":true`}},
		{"token/grant conflict", "POST", "/v1/auth/token?grant_type=anonymous", pk, "", `{"grant_type": "password"}`, 400, []string{"give one"}},
		{"token/refresh form", "POST", "/v1/auth/token", pk, "", "form:grant_type=refresh_token&refresh_token=" + rt, 200, []string{`"refresh_token":"sov_rt_`}},
		{"token/unknown form field", "POST", "/v1/auth/token", pk, "", "form:grant_type=password&scope=x", 400, []string{`unknown form field \"scope\"`}},
		{"token/wrong password", "POST", "/v1/auth/token", pk, "", "form:grant_type=password&email=rest%40example.com&password=nope", 401, []string{"invalid email or password"}},
		{"token/no grant", "POST", "/v1/auth/token", pk, "", `{}`, 400, []string{"grant_type: required"}},
		{"user", "GET", "/v1/auth/user", pk, at, "", 200, []string{`"email":"rest@example.com"`, `"providers":["email"]`}},
		{"user/no user", "GET", "/v1/auth/user", pk, "", "", 401, []string{"sign in first"}},
		{"user/token without key", "GET", "/v1/auth/user", "", at, "", 401, []string{"send the key in the apikey header"}},
		{"user/query", "GET", "/v1/auth/user?x=1", pk, at, "", 400, []string{`unknown query parameter \"x\"`}},
		{"user/update", "PUT", "/v1/auth/user", pk, at, `{"password": "another fine passphrase"}`, 200, []string{`"email":"rest@example.com"`}},
		{"recover", "POST", "/v1/auth/recover", pk, "", `{"email": "rest@example.com"}`, 200, []string{`{}`}},
		{"recover/unknown", "POST", "/v1/auth/recover", pk, "", `{"email": "ghost@example.com"}`, 200, []string{`{}`}},
		{"recover/bad", "POST", "/v1/auth/recover", pk, "", `{"email": "ghost"}`, 400, []string{"email: not a valid"}},
		{"verify/bad token", "POST", "/v1/auth/verify", pk, "", `{"type": "signup", "token": "sov_mt_x"}`, 401, []string{"invalid token"}},
		{"mfa/enroll", "POST", "/v1/auth/mfa/enroll", pk, at, "", 200, []string{`"uri":"otpauth://totp/`, `"recovery_codes"`}},
		{"mfa/verify wrong", "POST", "/v1/auth/mfa/verify", pk, at, `{"code": "000000"}`, 401, []string{"invalid code"}},
		{"mfa/verify no body", "POST", "/v1/auth/mfa/verify", pk, at, "", 400, []string{"the request body is empty"}},
		{"authorize/unknown provider", "GET", "/v1/auth/authorize?provider=nope&apikey=" + pk, "", "", "", 404, []string{"not found"}},
		{"wrong method", "GET", "/v1/auth/signup", pk, "", "", 405, []string{"use POST"}},
		{"unknown route", "GET", "/v1/auth/nope", pk, "", "", 404, []string{"no such route"}},
		{"forged token", "GET", "/v1/auth/user", pk, at[:len(at)-4] + "AAAA", "", 401, []string{auth.ReasonSignature}},
		{"another project's key", "GET", "/v1/auth/user", e.b.pk, at, "", 401, []string{auth.ReasonUnknownKey}},
		{"logout", "POST", "/v1/auth/logout", pk, at, "", 204, nil},
		{"after logout", "GET", "/v1/auth/user", pk, at, "", 401, []string{auth.ReasonSessionEnded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.rest(t, tt.method, tt.path, tt.key, tt.bearer, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("body %s lacks %q", r.body, w)
				}
			}
		})
	}
	if r := e.rest(t, "GET", "/v1/auth/signup", pk, "", ""); r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
}
