package rules

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests run `sov db rules` against the real platform
// (internal/platformtest: both planes in process on a fresh database) with
// a project and secret key made through the SDK. The platform's checking of
// rules is tested by its own tests and by cli/auth/authtest.

func TestMain(m *testing.M) { testenv.Main(m) }

// run runs `sov db rules --key key args…` against the data plane at url, as
// on a terminal when tty, and returns stdout and the error.
func run(t *testing.T, url, key string, tty bool, args ...string) (string, error) {
	t.Helper()
	out := &bytes.Buffer{}
	f := &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: &bytes.Buffer{}, OutTTY: tty},
		APIURL: "http://127.0.0.1:1", DataURL: url, Now: time.Now,
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0)},
	}
	cmd := NewCmdRules(f)
	shared.AddKeyFlag(cmd)
	cmd.SetArgs(append([]string{"--key", key}, args...))
	cmd.SetOut(out)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// show is a collection's rules as the platform has them.
func show(r *sovereign.Rules) string {
	var parts []string
	for _, op := range []struct {
		name string
		rule *string
	}{{"list", r.List}, {"view", r.View}, {"create", r.Create}, {"update", r.Update}, {"delete", r.Delete}} {
		if op.rule != nil {
			parts = append(parts, op.name+"="+*op.rule)
		}
	}
	return strings.Join(parts, " ")
}

func TestGetAndSet(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	key := clitestenv.SecretKey(t, p.APIURL, "blog")
	url := p.DataURL
	cs := sovereign.NewClient(url, sovereign.WithAPIKey(key)).Collections()
	if _, err := cs.Create(t.Context(), sovereign.CollectionSpec{Name: "posts", Fields: []sovereign.Field{{Name: "owner", Type: sovereign.FieldText}}}); err != nil {
		t.Fatalf("create posts: %v", err)
	}
	rules := func() string {
		t.Helper()
		r, err := cs.Rules(t.Context(), "posts")
		if err != nil {
			t.Fatalf("read the rules back: %v", err)
		}
		return show(r)
	}

	// No rules yet: everything denied, an empty object.
	if out, err := run(t, url, key, false, "get", "posts"); err != nil || out != "{}\n" {
		t.Errorf("get with no rules: %q, %v", out, err)
	}
	out, err := run(t, url, key, true, "set", "posts", "--list", "true", "--view", "record.owner == auth.uid")
	if err != nil || out != "✓ Set the rules of posts: list, view (no rule, denied: create, update, delete)\n" {
		t.Errorf("set on a terminal: %q, %v", out, err)
	}
	if got, want := rules(), "list=true view=record.owner == auth.uid"; got != want {
		t.Errorf("rules after set on a terminal: %q, want %q", got, want)
	}
	if out, err := run(t, url, key, false, "set", "posts", "--delete", "false"); err != nil || out != "" {
		t.Errorf("set in a pipe: %q, %v", out, err)
	}
	// A set replaces all five rules.
	want := "{\n  \"delete\": \"false\"\n}\n"
	if out, err := run(t, url, key, false, "get", "posts"); err != nil || out != want {
		t.Errorf("get: %q, %v; want %q", out, err, want)
	}
	out, err = run(t, url, key, false, "set", "posts", "--view", "record.owner == auth.uid", "--create", "auth.uid != ''", "--json")
	if want := "{\n  \"view\": \"record.owner == auth.uid\",\n  \"create\": \"auth.uid != ''\"\n}\n"; err != nil || out != want {
		t.Errorf("set --json: %q, %v; want %q", out, err, want)
	}
	// A rule with a mistake is the platform's invalid argument and changes
	// nothing.
	if _, err := run(t, url, key, false, "set", "posts", "--view", "nope == 1"); !sovereign.IsInvalidArgument(err) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("set a bad rule: %v", err)
	}
	if got, want := rules(), "view=record.owner == auth.uid create=auth.uid != ''"; got != want {
		t.Errorf("rules after a bad set: %q, want %q", got, want)
	}
	if _, err := run(t, url, key, false, "get", "nosuch"); factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("get a missing collection: %v", err)
	}
	if _, err := run(t, url, key, false, "set", "nosuch", "--view", "true"); factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("set a missing collection: %v", err)
	}
	if _, err := run(t, url, "sov_sk_wrong", false, "get", "posts"); !sovereign.IsUnauthenticated(err) || factory.ExitCode(err) != factory.ExitAuth {
		t.Errorf("wrong key: %v", err)
	}
}
