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

	"github.com/sovereign-backend/sovereign/cli/credentials"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests run whole `sov` command lines against the real platform (both
// planes in process, on a database of their own), checking what each prints
// for a terminal, a pipe and --json, the exit codes, and the credentials
// file. cli/clitest runs the README quickstart with the `sov` binary.

func TestMain(m *testing.M) { testenv.Main(m) }

const password = "correct-horse-battery-staple"

const (
	uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
	refRE  = `[a-z0-9]{12}`
)

type env struct {
	t   *testing.T
	p   *platformtest.Platform
	dir string
	// skew is how far the CLI's clock runs ahead of the platform's: what
	// the platform makes "now" shows as skew ago, and an access token
	// issued now looks skew older to the CLI.
	skew time.Duration
}

func newEnv(t *testing.T) *env {
	t.Parallel()
	return &env{t: t, p: platformtest.Start(t, platformtest.Options{}), dir: filepath.Join(t.TempDir(), "config")}
}

// now is the CLI's clock.
func (e *env) now() time.Time { return time.Now().Add(e.skew) }

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
		Now:           e.now,
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0)},
	}
	code := Execute(e.t.Context(), f, append([]string{"--api-url", e.p.APIURL, "--data-url", e.p.DataURL}, args...))
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
	// What the platform makes shows as "3 minutes ago".
	e.skew = 3 * time.Minute
	if out := e.ok(password, "signup", "--email", "dev@example.com", "--password-stdin"); !regexp.MustCompile(`^dev@example\.com\t` + uuidRE + `\tdefault\n$`).MatchString(out) {
		t.Errorf("signup in a pipe printed %q", out)
	}
	if out := e.ok("", "orgs", "create", "Acme"); !regexp.MustCompile(`^` + uuidRE + `\tAcme\n$`).MatchString(out) {
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
	if !regexp.MustCompile(`^`+refRE+`$`).MatchString(created.Ref) || created.State != "active" || created.DataPlaneURL != e.p.DataURL || len(created.Keys) != 2 ||
		!strings.HasPrefix(created.Keys[0].Key, "sov_sk_") || created.Keys[0].Kind != "secret" ||
		!strings.HasPrefix(created.Keys[1].Key, "sov_pk_") || created.Keys[1].Kind != "publishable" {
		t.Errorf("projects create --json:\n%s", out)
	}
	// The secret key opens the project on the data plane.
	info, err := sovereign.NewClient(created.DataPlaneURL, sovereign.WithAPIKey(created.Keys[0].Key)).CurrentProject(t.Context())
	if err != nil || info.Ref != created.Ref || info.KeyID != created.Keys[0].ID {
		t.Errorf("the data plane with the new secret key: %+v, %v", info, err)
	}

	// A pipe gets the key alone; --json the key with its description.
	if out := e.ok("", "keys", "create", "--project", created.Ref, "--kind", "publishable", "--name", "web"); !strings.HasPrefix(out, "sov_pk_") || strings.Count(out, "\n") != 1 {
		t.Errorf("keys create in a pipe printed %q", out)
	}
	var key struct {
		ID, Name, Kind, Key, Prefix string
		CreatedAt                   time.Time `json:"created_at"`
	}
	if err := json.Unmarshal([]byte(e.ok("", "keys", "create", "--project", created.Ref, "--name", "ci", "--json")), &key); err != nil {
		t.Fatal(err)
	}
	if key.Name != "ci" || key.Kind != "secret" || !strings.HasPrefix(key.Key, "sov_sk_") || !strings.HasPrefix(key.Key, key.Prefix) || key.CreatedAt.IsZero() {
		t.Errorf("keys create --json: %+v", key)
	}

	pipe := e.ok("", "keys", "list", "--project", created.Ref)
	wantLine := key.ID + "\tci\tsecret\t" + key.Prefix + "\t" + key.CreatedAt.UTC().Format(time.RFC3339) + "\t\t\n"
	if !strings.Contains(pipe, wantLine) || strings.Contains(pipe, "NAME") || strings.Count(pipe, "\n") != 4 || strings.Contains(pipe, key.Key) {
		t.Errorf("keys list in a pipe:\n%s\nwant a line %q and no header", pipe, wantLine)
	}
	// The project's name does as well as its ref.
	if byName := e.ok("", "keys", "list", "--project", "shop"); byName != pipe {
		t.Errorf("keys list --project shop:\n%s\nwant what --project %s lists:\n%s", byName, created.Ref, pipe)
	}
	tty := e.run(true, "", "keys", "list", "--project", created.Ref)
	if tty.code != 0 || !regexp.MustCompile(`(?m)^ID +NAME +KIND +PREFIX +CREATED +LAST USED +EXPIRES$`).MatchString(tty.out) ||
		!regexp.MustCompile(`(?m)^`+key.ID+` +ci +secret +`+regexp.QuoteMeta(key.Prefix)+` +3 minutes ago +- +-$`).MatchString(tty.out) {
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
	if _, err := sovereign.NewClient(e.p.DataURL, sovereign.WithAPIKey(key.Key)).CurrentProject(t.Context()); !sovereign.IsUnauthenticated(err) {
		t.Errorf("the data plane with the revoked key: %v, want unauthenticated", err)
	}
	if out := e.ok("", "keys", "list", "--project", created.Ref); strings.Contains(out, key.ID) {
		t.Errorf("revoked key still listed:\n%s", out)
	}
	if out := e.ok("", "keys", "list", "--project", created.Ref, "--all"); !strings.Contains(out, key.ID) {
		t.Errorf("keys list --all misses the revoked key:\n%s", out)
	}

	if out := e.ok("", "projects", "list"); !strings.HasPrefix(out, created.Ref+"\tshop\tlocal\tactive\t"+e.p.DataURL+"\t") {
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
	for _, want := range []string{"✓ Project shop is active", "Ref ", "Data plane   " + e.p.DataURL + "\n", "Secret       sov_sk_", "Publishable  sov_pk_", "shown only this once"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.err, "Provisioning shop") {
		t.Errorf("no progress on stderr: %q", r.err)
	}

	r = e.run(false, "", "projects", "create", "cart", "--no-keys")
	if r.code != 0 || r.err != "" || !regexp.MustCompile(`^ref\t`+refRE+`\ndata_plane_url\t`+regexp.QuoteMeta(e.p.DataURL)+`\n$`).MatchString(r.out) {
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
		def.APIURL != e.p.APIURL || def.DataURL != e.p.DataURL || def.Session == nil || def.Session.RefreshToken == "" {
		t.Fatalf("profiles: %+v %+v", def, ops)
	}
	if out := e.ok("", "whoami", "--profile", "ops"); !strings.HasPrefix(out, "ops@example.com\t") {
		t.Errorf("whoami --profile ops: %q", out)
	}
	opsSession := ops.Session.AccessToken
	e.ok("", "logout", "--profile", "ops")
	if f := e.credentials(); f.Profiles["ops"].LoggedIn() || !f.Profiles["default"].LoggedIn() {
		t.Error("logout of one profile touched the other, or left its credentials")
	}
	// The platform ended the session, not only the file.
	if _, err := sovereign.NewManagementClient(e.p.APIURL, sovereign.WithToken(opsSession)).WhoAmI(t.Context()); !sovereign.IsUnauthenticated(err) {
		t.Errorf("the logged-out session still works: %v", err)
	}
	if out := e.ok("", "whoami"); !strings.HasPrefix(out, "dev@example.com\t") {
		t.Errorf("whoami after logging ops out: %q", out)
	}
}

func TestExpiredAccessTokensAreRefreshedAndSaved(t *testing.T) {
	e := newEnv(t)
	// Access tokens live 15 minutes; with the CLI's clock that far ahead,
	// each is about to expire when the CLI reads it, and is refreshed
	// before every command.
	e.skew = 15 * time.Minute
	e.signup("dev@example.com")
	session := func() *sovereign.Session { return e.credentials().Profiles["default"].Session }
	first := session()
	e.ok("", "whoami")
	second := session()
	// The second refresh only works with the rotated token from the first.
	e.ok("", "whoami")
	third := session()
	if first.RefreshToken == second.RefreshToken || second.RefreshToken == third.RefreshToken ||
		first.AccessToken == second.AccessToken || second.AccessToken == third.AccessToken {
		t.Errorf("the session was not refreshed and saved each time: refresh tokens %s, %s, %s", first.RefreshToken, second.RefreshToken, third.RefreshToken)
	}
	// The platform rotates: a used refresh token is refused, and using one
	// twice ends the whole login, which the CLI reports as such.
	anon := sovereign.NewManagementClient(e.p.APIURL, sovereign.WithRetries(0))
	if _, err := anon.Refresh(t.Context(), first.RefreshToken); !sovereign.IsUnauthenticated(err) {
		t.Fatalf("refresh with a used refresh token: %v, want unauthenticated", err)
	}
	if r := e.run(false, "", "whoami"); r.code != factory.ExitAuth || !strings.Contains(r.err, "your session has ended") {
		t.Errorf("whoami after the login was ended: exit %d, %q", r.code, r.err)
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
	if !strings.Contains(out, `"credential": "personal_access_token"`) || !strings.Contains(out, `"email": "dev@example.com"`) || strings.Contains(out, pat) {
		t.Errorf("login --token --json printed:\n%s", out)
	}
	if p := e.credentials().Profiles["ci"]; p.Token != pat || p.Session != nil || p.Email != "dev@example.com" {
		t.Errorf("profile ci: %+v", p)
	}
	if out := e.ok("", "whoami", "--profile", "ci"); !strings.Contains(out, "\tpersonal_access_token\tci\t") {
		t.Errorf("whoami --profile ci: %q", out)
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
	if r := e.run(true, "dev@example.com\nwrong-password-123\n", "login"); r.code != factory.ExitAuth || !strings.Contains(r.err, "email or password is wrong (unauthenticated)") {
		t.Errorf("login with a wrong password: exit %d, %q", r.code, r.err)
	}
	if r := e.run(true, "dev@example.com\n"+password+"\n", "login"); r.code != 0 || !strings.Contains(r.out, "✓ Logged in as dev@example.com") {
		t.Errorf("login on a terminal: exit %d, %q %q", r.code, r.out, r.err)
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
	if r := e.run(false, "", "projects", "get", "nosuchproj12"); r.code != factory.ExitNotFound || r.err != "sov: project nosuchproj12 not found (not_found)\n" {
		t.Errorf("projects get of a missing project: exit %d, %q", r.code, r.err)
	}
	if r := e.run(false, "", "projects", "list", "--org", "Nope"); r.code != factory.ExitNotFound {
		t.Errorf("projects list --org Nope: exit %d, %q", r.code, r.err)
	}
	e.ok("", "orgs", "create", "Acme")
	e.ok("", "orgs", "create", "Globex")
	if r := e.run(false, "", "projects", "list"); r.code != factory.ExitUsage || !strings.Contains(r.err, "choose one with --org (") ||
		!strings.Contains(r.err, "Acme") || !strings.Contains(r.err, "Globex") {
		t.Errorf("projects list with two orgs and no --org: exit %d, %q", r.code, r.err)
	}
	if out := e.ok("", "orgs", "list", "--json"); !strings.Contains(out, `"name": "Globex"`) || !strings.Contains(out, `"role": "owner"`) {
		t.Errorf("orgs list --json:\n%s", out)
	}

	// --project takes a name only when it names one project.
	if r := e.run(false, "", "keys", "list", "--project", "shop"); r.code != factory.ExitNotFound || !strings.Contains(r.err, `no project of yours has the ref, id or name "shop"`) {
		t.Errorf("keys list --project of no project: exit %d, %q", r.code, r.err)
	}
	e.ok("", "projects", "create", "shop", "--org", "Acme", "--no-keys")
	e.ok("", "projects", "create", "shop", "--org", "Globex", "--no-keys")
	if r := e.run(false, "", "keys", "list", "--project", "shop"); r.code != factory.ExitUsage || !strings.Contains(r.err, `2 of your projects are named "shop"`) {
		t.Errorf("keys list --project of two projects: exit %d, %q", r.code, r.err)
	}
}

func TestDevMail(t *testing.T) {
	e := newEnv(t)
	e.skew = time.Minute
	// Signing up sends a verification mail, kept in the dev mailbox.
	anon := sovereign.NewManagementClient(e.p.APIURL, sovereign.WithRetries(0))
	for _, email := range []string{"ops@example.com", "dev@example.com"} {
		if _, err := anon.Signup(t.Context(), email, password); err != nil {
			t.Fatal(err)
		}
	}
	var mails []sovereign.Mail
	if err := json.Unmarshal([]byte(e.ok("", "dev", "mail", "--json")), &mails); err != nil || len(mails) != 2 ||
		mails[0].To != "dev@example.com" || mails[1].To != "ops@example.com" {
		t.Fatalf("dev mail --json (newest first): %+v %v", mails, err)
	}

	// `sov dev` passes its arguments to the server, but `sov dev mail` is
	// its own command, needing no login. A pipe gets one line a mail.
	out := e.ok("", "dev", "mail", "--to", "dev@example.com")
	want := mails[0].SentAt.UTC().Format(time.RFC3339) + "\tdev@example.com\tVerify your email address for Sovereign\tHello, "
	if !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 || !strings.Contains(out, "verification token") {
		t.Errorf("dev mail in a pipe: %q\nwant one line starting %q", out, want)
	}
	r := e.run(true, "", "dev", "mail")
	if r.code != 0 || !strings.Contains(r.out, "To:      dev@example.com\nSubject: Verify your email address for Sovereign\nSent:    1 minute ago\n\nHello,\n") ||
		!strings.Contains(r.out, "To:      ops@example.com") {
		t.Errorf("dev mail on a terminal:\n%s%s", r.out, r.err)
	}
}

// TestControlPlaneDown: with the control plane gone, commands that need it
// say so and how to check, with the generic exit code.
func TestControlPlaneDown(t *testing.T) {
	e := newEnv(t)
	e.signup("dev@example.com")
	e.p.StopControlPlane()
	r := e.run(false, "", "orgs", "list")
	if r.code != factory.ExitError || !strings.Contains(r.err, "(unavailable)") || !strings.Contains(r.err, "Is the platform running?") {
		t.Errorf("orgs list with the control plane down: exit %d, %q", r.code, r.err)
	}
}
