package root

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/cli/credentials"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/internal/fakeplatform"
	cpv1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests run whole `sov` command lines against the in-memory fake
// control plane, checking what each prints for a terminal, a pipe and
// --json, the exit codes, and the credentials file. cli/clitest runs the
// quickstart against the real platform.

const password = "correct-horse-battery-staple"

type env struct {
	t   *testing.T
	fp  *fakeplatform.Platform
	dir string
	now time.Time
}

func newEnv(t *testing.T) *env {
	t.Parallel()
	e := &env{t: t, fp: fakeplatform.Start(t), dir: filepath.Join(t.TempDir(), "config"), now: time.Now()}
	// The platform's clock runs three minutes behind the CLI's, so that
	// what it creates shows as "3 minutes ago".
	e.fp.Now = func() time.Time { return e.now.Add(-3 * time.Minute) }
	return e
}

type result struct {
	out, err string
	code     int
}

// run runs sov with args; tty makes both stdin and stdout terminals.
func (e *env) run(tty bool, stdin string, args ...string) result {
	e.t.Helper()
	var out, errOut bytes.Buffer
	f := &factory.Factory{
		IO:            &factory.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, OutTTY: tty, InTTY: tty},
		ConfigDir:     func() (string, error) { return e.dir, nil },
		Executable:    os.Executable,
		Now:           func() time.Time { return e.now },
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0)},
	}
	code := Execute(e.t.Context(), f, append([]string{"--api-url", e.fp.URL}, args...))
	return result{out.String(), errOut.String(), code}
}

// ok runs sov in a pipe and fails the test unless it succeeds.
func (e *env) ok(stdin string, args ...string) string {
	e.t.Helper()
	r := e.run(false, stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("sov %s: exit %d\n%s", strings.Join(args, " "), r.code, r.err)
	}
	return r.out
}

func (e *env) signup(email string) {
	e.t.Helper()
	e.ok(password, "signup", "--email", email, "--password-stdin")
}

