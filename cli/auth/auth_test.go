package auth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	dpv1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests run `sov auth` against the real platform (internal/platformtest:
// both planes in process on a fresh database) with a project and secret key
// made through the SDK, and check what the commands send and print: on a
// terminal, in a pipe, and with --json. cli/auth/authtest runs the `sov`
// binary the same way.

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	t *testing.T
	// dataURL is the data plane's base URL; key the project's secret key.
	dataURL, key string
	// now is the CLI's clock, for relative times on a terminal.
	now time.Time
	// sent keeps the auth admin requests the commands sent.
	sent *sent
}

// newEnv starts a platform for the test and makes a project on it.
func newEnv(t *testing.T) *env {
	t.Helper()
	p := platformtest.Start(t, platformtest.Options{})
	return &env{t: t, dataURL: p.DataURL, key: clitestenv.SecretKey(t, p.APIURL, "auth"), now: time.Now(), sent: &sent{}}
}

// admin is an SDK client's auth administration of the project, for reading
// back what the commands did.
func (e *env) admin() *sovereign.AuthAdmin {
	return sovereign.NewClient(e.dataURL, sovereign.WithAPIKey(e.key)).AuthAdmin()
}

// user returns a user as the platform has it.
func (e *env) user(id string) *sovereign.User {
	e.t.Helper()
	u, err := e.admin().GetUser(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("read user %s back: %v", id, err)
	}
	return u
}

// users returns the project's users in the platform's order.
func (e *env) users() []*sovereign.User {
	e.t.Helper()
	var out []*sovereign.User
	for u, err := range e.admin().Users(e.t.Context(), sovereign.ListUsersParams{}) {
		if err != nil {
			e.t.Fatalf("read users back: %v", err)
		}
		out = append(out, u)
	}
	return out
}

// sent is an http.RoundTripper that keeps the auth admin requests the
// commands send, as "Procedure request" lines, on their way to the
// platform.
type sent struct {
	mu    sync.Mutex
	lines []string
}

func (s *sent) RoundTrip(r *http.Request) (*http.Response, error) {
	var msg proto.Message
	switch {
	case strings.HasSuffix(r.URL.Path, dataplanev1connect.AuthAdminServiceCreateUserProcedure):
		msg = &dpv1.CreateUserRequest{}
	case strings.HasSuffix(r.URL.Path, dataplanev1connect.AuthAdminServiceSetProviderProcedure):
		msg = &dpv1.SetProviderRequest{}
	}
	if msg != nil && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		if err := proto.Unmarshal(body, msg); err != nil {
			return nil, fmt.Errorf("sent: decode %s: %w", r.URL.Path, err)
		}
		s.mu.Lock()
		s.lines = append(s.lines, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]+" "+strings.Join(strings.Fields(fmt.Sprint(msg)), " "))
		s.mu.Unlock()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (s *sent) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}

// run runs `sov auth --key <the project's> args…` with stdin, as on a
// terminal when tty, and returns stdout and the error.
func (e *env) run(stdin string, tty bool, args ...string) (string, error) {
	e.t.Helper()
	out := &bytes.Buffer{}
	f := &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: &bytes.Buffer{}, OutTTY: tty},
		APIURL: "http://127.0.0.1:1", DataURL: e.dataURL, Now: func() time.Time { return e.now },
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0), sovereign.WithHTTPClient(&http.Client{Transport: e.sent})},
	}
	cmd := NewCmdAuth(f)
	cmd.SetArgs(append([]string{"--key", e.key}, args...))
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

// rfc3339 is how a pipe prints a time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// line is how `users list` prints a user in a pipe.
func line(u *sovereign.User) string {
	return fmt.Sprintf("%s\t%s\t%s\t%t\t%t\t%t\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, u.EmailVerified, u.Disabled, u.MFAEnabled,
		strings.Join(u.Providers, ","), rfc3339(u.CreatedAt), rfc3339(u.LastSignInAt))
}

