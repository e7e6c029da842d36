package sovereign

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// tokenNetwork stands in for the network answers the session logic reacts
// to, and nothing more: it hands out numbered tokens (at-N, rt-N), refuses a
// refresh token used twice, and refuses an access token it was told is
// expired with the message the platform's JWT check gives. The platform's
// own token rules are tested by its auth tests and, end to end, by the
// examples.
type tokenNetwork struct {
	dataplanev1connect.UnimplementedAuthServiceHandler
	dataplanev1connect.UnimplementedRecordServiceHandler
	dataplanev1connect.UnimplementedRulesServiceHandler
	rec recorder

	mu sync.Mutex
	n  int
	// lifetime of the access tokens handed out.
	lifetime time.Duration
	refresh  map[string]bool // unused refresh tokens
	expired  map[string]bool // access tokens refused as expired
	revoked  bool            // every access token refused as revoked
	// refreshDelay holds each refresh, so that concurrent callers overlap.
	refreshDelay time.Duration
	// refreshErr answers refreshes instead of a session.
	refreshErr error
}

func newTokenNetwork() *tokenNetwork {
	return &tokenNetwork{lifetime: time.Hour, refresh: map[string]bool{}, expired: map[string]bool{}}
}

// issue returns session number n+1.
func (f *tokenNetwork) issue() *dataplanev1.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	rt := fmt.Sprintf("rt-%d", f.n)
	f.refresh[rt] = true
	return &dataplanev1.Session{
		AccessToken: fmt.Sprintf("at-%d", f.n), AccessExpiresAt: timestamppb.New(time.Now().Add(f.lifetime)),
		RefreshToken: rt, RefreshExpiresAt: timestamppb.New(time.Now().Add(7 * 24 * time.Hour)), Aal: "aal1",
		User: &dataplanev1.User{Id: "u1", Email: "ada@example.com", Role: "authenticated"},
	}
}

// seed makes the tokenNetwork know a session the client starts with.
func (f *tokenNetwork) seed(at string, expiresIn time.Duration) *AuthSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh["rt-0"] = true
	return &AuthSession{AccessToken: at, AccessExpiresAt: time.Now().Add(expiresIn), RefreshToken: "rt-0", AAL: AAL1,
		User: &User{ID: "u1", Email: "ada@example.com"}}
}

func (f *tokenNetwork) Token(_ context.Context, r *connect.Request[dataplanev1.TokenRequest]) (*connect.Response[dataplanev1.TokenResponse], error) {
	return handle(&f.rec, r, func(int) (*dataplanev1.TokenResponse, error) {
		switch r.Msg.GetGrantType() {
		case "password", "anonymous":
			return &dataplanev1.TokenResponse{Session: f.issue()}, nil
		case "refresh_token":
			time.Sleep(f.refreshDelay)
			f.mu.Lock()
			ok, err := f.refresh[r.Msg.GetRefreshToken()], f.refreshErr
			delete(f.refresh, r.Msg.GetRefreshToken())
			f.mu.Unlock()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("refresh token already used: session revoked"))
			}
			return &dataplanev1.TokenResponse{Session: f.issue()}, nil
		}
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("grant_type"))
	})
}

// user checks the request's access token.
func (f *tokenNetwork) user(h http.Header) error {
	tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("not signed in"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.revoked:
		return connect.NewError(connect.CodeUnauthenticated, errors.New("session revoked"))
	case f.expired[tok]:
		return connect.NewError(connect.CodeUnauthenticated, errors.New("token is expired"))
	}
	return nil
}

func (f *tokenNetwork) SignOut(_ context.Context, r *connect.Request[dataplanev1.SignOutRequest]) (*connect.Response[dataplanev1.SignOutResponse], error) {
	return handle(&f.rec, r, func(int) (*dataplanev1.SignOutResponse, error) {
		return &dataplanev1.SignOutResponse{}, f.user(r.Header())
	})
}