func (e *env) credentials() *credentials.File {
	e.t.Helper()
	f, err := (&credentials.Store{Dir: e.dir}).Load()
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

func TestQuickstartOutputs(t *testing.T) {
	e := newEnv(t)
	if out := e.ok(password, "signup", "--email", "dev@example.com", "--password-stdin"); out != "dev@example.com\tacct-dev@example.com\tdefault\n" {
		t.Errorf("signup in a pipe printed %q", out)
	}
	if out := e.ok("", "orgs", "create", "Acme"); !regexp.MustCompile(`^org\d+\tAcme\n$`).MatchString(out) {
		t.Errorf("orgs create in a pipe printed %q", out)
	}

	var created struct {
		Ref          string `json:"ref"`
		State        string `json:"state"`
		DataPlaneURL string `json:"data_plane_url"`
		Keys         []struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
			Key  string `json:"key"`
		} `json:"keys"`
	}
	out := e.ok("", "projects", "create", "shop", "--org", "Acme", "--region", "local", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("projects create --json: %v\n%s", err, out)
	}
	if created.Ref == "" || created.State != "active" || created.DataPlaneURL != "http://127.0.0.1:7071" || len(created.Keys) != 2 ||
		!strings.HasPrefix(created.Keys[0].Key, "sov_sk_") || created.Keys[0].Kind != "secret" ||
		!strings.HasPrefix(created.Keys[1].Key, "sov_pk_") || created.Keys[1].Kind != "publishable" {
		t.Errorf("projects create --json:\n%s", out)
	}

	// A pipe gets the key alone; --json the key with its description.
	if out := e.ok("", "keys", "create", "--project", created.Ref, "--kind", "publishable", "--name", "web"); !strings.HasPrefix(out, "sov_pk_") || strings.Count(out, "\n") != 1 {
		t.Errorf("keys create in a pipe printed %q", out)
	}
	var key struct {
		ID, Name, Kind, Key string
	}
	if err := json.Unmarshal([]byte(e.ok("", "keys", "create", "--project", created.Ref, "--name", "ci", "--json")), &key); err != nil {
		t.Fatal(err)
	}
	if key.Name != "ci" || key.Kind != "secret" || !strings.HasPrefix(key.Key, "sov_sk_") {
		t.Errorf("keys create --json: %+v", key)
	}

	created3 := e.now.Add(-3 * time.Minute).UTC().Format(time.RFC3339)
	pipe := e.ok("", "keys", "list", "--project", created.Ref)
	wantLine := key.ID + "\tci\tsecret\tsov_sk_key\t" + created3 + "\t\t\n"
	if !strings.Contains(pipe, wantLine) || strings.Contains(pipe, "NAME") || strings.Count(pipe, "\n") != 4 {
		t.Errorf("keys list in a pipe:\n%s\nwant a line %q and no header", pipe, wantLine)
	}
	tty := e.run(true, "", "keys", "list", "--project", created.Ref)
	if tty.code != 0 || !regexp.MustCompile(`(?m)^ID +NAME +KIND +PREFIX +CREATED +LAST USED +EXPIRES$`).MatchString(tty.out) ||
		!regexp.MustCompile(`(?m)^`+key.ID+` +ci +secret +sov_sk_key +3 minutes ago +- +-$`).MatchString(tty.out) {
		t.Errorf("keys list on a terminal:\n%s%s", tty.out, tty.err)
	}

	if r := e.run(false, "", "keys", "revoke", key.ID); r.code != factory.ExitUsage || !strings.Contains(r.err, "--yes is required when stdin is not a terminal") {
		t.Errorf("keys revoke without --yes in a pipe: exit %d, %q", r.code, r.err)
	}
	var revoked struct {
		RevokedAt string `json:"revoked_at"`
	}
	if err := json.Unmarshal([]byte(e.ok("", "keys", "revoke", key.ID, "--yes", "--json")), &revoked); err != nil || revoked.RevokedAt == "" {
		t.Errorf("keys revoke --json: %+v, %v", revoked, err)
	}
	if out := e.ok("", "keys", "list", "--project", created.Ref); strings.Contains(out, key.ID) {
		t.Errorf("revoked key still listed:\n%s", out)
	}
	if out := e.ok("", "keys", "list", "--project", created.Ref, "--all"); !strings.Contains(out, key.ID) {
		t.Errorf("keys list --all misses the revoked key:\n%s", out)
	}

	if out := e.ok("", "projects", "list"); !strings.HasPrefix(out, created.Ref+"\tshop\tlocal\tactive\thttp://127.0.0.1:7071\t") {
		t.Errorf("projects list in a pipe: %q", out)
	}
	if r := e.run(true, "", "whoami"); r.code != 0 || !regexp.MustCompile(`Email +dev@example.com \(not verified\)`).MatchString(r.out) {
		t.Errorf("whoami on a terminal:\n%s%s", r.out, r.err)
	}
	if r := e.run(true, "", "logout"); r.code != 0 || r.out != "✓ Logged out of dev@example.com (profile \"default\")\n" {
		t.Errorf("logout on a terminal: %q %q", r.out, r.err)
	}
	if r := e.run(false, "", "whoami"); r.code != factory.ExitAuth || !strings.Contains(r.err, "not logged in") {
		t.Errorf("whoami after logout: exit %d, %q", r.code, r.err)
	}
}

func TestProjectsCreateOnATerminal(t *testing.T) {
	e := newEnv(t)
	e.signup("dev@example.com")
	e.ok("", "orgs", "create", "Acme")
	r := e.run(true, "", "projects", "create", "shop") // the only org, the only region
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, want := range []string{"✓ Project shop is active", "Ref ", "Data plane   http://127.0.0.1:7071", "Secret       sov_sk_", "Publishable  sov_pk_", "shown only this once"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.err, "Provisioning shop") {
		t.Errorf("no progress on stderr: %q", r.err)
	}

	r = e.run(false, "", "projects", "create", "cart", "--no-keys")
	if r.code != 0 || r.err != "" || !regexp.MustCompile(`^ref\tref\d+\ndata_plane_url\thttp://127.0.0.1:7071\n$`).MatchString(r.out) {
		t.Errorf("projects create --no-keys in a pipe: exit %d, out %q, err %q", r.code, r.out, r.err)
	}
}

