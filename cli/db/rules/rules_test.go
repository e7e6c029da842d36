package rules

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	dpv1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// rulesService keeps the rules it is given, for one collection, posts;
// the platform's checking of rules is tested by its own tests and by
// cli/auth/authtest.
type rulesService struct {
	dataplanev1connect.UnimplementedRulesServiceHandler
	mu    sync.Mutex
	rules *dpv1.Rules
}

func (s *rulesService) GetRules(_ context.Context, r *connect.Request[dpv1.GetRulesRequest]) (*connect.Response[dpv1.GetRulesResponse], error) {
	if r.Msg.GetCollection() != "posts" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no collection "+r.Msg.GetCollection()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return connect.NewResponse(&dpv1.GetRulesResponse{Rules: s.rules}), nil
}

func (s *rulesService) SetRules(_ context.Context, r *connect.Request[dpv1.SetRulesRequest]) (*connect.Response[dpv1.SetRulesResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = proto.CloneOf(r.Msg.GetRules())
	return connect.NewResponse(&dpv1.SetRulesResponse{Rules: s.rules}), nil
}

func run(t *testing.T, url string, tty bool, args ...string) (string, error) {
	t.Helper()
	out := &bytes.Buffer{}
	f := &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: &bytes.Buffer{}, OutTTY: tty},
		APIURL: "http://127.0.0.1:1", DataURL: url, Now: time.Now,
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0)},
	}
	cmd := NewCmdRules(f)
	shared.AddKeyFlag(cmd)
	cmd.SetArgs(append([]string{"--key", "sov_sk_fake"}, args...))
	cmd.SetOut(out)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestGetAndSet(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewRulesServiceHandler(&rulesService{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// No rules yet: everything denied, an empty object.
	if out, err := run(t, srv.URL, false, "get", "posts"); err != nil || out != "{}\n" {
		t.Errorf("get with no rules: %q, %v", out, err)
	}
	out, err := run(t, srv.URL, true, "set", "posts", "--list", "true", "--view", "record.owner == auth.uid")
	if err != nil || out != "✓ Set the rules of posts: list, view (no rule, denied: create, update, delete)\n" {
		t.Errorf("set on a terminal: %q, %v", out, err)
	}
	if out, err := run(t, srv.URL, false, "set", "posts", "--delete", "false"); err != nil || out != "" {
		t.Errorf("set in a pipe: %q, %v", out, err)
	}
	// A set replaces all five rules.
	want := "{\n  \"delete\": \"false\"\n}\n"
	if out, err := run(t, srv.URL, false, "get", "posts"); err != nil || out != want {
		t.Errorf("get: %q, %v; want %q", out, err, want)
	}
	out, err = run(t, srv.URL, false, "set", "posts", "--view", "record.owner == auth.uid", "--create", "auth.uid != ''", "--json")
	if want := "{\n  \"view\": \"record.owner == auth.uid\",\n  \"create\": \"auth.uid != ''\"\n}\n"; err != nil || out != want {
		t.Errorf("set --json: %q, %v; want %q", out, err, want)
	}
	if _, err := run(t, srv.URL, false, "get", "nosuch"); factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("get a missing collection: %v", err)
	}
}