func (f *tokenNetwork) GetRecord(_ context.Context, r *connect.Request[dataplanev1.GetRecordRequest]) (*connect.Response[dataplanev1.GetRecordResponse], error) {
	return handle(&f.rec, r, func(int) (*dataplanev1.GetRecordResponse, error) {
		if r.Header().Get("Authorization") != "" {
			if err := f.user(r.Header()); err != nil {
				return nil, err
			}
		}
		s, _ := structpb.NewStruct(map[string]any{"id": r.Msg.GetId(), "version": 1})
		return &dataplanev1.GetRecordResponse{Record: s}, nil
	})
}

func (f *tokenNetwork) CreateRecord(_ context.Context, r *connect.Request[dataplanev1.CreateRecordRequest]) (*connect.Response[dataplanev1.CreateRecordResponse], error) {
	return handle(&f.rec, r, func(int) (*dataplanev1.CreateRecordResponse, error) {
		if err := f.user(r.Header()); err != nil {
			return nil, err
		}
		s, _ := structpb.NewStruct(map[string]any{"id": "r1", "version": 1})
		return &dataplanev1.CreateRecordResponse{Record: s}, nil
	})
}

func (f *tokenNetwork) GetRules(_ context.Context, r *connect.Request[dataplanev1.GetRulesRequest]) (*connect.Response[dataplanev1.GetRulesResponse], error) {
	return handle(&f.rec, r, func(int) (*dataplanev1.GetRulesResponse, error) {
		return &dataplanev1.GetRulesResponse{Rules: &dataplanev1.Rules{View: new("record.owner == auth.uid")}}, nil
	})
}

