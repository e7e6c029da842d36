package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/cli/factory"
	dpv1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests run `sov auth` against canned answers of the auth admin
// service and check what the commands send and print: on a terminal, in a
// pipe, and with --json. cli/auth/authtest runs them against the real
// platform.

const key = "sov_sk_fake"

var created = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// admin answers AuthAdminService from a small in-memory state and keeps
// the requests it got.
type admin struct {
	dataplanev1connect.UnimplementedAuthAdminServiceHandler

	mu        sync.Mutex
	users     []*dpv1.User
	providers []*dpv1.Provider
	keys      []*dpv1.SigningKey
	sent      []string // "Procedure request" lines
}

func (a *admin) check(h http.Header, proc string, msg fmt.Stringer) error {
	a.mu.Lock()
	a.sent = append(a.sent, proc[strings.LastIndex(proc, "/")+1:]+" "+msg.String())
	a.mu.Unlock()
	if h.Get("apikey") != key || h.Get("Authorization") != "" {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("invalid API key"))
	}
	return nil
}

func (a *admin) find(id string) (*dpv1.User, error) {
	for _, u := range a.users {
		if u.GetId() == id {
			return u, nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no user %s", id))
}

func (a *admin) ListUsers(_ context.Context, r *connect.Request[dpv1.ListUsersRequest]) (*connect.Response[dpv1.ListUsersResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*dpv1.User
	for _, u := range a.users {
		if strings.HasPrefix(u.GetEmail(), r.Msg.GetEmailPrefix()) {
			out = append(out, u)
		}
	}
	return connect.NewResponse(&dpv1.ListUsersResponse{Users: out}), nil
}

func (a *admin) GetUser(_ context.Context, r *connect.Request[dpv1.AuthAdminServiceGetUserRequest]) (*connect.Response[dpv1.AuthAdminServiceGetUserResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u, err := a.find(r.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.AuthAdminServiceGetUserResponse{User: u}), nil
}

func (a *admin) CreateUser(_ context.Context, r *connect.Request[dpv1.CreateUserRequest]) (*connect.Response[dpv1.CreateUserResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u := &dpv1.User{Id: fmt.Sprintf("u%d", len(a.users)+1), Email: r.Msg.GetEmail(), EmailVerified: r.Msg.GetEmailVerified(),
		Role: cmpOr(r.Msg.GetRole(), "authenticated"), CreatedAt: timestamppb.New(created), Providers: []string{"email"}}
	a.users = append(a.users, u)
	return connect.NewResponse(&dpv1.CreateUserResponse{User: u}), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *admin) DeleteUser(_ context.Context, r *connect.Request[dpv1.DeleteUserRequest]) (*connect.Response[dpv1.DeleteUserResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.find(r.Msg.GetId()); err != nil {
		return nil, err
	}
	a.users = slices.DeleteFunc(a.users, func(u *dpv1.User) bool { return u.GetId() == r.Msg.GetId() })
	return connect.NewResponse(&dpv1.DeleteUserResponse{}), nil
}

func (a *admin) UpdateUser(_ context.Context, r *connect.Request[dpv1.AuthAdminServiceUpdateUserRequest]) (*connect.Response[dpv1.AuthAdminServiceUpdateUserResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u, err := a.find(r.Msg.GetId())
	if err != nil {
		return nil, err
	}
	if r.Msg.Disabled != nil {
		u.Disabled = r.Msg.GetDisabled()
	}
	if r.Msg.Role != nil {
		u.Role = cmpOr(r.Msg.GetRole(), "authenticated")
	}
	return connect.NewResponse(&dpv1.AuthAdminServiceUpdateUserResponse{User: u}), nil
}

func (a *admin) RevokeSessions(_ context.Context, r *connect.Request[dpv1.RevokeSessionsRequest]) (*connect.Response[dpv1.RevokeSessionsResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.RevokeSessionsResponse{Revoked: 2}), nil
}

func (a *admin) ListProviders(_ context.Context, r *connect.Request[dpv1.ListProvidersRequest]) (*connect.Response[dpv1.ListProvidersResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return connect.NewResponse(&dpv1.ListProvidersResponse{Providers: a.providers}), nil
}

func (a *admin) SetProvider(_ context.Context, r *connect.Request[dpv1.SetProviderRequest]) (*connect.Response[dpv1.SetProviderResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p := &dpv1.Provider{Name: r.Msg.GetProvider().GetName(), Issuer: r.Msg.GetProvider().GetIssuer(), ClientId: r.Msg.GetProvider().GetClientId(),
		Scopes: r.Msg.GetProvider().GetScopes(), RedirectUrls: r.Msg.GetProvider().GetRedirectUrls()}
	a.providers = append(a.providers, p)
	return connect.NewResponse(&dpv1.SetProviderResponse{Provider: p}), nil
}

func (a *admin) DeleteProvider(_ context.Context, r *connect.Request[dpv1.DeleteProviderRequest]) (*connect.Response[dpv1.DeleteProviderResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no provider %s", r.Msg.GetName()))
}

func (a *admin) RotateSigningKey(_ context.Context, r *connect.Request[dpv1.RotateSigningKeyRequest]) (*connect.Response[dpv1.RotateSigningKeyResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.keys {
		k.Current, k.RetiredAt = false, timestamppb.New(created.Add(time.Hour))
	}
	k := &dpv1.SigningKey{Kid: fmt.Sprintf("k%d", len(a.keys)), Alg: "EdDSA", CreatedAt: timestamppb.New(created.Add(time.Hour)), Current: true}
	a.keys = append(a.keys, k)
	return connect.NewResponse(&dpv1.RotateSigningKeyResponse{Key: k}), nil
}

func (a *admin) ListSigningKeys(_ context.Context, r *connect.Request[dpv1.ListSigningKeysRequest]) (*connect.Response[dpv1.ListSigningKeysResponse], error) {
	if err := a.check(r.Header(), r.Spec().Procedure, r.Msg); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return connect.NewResponse(&dpv1.ListSigningKeysResponse{Keys: a.keys}), nil
}

type env struct {
	t     *testing.T
	admin *admin
	url   string
	now   time.Time
}

func newEnv(t *testing.T) *env {
	a := &admin{keys: []*dpv1.SigningKey{{Kid: "k0", Alg: "EdDSA", CreatedAt: timestamppb.New(created), Current: true}}}
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewAuthAdminServiceHandler(a))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, admin: a, url: srv.URL, now: created.Add(3 * time.Hour)}
}

// run runs `sov auth --key <key> args…` with stdin, as on a terminal when
// tty, and returns stdout and the error.
func (e *env) run(stdin string, tty bool, args ...string) (string, error) {
	e.t.Helper()
	out := &bytes.Buffer{}
	f := &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: &bytes.Buffer{}, OutTTY: tty},
		APIURL: "http://127.0.0.1:1", DataURL: e.url, Now: func() time.Time { return e.now },
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0)},
	}
	cmd := NewCmdAuth(f)
	cmd.SetArgs(append([]string{"--key", key}, args...))
	cmd.SetOut(out)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func (e *env) ok(stdin string, tty bool, args ...string) string {
	e.t.Helper()
	out, err := e.run(stdin, tty, args...)
	if err != nil {
		e.t.Fatalf("sov auth %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (e *env) sent() []string {
	e.admin.mu.Lock()
	defer e.admin.mu.Unlock()
	return slices.Clone(e.admin.sent)
}

func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if out := e.ok("correct-horse-battery\n", false, "users", "create", "--email", "ada@example.com", "--password-stdin", "--verified", "--role", "editor"); out != "u1\n" {
		t.Errorf("create in a pipe printed %q", out)
	}
	if out := e.ok("pw-for-bo\n", true, "users", "create", "--email", "bo@example.com", "--password-stdin"); out != "✓ Created user bo@example.com (id u2, role authenticated)\n" {
		t.Errorf("create on a terminal printed %q", out)
	}
	sent := e.sent()
	if want := `CreateUser email:"ada@example.com" password:"correct-horse-battery" email_verified:true role:"editor"`; !strings.HasPrefix(strings.Join(strings.Fields(sent[0]), " "), want) {
		t.Errorf("sent %q, want %q", sent[0], want)
	}
	// No password flag, no terminal: no prompt.
	_, err := e.run("", false, "users", "create", "--email", "cy@example.com")
	if factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("create without a password in a pipe: %v", err)
	}

	out := e.ok("", false, "users", "list")
	want := "u1\tada@example.com\teditor\ttrue\tfalse\tfalse\temail\t2024-01-02T03:04:05Z\t\n" +
		"u2\tbo@example.com\tauthenticated\tfalse\tfalse\tfalse\temail\t2024-01-02T03:04:05Z\t\n"
	if out != want {
		t.Errorf("list in a pipe:\n%s\nwant\n%s", out, want)
	}
	want = "ID  EMAIL            ROLE    VERIFIED  DISABLED  MFA  PROVIDERS  CREATED      LAST SIGN-IN\n" +
		"u1  ada@example.com  editor  yes                      email      3 hours ago  -\n"
	if out := e.ok("", true, "users", "list", "--email-prefix", "ada", "--limit", "1"); out != want {
		t.Errorf("list on a terminal:\n%s\nwant\n%s", out, want)
	}
	if out := e.ok("", false, "users", "list", "--limit", "1", "--json"); !strings.HasPrefix(out, "[\n  {\n    \"id\": \"u1\",\n    \"email\": \"ada@example.com\"") ||
		strings.Contains(out, "u2") {
		t.Errorf("list --limit 1 --json:\n%s", out)
	}

	if out := e.ok("", true, "users", "get", "u1"); !strings.Contains(out, "email         ada@example.com\n") || !strings.Contains(out, "created       3 hours ago\n") {
		t.Errorf("get on a terminal:\n%s", out)
	}
	_, err = e.run("", false, "users", "get", "u9")
	if factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("get a missing user: %v", err)
	}

	if out := e.ok("", true, "users", "disable", "u2"); out != "✓ Disabled user bo@example.com (u2); their sessions have ended\n" {
		t.Errorf("disable printed %q", out)
	}
	if out := e.ok("", false, "users", "list", "--email-prefix", "bo"); !strings.Contains(out, "\tauthenticated\tfalse\ttrue\t") {
		t.Errorf("after disable: %q", out)
	}
	if out := e.ok("", false, "users", "enable", "u2", "--json"); !strings.Contains(out, `"disabled": false`) {
		t.Errorf("enable --json printed %q", out)
	}
	if out := e.ok("", true, "users", "set-role", "u2", "moderator"); out != "✓ User u2 now has role moderator\n" {
		t.Errorf("set-role printed %q", out)
	}

	_, err = e.run("", false, "users", "delete", "u2")
	if factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("delete without --yes in a pipe: %v", err)
	}
	if out := e.ok("", true, "users", "delete", "u2", "--yes"); out != "✓ Deleted user u2\n" {
		t.Errorf("delete printed %q", out)
	}
	if out := e.ok("", false, "users", "list"); strings.Contains(out, "u2") {
		t.Errorf("u2 still listed:\n%s", out)
	}
}

func TestSessionsProvidersAndKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if out := e.ok("", false, "sessions", "revoke", "u1"); out != "2\n" {
		t.Errorf("revoke in a pipe printed %q", out)
	}
	if out := e.ok("", true, "sessions", "revoke", "u1"); out != "✓ Ended 2 sessions of user u1\n" {
		t.Errorf("revoke on a terminal printed %q", out)
	}

	e.ok("s3cret\n", false, "providers", "set", "google", "--issuer", "https://accounts.google.com", "--client-id", "cid",
		"--client-secret-stdin", "--scope", "profile,calendar", "--redirect-url", "https://app.example.com/in")
	sent := e.sent()
	got := strings.Join(strings.Fields(sent[len(sent)-1]), " ")
	if want := `SetProvider provider:{name:"google" issuer:"https://accounts.google.com" client_id:"cid" client_secret:"s3cret" scopes:"profile" scopes:"calendar" redirect_urls:"https://app.example.com/in"}`; got != want {
		t.Errorf("sent\n%s\nwant\n%s", got, want)
	}
	if out := e.ok("", false, "providers", "list"); out != "google\thttps://accounts.google.com\tcid\tprofile,calendar\thttps://app.example.com/in\n" {
		t.Errorf("providers list printed %q", out)
	}
	if out := e.ok("", false, "providers", "list", "--json"); strings.Contains(out, "secret") {
		t.Errorf("providers list --json shows a secret:\n%s", out)
	}
	_, err := e.run("", false, "providers", "set", "github", "--issuer", "https://github.com", "--client-id", "x")
	if factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), "--client-secret-stdin") {
		t.Errorf("set without a secret in a pipe: %v", err)
	}
	_, err = e.run("", false, "providers", "delete", "nope", "--yes")
	if factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("delete a missing provider: %v", err)
	}

	if out := e.ok("", false, "keys", "rotate"); out != "k1\n" {
		t.Errorf("rotate in a pipe printed %q", out)
	}
	want := "k0\tEdDSA\tfalse\t2024-01-02T03:04:05Z\t2024-01-02T04:04:05Z\nk1\tEdDSA\ttrue\t2024-01-02T04:04:05Z\t\n"
	if out := e.ok("", false, "keys", "list"); out != want {
		t.Errorf("keys list:\n%s\nwant\n%s", out, want)
	}
	want = "KID  ALG    CURRENT  CREATED      RETIRED\nk0   EdDSA           3 hours ago  2 hours ago\nk1   EdDSA  yes      2 hours ago  -\n"
	if out := e.ok("", true, "keys", "list"); out != want {
		t.Errorf("keys list on a terminal:\n%s\nwant\n%s", out, want)
	}
}

func TestKeyIsNeeded(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SOV_KEY", "")
	f := &factory.Factory{IO: &factory.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
		APIURL: "http://127.0.0.1:1", DataURL: e.url, Now: time.Now}
	cmd := NewCmdAuth(f)
	cmd.SetArgs([]string{"users", "list"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); factory.ExitCode(err) != factory.ExitAuth || !strings.Contains(err.Error(), "SOV_KEY") {
		t.Errorf("without a key: %v", err)
	}
	_, err := e.run("", false, "--key", "sov_sk_wrong", "users", "list")
	if factory.ExitCode(err) != factory.ExitAuth {
		t.Errorf("wrong key: %v", err)
	}
}