func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := strings.TrimSpace(e.ok("correct-horse-battery\n", false, "users", "create", "--email", "ada@example.com", "--password-stdin", "--verified", "--role", "editor"))
	if u := e.user(ada); u.Email != "ada@example.com" || u.Role != "editor" || !u.EmailVerified {
		t.Errorf("create in a pipe printed %q, made %+v", ada, u)
	}
	out := e.ok("pw-for-bo-long-enough\n", true, "users", "create", "--email", "bo@example.com", "--password-stdin")
	users := e.users()
	if len(users) != 2 {
		t.Fatalf("users after two creates: %+v", users)
	}
	bo := users[0].ID
	if bo == ada {
		bo = users[1].ID
	}
	if want := "✓ Created user bo@example.com (id " + bo + ", role authenticated)\n"; out != want {
		t.Errorf("create on a terminal printed %q, want %q", out, want)
	}
	sent := e.sent.Lines()
	if want := `CreateUser email:"ada@example.com" password:"correct-horse-battery" email_verified:true role:"editor"`; len(sent) == 0 || !strings.HasPrefix(sent[0], want) {
		t.Errorf("sent %q, want %q", sent, want)
	}
	// No password flag, no terminal: no prompt.
	_, err := e.run("", false, "users", "create", "--email", "cy@example.com")
	if factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("create without a password in a pipe: %v", err)
	}
	// The platform's refusals: a taken email, a weak password.
	if _, err := e.run("another-long-passphrase\n", false, "users", "create", "--email", "ada@example.com", "--password-stdin"); !sovereign.IsAlreadyExists(err) {
		t.Errorf("create a taken email: %v", err)
	}
	if _, err := e.run("abc\n", false, "users", "create", "--email", "weak@example.com", "--password-stdin"); !sovereign.IsInvalidArgument(err) {
		t.Errorf("create with a weak password: %v", err)
	}

	want := ""
	for _, u := range e.users() {
		want += line(u)
	}
	if out := e.ok("", false, "users", "list"); out != want {
		t.Errorf("list in a pipe:\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(want, ada+"\tada@example.com\teditor\ttrue\tfalse\tfalse\temail\t") ||
		!strings.Contains(want, bo+"\tbo@example.com\tauthenticated\tfalse\tfalse\tfalse\temail\t") {
		t.Errorf("list in a pipe:\n%s", want)
	}
	adaU := e.user(ada)
	e.now = adaU.CreatedAt.Add(3 * time.Hour)
	pad := strings.Repeat(" ", len(ada)-2)
	want = "ID" + pad + "  EMAIL            ROLE    VERIFIED  DISABLED  MFA  PROVIDERS  CREATED      LAST SIGN-IN\n" +
		ada + "  ada@example.com  editor  yes                      email      3 hours ago  -\n"
	if out := e.ok("", true, "users", "list", "--email-prefix", "ada", "--limit", "1"); out != want {
		t.Errorf("list on a terminal:\n%s\nwant\n%s", out, want)
	}
	first := e.users()[0]
	if out := e.ok("", false, "users", "list", "--limit", "1", "--json"); !strings.HasPrefix(out, "[\n  {\n    \"id\": \""+first.ID+"\",\n    \"email\": \""+first.Email+"\"") ||
		strings.Count(out, `"id":`) != 1 {
		t.Errorf("list --limit 1 --json:\n%s", out)
	}

	if out := e.ok("", true, "users", "get", ada); !strings.Contains(out, "email         ada@example.com\n") || !strings.Contains(out, "created       3 hours ago\n") {
		t.Errorf("get on a terminal:\n%s", out)
	}
	_, err = e.run("", false, "users", "get", "00000000-0000-0000-0000-000000000000")
	if factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("get a missing user: %v", err)
	}

	if out := e.ok("", true, "users", "disable", bo); out != "✓ Disabled user bo@example.com ("+bo+"); their sessions have ended\n" {
		t.Errorf("disable printed %q", out)
	}
	if out := e.ok("", false, "users", "list", "--email-prefix", "bo"); !strings.Contains(out, "\tauthenticated\tfalse\ttrue\t") {
		t.Errorf("after disable: %q", out)
	}
	if !e.user(bo).Disabled {
		t.Errorf("bo is not disabled")
	}
	if out := e.ok("", false, "users", "enable", bo, "--json"); !strings.Contains(out, `"disabled": false`) {
		t.Errorf("enable --json printed %q", out)
	}
	if e.user(bo).Disabled {
		t.Errorf("bo is still disabled")
	}
	if out := e.ok("", true, "users", "set-role", bo, "moderator"); out != "✓ User "+bo+" now has role moderator\n" {
		t.Errorf("set-role printed %q", out)
	}
	if r := e.user(bo).Role; r != "moderator" {
		t.Errorf("bo's role is %q", r)
	}
	if _, err := e.run("", false, "users", "set-role", bo, "Not A Role"); !sovereign.IsInvalidArgument(err) {
		t.Errorf("set-role to a bad role: %v", err)
	}

	_, err = e.run("", false, "users", "delete", bo)
	if factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("delete without --yes in a pipe: %v", err)
	}
	if out := e.ok("", true, "users", "delete", bo, "--yes"); out != "✓ Deleted user "+bo+"\n" {
		t.Errorf("delete printed %q", out)
	}
	if out := e.ok("", false, "users", "list"); strings.Contains(out, bo) || !strings.Contains(out, ada) {
		t.Errorf("after delete:\n%s", out)
	}
	if _, err := e.admin().GetUser(t.Context(), bo); !sovereign.IsNotFound(err) {
		t.Errorf("get bo after delete: %v", err)
	}
}

func TestSessionsProvidersAndKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const password = "another-long-passphrase-42"
	u, err := e.admin().CreateUser(ctx, sovereign.CreateUserParams{Email: "ada@example.com", Password: password})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	// Two sign-ins, two sessions.
	signIn := func() {
		t.Helper()
		if _, err := sovereign.NewClient(e.dataURL, sovereign.WithAPIKey(e.key)).Auth().SignInWithPassword(ctx, "ada@example.com", password); err != nil {
			t.Fatalf("sign in: %v", err)
		}
	}
	signIn()
	signIn()
	if out := e.ok("", false, "sessions", "revoke", u.ID); out != "2\n" {
		t.Errorf("revoke in a pipe printed %q", out)
	}
	signIn()
	signIn()
	if out := e.ok("", true, "sessions", "revoke", u.ID); out != "✓ Ended 2 sessions of user "+u.ID+"\n" {
		t.Errorf("revoke on a terminal printed %q", out)
	}
	if out := e.ok("", false, "sessions", "revoke", u.ID); out != "0\n" {
		t.Errorf("revoke with no sessions printed %q", out)
	}

	// The platform fetches the issuer's discovery document first, and does
	// not connect to a non-public address: the provider is refused (the
	// identity provider is unavailable), after the CLI sent it whole. The
	// platform in process cannot reach an issuer with a discovery document,
	// so no provider is ever stored here; cli/auth/authtest and the
	// platform's own tests cover a stored one.
	_, err = e.run("s3cret\n", false, "providers", "set", "google", "--issuer", "https://127.0.0.1:1", "--client-id", "cid",
		"--client-secret-stdin", "--scope", "profile,calendar", "--redirect-url", "https://app.example.com/in")
	if c, _ := sovereign.ErrorCode(err); c != sovereign.CodeUnavailable || !strings.Contains(err.Error(), "discovery") {
		t.Errorf("set a provider with no discovery document: %v", err)
	}
	sent := e.sent.Lines()
	if want := `SetProvider provider:{name:"google" issuer:"https://127.0.0.1:1" client_id:"cid" client_secret:"s3cret" scopes:"profile" scopes:"calendar" redirect_urls:"https://app.example.com/in"}`; len(sent) == 0 || sent[len(sent)-1] != want {
		t.Errorf("sent\n%q\nwant\n%s", sent, want)
	}
	if out := e.ok("", false, "providers", "list"); out != "" {
		t.Errorf("providers list printed %q", out)
	}
	if out := e.ok("", false, "providers", "list", "--json"); strings.Contains(out, "secret") || strings.TrimSpace(out) != "[]" {
		t.Errorf("providers list --json:\n%s", out)
	}
	_, err = e.run("", false, "providers", "set", "github", "--issuer", "https://github.com", "--client-id", "x")
	if factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), "--client-secret-stdin") {
		t.Errorf("set without a secret in a pipe: %v", err)
	}
	_, err = e.run("", false, "providers", "delete", "nope", "--yes")
	if factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("delete a missing provider: %v", err)
	}

	before, err := e.admin().SigningKeys(ctx)
	if err != nil {
		t.Fatalf("signing keys: %v", err)
	}
	kid := strings.TrimSpace(e.ok("", false, "keys", "rotate"))
	keys, err := e.admin().SigningKeys(ctx)
	if err != nil {
		t.Fatalf("signing keys: %v", err)
	}
	if len(keys) != len(before)+1 || kid == "" || slices.ContainsFunc(before, func(k *sovereign.SigningKey) bool { return k.KID == kid }) {
		t.Fatalf("rotate printed %q; keys %+v, before %+v", kid, keys, before)
	}
	want, current := "", 0
	for _, k := range keys {
		want += fmt.Sprintf("%s\tEdDSA\t%t\t%s\t%s\n", k.KID, k.Current, rfc3339(k.CreatedAt), rfc3339(k.RetiredAt))
		if k.Current {
			current++
			if k.KID != kid {
				t.Errorf("current key %s, rotate printed %s", k.KID, kid)
			}
		} else if k.RetiredAt.IsZero() {
			t.Errorf("key %s is neither current nor retired", k.KID)
		}
	}
	if current != 1 {
		t.Errorf("%d current keys", current)
	}
	if out := e.ok("", false, "keys", "list"); out != want {
		t.Errorf("keys list:\n%s\nwant\n%s", out, want)
	}
	// On a terminal, times are relative to the CLI's clock.
	e.now = keys[len(keys)-1].CreatedAt
	for _, k := range keys {
		if k.CreatedAt.After(e.now) {
			e.now = k.CreatedAt
		}
	}
	e.now = e.now.Add(2 * time.Hour)
	out := e.ok("", true, "keys", "list")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(keys)+1 || !strings.HasPrefix(lines[0], "KID") || !strings.Contains(lines[0], "ALG    CURRENT  CREATED      RETIRED") {
		t.Fatalf("keys list on a terminal:\n%s", out)
	}
	for i, k := range keys {
		f := strings.Fields(lines[i+1])
		if f[0] != k.KID || f[1] != "EdDSA" {
			t.Errorf("keys list on a terminal, line %d: %q", i+1, lines[i+1])
		}
		if k.Current != (f[2] == "yes") || (k.Current && !strings.HasSuffix(lines[i+1], "  -")) || (!k.Current && !strings.HasSuffix(lines[i+1], " ago")) {
			t.Errorf("keys list on a terminal, line %d: %q", i+1, lines[i+1])
		}
		if k.KID == kid && !strings.Contains(lines[i+1], "2 hours ago") {
			t.Errorf("keys list on a terminal, the new key: %q", lines[i+1])
		}
	}
}

func TestKeyIsNeeded(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SOV_KEY", "")
	f := &factory.Factory{IO: &factory.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
		APIURL: "http://127.0.0.1:1", DataURL: e.dataURL, Now: time.Now}
	cmd := NewCmdAuth(f)
	cmd.SetArgs([]string{"users", "list"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); factory.ExitCode(err) != factory.ExitAuth || !strings.Contains(err.Error(), "SOV_KEY") {
		t.Errorf("without a key: %v", err)
	}
	_, err := e.run("", false, "--key", "sov_sk_wrong", "users", "list")
	if !sovereign.IsUnauthenticated(err) || factory.ExitCode(err) != factory.ExitAuth {
		t.Errorf("wrong key: %v", err)
	}
}