func serveTokens(t *testing.T, f *tokenNetwork, opts ...Option) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewAuthServiceHandler(f))
	mux.Handle(dataplanev1connect.NewRecordServiceHandler(f))
	mux.Handle(dataplanev1connect.NewRulesServiceHandler(f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return NewClient(srv.URL, append([]Option{WithAPIKey("sov_pk_test"), withBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
}

// sessions collects what OnSessionChange reports.
type sessions struct {
	mu  sync.Mutex
	got []*AuthSession
}

func (s *sessions) add(a *AuthSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, a)
}

func (s *sessions) tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.got {
		if a == nil {
			out = append(out, "<nil>")
			continue
		}
		out = append(out, a.AccessToken+"/"+a.RefreshToken)
	}
	return out
}

// bearers returns the access tokens the procedure's requests carried, ""
// for none, and fails when one lacked the API key.
func bearers(t *testing.T, f *tokenNetwork, proc string) []string {
	t.Helper()
	var out []string
	for _, h := range f.rec.get(proc) {
		if h.Get("apikey") != "sov_pk_test" {
			t.Errorf("%s without the API key: %v", proc, h)
		}
		out = append(out, strings.TrimPrefix(h.Get("Authorization"), "Bearer "))
	}
	return out
}

func TestConcurrentCallersShareOneRefresh(t *testing.T) {
	t.Parallel()
	f := newTokenNetwork()
	f.refreshDelay = 20 * time.Millisecond
	c := serveTokens(t, f)
	var seen sessions
	c.Auth().OnSessionChange(seen.add)
	// The token expires within RefreshMargin: every caller wants it
	// refreshed before its call.
	c.Auth().SetSession(f.seed("at-0", 10*time.Second))

	posts := Collection[Record](c, "posts")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := posts.Get(t.Context(), "r1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	if n := len(f.rec.get(dataplanev1connect.AuthServiceTokenProcedure)); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	if tok := bearers(t, f, dataplanev1connect.AuthServiceTokenProcedure); tok[0] != "" {
		t.Errorf("the refresh carried the access token %q", tok[0])
	}
	for _, b := range bearers(t, f, dataplanev1connect.RecordServiceGetRecordProcedure) {
		if b != "at-1" {
			t.Errorf("a call carried %q, want the refreshed at-1", b)
		}
	}
	if got := seen.tokens(); len(got) != 1 || got[0] != "at-1/rt-1" {
		t.Errorf("hook saw %v, want the rotated session once", got)
	}
	s, err := c.Auth().Session(t.Context())
	if err != nil || s.AccessToken != "at-1" || s.RefreshToken != "rt-1" || s.User.ID != "u1" {
		t.Errorf("session %+v, %v", s, err)
	}
}

func TestExpiredTokenAnswerRefreshesAndRetries(t *testing.T) {
	t.Parallel()
	f := newTokenNetwork()
	f.refreshDelay = 20 * time.Millisecond
	f.expired["at-0"] = true
	c := serveTokens(t, f, WithRetries(0))
	var seen sessions
	c.Auth().OnSessionChange(seen.add)
	// The clock here thinks the token good for an hour; the platform
	// disagrees.
	c.Auth().SetSession(f.seed("at-0", time.Hour))

	posts := Collection[Record](c, "posts")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := posts.Insert(t.Context(), Record{"title": "x"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	if n := len(f.rec.get(dataplanev1connect.AuthServiceTokenProcedure)); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	// Each insert went once with at-0 (refused) and once with at-1, with
	// its idempotency key both times, though retries are off.
	headers := f.rec.get(dataplanev1connect.RecordServiceCreateRecordProcedure)
	keys := map[string][]string{}
	for _, h := range headers {
		keys[h.Get(IdempotencyKeyHeader)] = append(keys[h.Get(IdempotencyKeyHeader)], strings.TrimPrefix(h.Get("Authorization"), "Bearer "))
	}
	if len(keys) != 10 {
		t.Errorf("%d idempotency keys for 10 inserts", len(keys))
	}
	for k, toks := range keys {
		if len(toks) != 2 || toks[1] != "at-1" {
			// A caller that started after the refresh sends at-1 at once.
			if len(toks) != 1 || toks[0] != "at-1" {
				t.Errorf("insert %s carried %v", k, toks)
			}
		}
	}
	if got := seen.tokens(); len(got) != 1 || got[0] != "at-1/rt-1" {
		t.Errorf("hook saw %v", got)
	}
}

func TestOtherUnauthenticatedAnswersAreNotRefreshed(t *testing.T) {
	t.Parallel()
	f := newTokenNetwork()
	f.revoked = true
	c := serveTokens(t, f)
	c.Auth().SetSession(f.seed("at-0", time.Hour))
	_, err := Collection[Record](c, "posts").Insert(t.Context(), Record{"title": "x"})
	if !IsUnauthenticated(err) || !strings.Contains(err.Error(), "session revoked") {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.rec.get(dataplanev1connect.AuthServiceTokenProcedure)); n != 0 {
		t.Errorf("%d refreshes for a revoked session", n)
	}
}

func TestRefusedRefreshSignsOut(t *testing.T) {
	t.Parallel()
	f := newTokenNetwork()
	c := serveTokens(t, f)
	var seen sessions
	c.Auth().OnSessionChange(seen.add)
	s := f.seed("at-0", time.Second)
	s.RefreshToken = "rt-stolen-and-used"
	c.Auth().SetSession(s)

	posts := Collection[Record](c, "posts")
	_, err := posts.Get(t.Context(), "r1")
	if !IsUnauthenticated(err) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("err = %v", err)
	}
	if got := seen.tokens(); len(got) != 1 || got[0] != "<nil>" {
		t.Errorf("hook saw %v, want one sign-out", got)
	}
	if s, err := c.Auth().Session(t.Context()); s != nil || err != nil {
		t.Errorf("session after the refusal: %+v, %v", s, err)
	}
	// Signed out, calls go on with the API key alone.
	if _, err := posts.Get(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	got := bearers(t, f, dataplanev1connect.RecordServiceGetRecordProcedure)
	if len(got) != 1 || got[0] != "" {
		t.Errorf("calls carried %q", got)
	}
}

func TestUnreachableRefreshUsesTheTokenWhileItLasts(t *testing.T) {
	t.Parallel()
	f := newTokenNetwork()
	f.refreshErr = connect.NewError(connect.CodeUnavailable, errors.New("down"))
	c := serveTokens(t, f)
	c.Auth().SetSession(f.seed("at-0", 10*time.Second))
	if _, err := Collection[Record](c, "posts").Get(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	if got := bearers(t, f, dataplanev1connect.RecordServiceGetRecordProcedure); len(got) != 1 || got[0] != "at-0" {
		t.Errorf("calls carried %q", got)
	}

	// Expired by the clock here, the token is not sent: the error is.
	c.Auth().SetSession(f.seed("at-0", -time.Second))
	if _, err := Collection[Record](c, "posts").Get(t.Context(), "r1"); codeOf(err) != CodeUnavailable {
		t.Errorf("err = %v", err)
	}
}

func TestSignInSignOutAndWhichCallsCarryTheUser(t *testing.T) {
	t.Parallel()
	f := newTokenNetwork()
	c := serveTokens(t, f)
	var seen sessions
	c.Auth().OnSessionChange(seen.add)

	s, err := c.Auth().SignInWithPassword(t.Context(), "ada@example.com", "correct-horse")
	if err != nil {
		t.Fatal(err)
	}
	if s.AccessToken != "at-1" || s.User.Email != "ada@example.com" || s.AAL != AAL1 {
		t.Errorf("session %+v", s)
	}
	// Changing what SignIn returned changes nothing inside.
	s.AccessToken = "tampered"

	if _, err := Collection[Record](c, "posts").Get(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	// Rules need the service role: no user token, even when signed in.
	if _, err := c.Collections().Rules(t.Context(), "posts"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth().SignOut(t.Context(), SignOutAll); err != nil {
		t.Fatal(err)
	}
	// Signed out already: nothing to send.
	if err := c.Auth().SignOut(t.Context(), SignOutSession); err != nil {
		t.Fatal(err)
	}

	for proc, want := range map[string][]string{
		dataplanev1connect.AuthServiceTokenProcedure:       {""},
		dataplanev1connect.RecordServiceGetRecordProcedure: {"at-1"},
		dataplanev1connect.RulesServiceGetRulesProcedure:   {""},
		dataplanev1connect.AuthServiceSignOutProcedure:     {"at-1"},
	} {
		if got := bearers(t, f, proc); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s carried %q, want %q", proc, got, want)
		}
	}
	if got := seen.tokens(); strings.Join(got, " ") != "at-1/rt-1 <nil>" {
		t.Errorf("hook saw %v", got)
	}
}

func TestFileSessionStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "session.json")
	store := NewFileSessionStore(path)
	if s, err := store.Load(t.Context()); s != nil || err != nil {
		t.Fatalf("missing file: %+v, %v", s, err)
	}

	f := newTokenNetwork()
	seed := f.seed("at-0", 10*time.Second)
	if err := store.Save(t.Context(), seed); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v, %v", fi, err)
	}

	// A new client loads the stored session at its first call, refreshes
	// it, and stores the rotated one before using it.
	c := serveTokens(t, f, WithSessionStore(store))
	if _, err := Collection[Record](c, "posts").Get(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileSessionStore(path).Load(t.Context())
	if err != nil || s.AccessToken != "at-1" || s.RefreshToken != "rt-1" || s.User.Email != "ada@example.com" {
		t.Fatalf("stored %+v, %v", s, err)
	}

	if err := c.Auth().SignOut(t.Context(), SignOutSession); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after sign-out the file is still there: %v", err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileSessionStore(path).Load(t.Context()); err == nil {
		t.Error("a corrupt file loaded")
	}
}

// failingStore loads nothing and fails every save.
type failingStore struct{}

func (failingStore) Load(context.Context) (*AuthSession, error) { return nil, nil }
func (failingStore) Save(context.Context, *AuthSession) error   { return errors.New("disk full") }

func TestFailedSaveFailsTheCallButKeepsTheSession(t *testing.T) {
	t.Parallel()
	f := newTokenNetwork()
	c := serveTokens(t, f, WithSessionStore(failingStore{}))
	_, err := c.Auth().SignInWithPassword(t.Context(), "ada@example.com", "correct-horse")
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	if s, _ := c.Auth().Session(t.Context()); s == nil || s.AccessToken != "at-1" {
		t.Errorf("session %+v", s)
	}
}

func TestRulesRoundTrip(t *testing.T) {
	t.Parallel()
	r := rulesOf(Rules{View: new("record.owner == auth.uid"), Delete: new("false")}.proto())
	if r.List != nil || *r.View != "record.owner == auth.uid" || *r.Delete != "false" {
		t.Errorf("round trip: %+v", r)
	}
	if got := rulesOf(nil); *got != (Rules{}) {
		t.Errorf("nil rules: %+v", got)
	}
}