func TestCredentialsFile(t *testing.T) {
	e := newEnv(t)
	e.signup("dev@example.com")
	e.ok(password, "signup", "--email", "ops@example.com", "--password-stdin", "--profile", "ops")

	st, err := os.Stat(filepath.Join(e.dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("credentials.json mode %v, want 0600", st.Mode().Perm())
	}
	if st, err := os.Stat(e.dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	f := e.credentials()
	def, ops := f.Profiles["default"], f.Profiles["ops"]
	if def == nil || ops == nil || def.Email != "dev@example.com" || ops.Email != "ops@example.com" ||
		def.APIURL != e.fp.URL || def.Session == nil || def.Session.RefreshToken == "" {
		t.Fatalf("profiles: %+v %+v", def, ops)
	}
	if out := e.ok("", "whoami", "--profile", "ops"); !strings.HasPrefix(out, "ops@example.com\t") {
		t.Errorf("whoami --profile ops: %q", out)
	}
	e.ok("", "logout", "--profile", "ops")
	if f := e.credentials(); f.Profiles["ops"].LoggedIn() || !f.Profiles["default"].LoggedIn() {
		t.Error("logout of one profile touched the other, or left its credentials")
	}
}

func TestExpiredAccessTokensAreRefreshedAndSaved(t *testing.T) {
	e := newEnv(t)
	// Access tokens that expire within the refresh margin are refreshed
	// before every command.
	e.fp.AccessTTL = 10 * time.Second
	e.signup("dev@example.com")
	first := e.credentials().Profiles["default"].Session.RefreshToken
	e.ok("", "whoami")
	second := e.credentials().Profiles["default"].Session.RefreshToken
	// The second refresh only works with the rotated token from the first.
	e.ok("", "whoami")
	third := e.credentials().Profiles["default"].Session.RefreshToken
	if e.fp.Refreshes != 2 || first == second || second == third {
		t.Errorf("%d refreshes; refresh tokens %s, %s, %s", e.fp.Refreshes, first, second, third)
	}
}

func TestLoginWithAToken(t *testing.T) {
	e := newEnv(t)
	e.signup("dev@example.com")
	pat := strings.TrimSpace(e.ok("", "tokens", "create", "ci"))
	if !strings.HasPrefix(pat, "sov_pat_") {
		t.Fatalf("tokens create in a pipe printed %q", pat)
	}
	out := e.ok("", "login", "--token", pat, "--profile", "ci", "--json")
	if !strings.Contains(out, `"credential": "personal_access_token"`) || strings.Contains(out, pat) {
		t.Errorf("login --token --json printed:\n%s", out)
	}
	if p := e.credentials().Profiles["ci"]; p.Token != pat || p.Session != nil {
		t.Errorf("profile ci: %+v", p)
	}
	if r := e.run(false, "", "login", "--token", "sov_pat_nope", "--profile", "bad"); r.code != factory.ExitAuth {
		t.Errorf("login with a bad token: exit %d, %s", r.code, r.err)
	}
}

func TestPrompts(t *testing.T) {
	e := newEnv(t)
	// Nothing prompts in a pipe: the error names the flag.
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"signup"}, "--email"},
		{[]string{"login"}, "--email"},
		{[]string{"login", "--email", "dev@example.com"}, "--password-stdin"},
	} {
		r := e.run(false, "", tc.args...)
		if r.code != factory.ExitUsage || !strings.Contains(r.err, tc.flag+" is required when stdin is not a terminal") {
			t.Errorf("sov %s in a pipe: exit %d, %q", strings.Join(tc.args, " "), r.code, r.err)
		}
	}
	// On a terminal, signup asks for the email and the password twice.
	r := e.run(true, "dev@example.com\n"+password+"\n"+password+"\n", "signup")
	if r.code != 0 || !strings.Contains(r.out, "✓ Signed up and logged in as dev@example.com") || !strings.Contains(r.err, "Password again: ") {
		t.Fatalf("signup on a terminal: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if r := e.run(true, "dev@example.com\nwrong-password-123\n", "login"); r.code != factory.ExitAuth || !strings.Contains(r.err, "wrong email or password (unauthenticated)") {
		t.Errorf("login with a wrong password: exit %d, %q", r.code, r.err)
	}
	if r := e.run(true, "dev@example.com\n"+password+"\n", "login"); r.code != 0 {
		t.Errorf("login on a terminal: exit %d, %q", r.code, r.err)
	}
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"whoami"}, factory.ExitAuth},
		{[]string{"orgs", "list", "--no-such-flag"}, factory.ExitUsage},
		{[]string{"projects", "get"}, factory.ExitUsage},
	} {
		if r := e.run(false, "", tc.args...); r.code != tc.code {
			t.Errorf("sov %s: exit %d, want %d (%s)", strings.Join(tc.args, " "), r.code, tc.code, r.err)
		}
	}
	e.signup("dev@example.com")
	if r := e.run(false, "", "projects", "get", "nosuchproject"); r.code != factory.ExitNotFound || r.err != "sov: project not found (not_found)\n" {
		t.Errorf("projects get of a missing project: exit %d, %q", r.code, r.err)
	}
	if r := e.run(false, "", "projects", "list", "--org", "Nope"); r.code != factory.ExitNotFound {
		t.Errorf("projects list --org Nope: exit %d, %q", r.code, r.err)
	}
	e.ok("", "orgs", "create", "Acme")
	e.ok("", "orgs", "create", "Globex")
	if r := e.run(false, "", "projects", "list"); r.code != factory.ExitUsage || !strings.Contains(r.err, "choose one with --org (Acme, Globex)") {
		t.Errorf("projects list with two orgs and no --org: exit %d, %q", r.code, r.err)
	}
	if out := e.ok("", "orgs", "list", "--json"); !strings.Contains(out, `"name": "Globex"`) || !strings.Contains(out, `"role": "owner"`) {
		t.Errorf("orgs list --json:\n%s", out)
	}
}

