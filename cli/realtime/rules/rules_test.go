package rules

import (
	"bytes"
	"context"
	"regexp"
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

// These tests run `sov realtime rules` as on a terminal against the real
// platform (internal/platformtest: both planes in process on a fresh
// database), with a project and secret key made through the SDK. The pipe
// and JSON output, exit codes and errors are in ../../realtimetest.

func TestMain(m *testing.M) { testenv.Main(m) }

// run runs `sov realtime rules --key key args…` against the data plane at
// url, as on a terminal, and returns stdout and the error.
func run(t *testing.T, url, key string, args ...string) (string, error) {
	t.Helper()
	out := &bytes.Buffer{}
	f := &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: &bytes.Buffer{}, OutTTY: true},
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

func TestTerminal(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	key := clitestenv.SecretKey(t, p.APIURL, "rooms")
	url := p.DataURL

	if out, err := run(t, url, key, "set", "room:", "--join", `auth.uid != ""`, "--send", "channel.rest == auth.uid"); err != nil || out != "✓ created the rule of room:\n" {
		t.Errorf("set a new rule: %q, %v", out, err)
	}
	if out, err := run(t, url, key, "set", "room:", "--join", "true"); err != nil || out != "✓ replaced the rule of room:\n" {
		t.Errorf("replace a rule: %q, %v", out, err)
	}
	if _, err := run(t, url, key, "set", "game:", "--send", `auth.role == "admin"`); err != nil {
		t.Fatalf("set game: %v", err)
	}
	// A header, the rules by prefix, "-" for an empty rule.
	out, err := run(t, url, key, "ls")
	want := regexp.MustCompile(`^PREFIX +JOIN +SEND +UPDATED\n` +
		`game: +- +auth\.role == "admin" +\S.*\n` +
		`room: +true +- +\S.*\n$`)
	if err != nil || !want.MatchString(out) {
		t.Errorf("ls: %q, %v; want it to match %s", out, err, want)
	}
	if out, err := run(t, url, key, "rm", "game:"); err != nil || out != "✓ deleted the rule of game:\n" {
		t.Errorf("rm: %q, %v", out, err)
	}
	if out, err := run(t, url, key, "rm", "game:"); factory.ExitCode(err) != factory.ExitNotFound || out != "" {
		t.Errorf("rm a prefix without a rule: %q, %v (exit code %d)", out, err, factory.ExitCode(err))
	}
}