func TestDevMail(t *testing.T) {
	e := newEnv(t)
	e.fp.Mails = []*cpv1.Mail{
		{Id: "m2", To: "dev@example.com", Subject: "Verify your email", Body: "Open\nhttp://x/verify?token=sov_mt_abc\n", SentAt: timestamppb.New(e.now.Add(-time.Minute))},
		{Id: "m1", To: "ops@example.com", Subject: "Reset", Body: "r", SentAt: timestamppb.New(e.now.Add(-time.Hour))},
	}
	// `sov dev` passes its arguments to the server, but `sov dev mail` is
	// its own command, needing no login.
	if out := e.ok("", "dev", "mail", "--to", "dev@example.com"); out != e.now.Add(-time.Minute).UTC().Format(time.RFC3339)+"\tdev@example.com\tVerify your email\tOpen http://x/verify?token=sov_mt_abc \n" {
		t.Errorf("dev mail in a pipe: %q", out)
	}
	r := e.run(true, "", "dev", "mail")
	if r.code != 0 || !strings.Contains(r.out, "Subject: Verify your email\nSent:    1 minute ago\n\nOpen\nhttp://x/verify?token=sov_mt_abc\n") || !strings.Contains(r.out, "To:      ops@example.com") {
		t.Errorf("dev mail on a terminal:\n%s%s", r.out, r.err)
	}
	var mails []sovereign.Mail
	if err := json.Unmarshal([]byte(e.ok("", "dev", "mail", "--json")), &mails); err != nil || len(mails) != 2 {
		t.Errorf("dev mail --json: %v %v", mails, err)
	}
}
