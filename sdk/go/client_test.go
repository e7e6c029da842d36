package sovereign

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// These tests run the clients against minimal Connect handlers written here,
// to pin down what the SDK itself does: headers, retries, paging, waiting.
// What the platform answers is tested against the real platform by the
// examples and by the servers' own tests.

// withBackoff shortens the delay between attempts.
func withBackoff(base, limit time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, limit }
}

// recorder counts the requests of each procedure and keeps their headers.
type recorder struct {
	mu      sync.Mutex
	headers map[string][]http.Header
}

func (r *recorder) add(proc string, h http.Header) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.headers == nil {
		r.headers = map[string][]http.Header{}
	}
	r.headers[proc] = append(r.headers[proc], h.Clone())
	return len(r.headers[proc])
}

func (r *recorder) get(proc string) []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers[proc]
}

// fakeControlPlane answers the procedures a test sets; the others are
// unimplemented.
type fakeControlPlane struct {
	controlplanev1connect.UnimplementedAccountServiceHandler
	controlplanev1connect.UnimplementedOrganizationServiceHandler
	controlplanev1connect.UnimplementedProjectServiceHandler
	rec recorder

	listOrganizations  func(n int) (*controlplanev1.ListOrganizationsResponse, error)
	createOrganization func(n int) (*controlplanev1.CreateOrganizationResponse, error)
	login              func(n int) (*controlplanev1.LoginResponse, error)
	signup             func(n int, req *controlplanev1.SignupRequest) (*controlplanev1.SignupResponse, error)
	whoAmI             func(n int) (*controlplanev1.WhoAmIResponse, error)
	listProjects       func(n int, req *controlplanev1.ListProjectsRequest) (*controlplanev1.ListProjectsResponse, error)
	getProject         func(n int) (*controlplanev1.GetProjectResponse, error)
	pauseProject       func(n int) (*controlplanev1.PauseProjectResponse, error)
	createAPIKey       func(n int, req *controlplanev1.CreateApiKeyRequest) (*controlplanev1.CreateApiKeyResponse, error)
}

func handle[Req, Res any](rec *recorder, req *connect.Request[Req], f func(n int) (*Res, error)) (*connect.Response[Res], error) {
	n := rec.add(req.Spec().Procedure, req.Header())
	if f == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("not in this test"))
	}
	res, err := f(n)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

func (f *fakeControlPlane) ListOrganizations(_ context.Context, r *connect.Request[controlplanev1.ListOrganizationsRequest]) (*connect.Response[controlplanev1.ListOrganizationsResponse], error) {
	return handle(&f.rec, r, f.listOrganizations)
}

func (f *fakeControlPlane) CreateOrganization(_ context.Context, r *connect.Request[controlplanev1.CreateOrganizationRequest]) (*connect.Response[controlplanev1.CreateOrganizationResponse], error) {
	return handle(&f.rec, r, f.createOrganization)
}

func (f *fakeControlPlane) Login(_ context.Context, r *connect.Request[controlplanev1.LoginRequest]) (*connect.Response[controlplanev1.LoginResponse], error) {
	return handle(&f.rec, r, f.login)
}

func (f *fakeControlPlane) Signup(_ context.Context, r *connect.Request[controlplanev1.SignupRequest]) (*connect.Response[controlplanev1.SignupResponse], error) {
	var h func(int) (*controlplanev1.SignupResponse, error)
	if f.signup != nil {
		h = func(n int) (*controlplanev1.SignupResponse, error) { return f.signup(n, r.Msg) }
	}
	return handle(&f.rec, r, h)
}

func (f *fakeControlPlane) WhoAmI(_ context.Context, r *connect.Request[controlplanev1.WhoAmIRequest]) (*connect.Response[controlplanev1.WhoAmIResponse], error) {
	return handle(&f.rec, r, f.whoAmI)
}

func (f *fakeControlPlane) ListProjects(_ context.Context, r *connect.Request[controlplanev1.ListProjectsRequest]) (*connect.Response[controlplanev1.ListProjectsResponse], error) {
	var h func(int) (*controlplanev1.ListProjectsResponse, error)
	if f.listProjects != nil {
		h = func(n int) (*controlplanev1.ListProjectsResponse, error) { return f.listProjects(n, r.Msg) }
	}
	return handle(&f.rec, r, h)
}

func (f *fakeControlPlane) GetProject(_ context.Context, r *connect.Request[controlplanev1.GetProjectRequest]) (*connect.Response[controlplanev1.GetProjectResponse], error) {
	return handle(&f.rec, r, f.getProject)
}

func (f *fakeControlPlane) PauseProject(_ context.Context, r *connect.Request[controlplanev1.PauseProjectRequest]) (*connect.Response[controlplanev1.PauseProjectResponse], error) {
	return handle(&f.rec, r, f.pauseProject)
}

func (f *fakeControlPlane) CreateApiKey(_ context.Context, r *connect.Request[controlplanev1.CreateApiKeyRequest]) (*connect.Response[controlplanev1.CreateApiKeyResponse], error) {
	var h func(int) (*controlplanev1.CreateApiKeyResponse, error)
	if f.createAPIKey != nil {
		h = func(n int) (*controlplanev1.CreateApiKeyResponse, error) { return f.createAPIKey(n, r.Msg) }
	}
	return handle(&f.rec, r, h)
}

// serve starts f and returns a client of it.
func serve(t *testing.T, f *fakeControlPlane, opts ...Option) *ManagementClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewAccountServiceHandler(f))
	mux.Handle(controlplanev1connect.NewOrganizationServiceHandler(f))
	mux.Handle(controlplanev1connect.NewProjectServiceHandler(f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return NewManagementClient(srv.URL, append([]Option{withBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
}

func unavailable() error { return connect.NewError(connect.CodeUnavailable, errors.New("try again")) }

// failFirst answers Unavailable to the first n requests and ok after.
func failFirst[Res any](n int, ok *Res) func(int) (*Res, error) {
	return func(i int) (*Res, error) {
		if i <= n {
			return nil, unavailable()
		}
		return ok, nil
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestReadIsRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{listOrganizations: failFirst(2, &controlplanev1.ListOrganizationsResponse{
		Organizations: []*controlplanev1.Organization{{Id: "o1", Name: "Acme", Role: controlplanev1.Role_ROLE_OWNER}},
	})}
	mc := serve(t, f)
	orgs, err := Collect(mc.Organizations(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 1 || orgs[0].Name != "Acme" || orgs[0].Role != RoleOwner {
		t.Errorf("orgs = %+v", orgs)
	}
	if n := len(f.rec.get(controlplanev1connect.OrganizationServiceListOrganizationsProcedure)); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{0, 2} {
		t.Run(strconv.Itoa(retries), func(t *testing.T) {
			t.Parallel()
			f := &fakeControlPlane{listOrganizations: failFirst[controlplanev1.ListOrganizationsResponse](100, nil)}
			mc := serve(t, f, WithRetries(retries))
			_, err := Collect(mc.Organizations(t.Context()))
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeUnavailable || e.Message != "try again" ||
				e.Procedure != controlplanev1connect.OrganizationServiceListOrganizationsProcedure {
				t.Fatalf("err = %#v", err)
			}
			if n := len(f.rec.get(e.Procedure)); n != retries+1 {
				t.Errorf("%d attempts, want %d", n, retries+1)
			}
		})
	}
}

func TestCreateCarriesOneIdempotencyKeyAcrossRetries(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{createOrganization: func(n int) (*controlplanev1.CreateOrganizationResponse, error) {
		if n%3 != 0 { // two failures, then success, per call
			return nil, unavailable()
		}
		return &controlplanev1.CreateOrganizationResponse{Organization: &controlplanev1.Organization{Id: "o" + strconv.Itoa(n)}}, nil
	}}
	mc := serve(t, f)
	for range 2 {
		if _, err := mc.CreateOrganization(t.Context(), "Acme"); err != nil {
			t.Fatal(err)
		}
	}
	hs := f.rec.get(controlplanev1connect.OrganizationServiceCreateOrganizationProcedure)
	if len(hs) != 6 {
		t.Fatalf("%d attempts, want 6", len(hs))
	}
	keys := make([]string, len(hs))
	for i, h := range hs {
		keys[i] = h.Get(IdempotencyKeyHeader)
		if !uuidV4.MatchString(keys[i]) {
			t.Fatalf("attempt %d: Idempotency-Key %q is not a UUIDv4", i, keys[i])
		}
	}
	if keys[0] != keys[1] || keys[1] != keys[2] || keys[3] != keys[4] || keys[4] != keys[5] {
		t.Errorf("retries of one call changed the key: %q", keys)
	}
	if keys[0] == keys[3] {
		t.Errorf("two calls shared the key %q", keys[0])
	}
}

func TestEveryCreateCarriesAnIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{
		signup: func(int, *controlplanev1.SignupRequest) (*controlplanev1.SignupResponse, error) {
			return &controlplanev1.SignupResponse{Session: &controlplanev1.Session{}}, nil
		},
		createAPIKey: func(int, *controlplanev1.CreateApiKeyRequest) (*controlplanev1.CreateApiKeyResponse, error) {
			return &controlplanev1.CreateApiKeyResponse{}, nil
		},
	}
	mc := serve(t, f)
	if _, err := mc.Signup(t.Context(), "a@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	ctx := WithIdempotencyKey(t.Context(), "my-key")
	if _, _, err := mc.CreateAPIKey(ctx, CreateAPIKeyParams{ProjectID: "p", Name: "k", Kind: KeySecret}); err != nil {
		t.Fatal(err)
	}
	if k := f.rec.get(controlplanev1connect.AccountServiceSignupProcedure)[0].Get(IdempotencyKeyHeader); !uuidV4.MatchString(k) {
		t.Errorf("Signup's Idempotency-Key = %q", k)
	}
	if k := f.rec.get(controlplanev1connect.ProjectServiceCreateApiKeyProcedure)[0].Get(IdempotencyKeyHeader); k != "my-key" {
		t.Errorf("CreateApiKey's Idempotency-Key = %q, want the one from the context", k)
	}
}

func TestUnsafeCallsRunOnce(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{
		pauseProject: failFirst[controlplanev1.PauseProjectResponse](100, nil),
		login:        failFirst[controlplanev1.LoginResponse](100, nil),
	}
	mc := serve(t, f)
	if _, err := mc.PauseProject(t.Context(), "p"); !hasCode(err, CodeUnavailable) {
		t.Fatalf("PauseProject: %v", err)
	}
	if _, err := mc.Login(t.Context(), "a@example.com", "pw"); !hasCode(err, CodeUnavailable) {
		t.Fatalf("Login: %v", err)
	}
	for _, p := range []string{controlplanev1connect.ProjectServicePauseProjectProcedure, controlplanev1connect.AccountServiceLoginProcedure} {
		if n := len(f.rec.get(p)); n != 1 {
			t.Errorf("%s: %d attempts, want 1", p, n)
		}
		if k := f.rec.get(p)[0].Get(IdempotencyKeyHeader); k != "" {
			t.Errorf("%s carries Idempotency-Key %q", p, k)
		}
	}
}

func TestThrottledCallsAreRetriedOnlyWithRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retryAfter string
		attempts   int
	}{
		{"", 1},     // no word on when to come back
		{"3600", 1}, // longer than anyone should block
		{"0", 2},
	} {
		t.Run("retry-after="+tc.retryAfter, func(t *testing.T) {
			t.Parallel()
			f := &fakeControlPlane{whoAmI: func(n int) (*controlplanev1.WhoAmIResponse, error) {
				if n == 1 {
					err := connect.NewError(connect.CodeResourceExhausted, errors.New("slow down"))
					if tc.retryAfter != "" {
						err.Meta().Set("Retry-After", tc.retryAfter)
					}
					return nil, err
				}
				return &controlplanev1.WhoAmIResponse{Account: &controlplanev1.Account{Email: "a@example.com"}}, nil
			}}
			mc := serve(t, f)
			_, err := mc.WhoAmI(t.Context())
			if got := len(f.rec.get(controlplanev1connect.AccountServiceWhoAmIProcedure)); got != tc.attempts {
				t.Errorf("%d attempts, want %d (err %v)", got, tc.attempts, err)
			}
			if (err == nil) != (tc.attempts == 2) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestRetriesStopWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{listOrganizations: failFirst[controlplanev1.ListOrganizationsResponse](100, nil)}
	mc := serve(t, f, withBackoff(time.Hour, time.Hour), WithRetries(5))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Collect(mc.Organizations(ctx))
	if !hasCode(err, CodeUnavailable) {
		t.Fatalf("err = %v, want the last attempt's Unavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
}

func TestTransportFailuresAreRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	f := &fakeControlPlane{whoAmI: func(int) (*controlplanev1.WhoAmIResponse, error) {
		return &controlplanev1.WhoAmIResponse{Credential: CredentialSession}, nil
	}}
	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewAccountServiceHandler(f))
	// The first two requests lose their connection before any answer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	mc := NewManagementClient(srv.URL, withBackoff(time.Millisecond, time.Millisecond))
	who, err := mc.WhoAmI(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if who.Credential != CredentialSession || n.Load() != 3 {
		t.Errorf("credential %q after %d requests", who.Credential, n.Load())
	}
}

func TestCredentialsAreSent(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{whoAmI: func(int) (*controlplanev1.WhoAmIResponse, error) {
		return &controlplanev1.WhoAmIResponse{}, nil
	}}
	var calls atomic.Int32
	mc := serve(t, f, WithUserAgent("test-agent/1"), WithTokenFunc(func(context.Context) (string, error) {
		return fmt.Sprintf("sov_at_%d", calls.Add(1)), nil
	}))
	for range 2 {
		if _, err := mc.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	hs := f.rec.get(controlplanev1connect.AccountServiceWhoAmIProcedure)
	if a, b := hs[0].Get("Authorization"), hs[1].Get("Authorization"); a != "Bearer sov_at_1" || b != "Bearer sov_at_2" {
		t.Errorf("Authorization = %q then %q: the token func is not asked per request", a, b)
	}
	if ua := hs[0].Get("User-Agent"); !strings.HasPrefix(ua, "test-agent/1") {
		t.Errorf("User-Agent = %q", ua)
	}

	failing := serve(t, f, WithTokenFunc(func(context.Context) (string, error) { return "", errors.New("not logged in") }))
	if _, err := failing.WhoAmI(t.Context()); err == nil || err.Error() != "not logged in" {
		t.Errorf("err = %v, want the token func's", err)
	}
}

type fakeDataPlane struct {
	dataplanev1connect.UnimplementedProjectServiceHandler
	rec recorder
}

func (f *fakeDataPlane) GetCurrentProject(_ context.Context, r *connect.Request[dataplanev1.GetCurrentProjectRequest]) (*connect.Response[dataplanev1.GetCurrentProjectResponse], error) {
	return handle(&f.rec, r, func(int) (*dataplanev1.GetCurrentProjectResponse, error) {
		if r.Header().Get("apikey") != "sov_sk_test" {
			return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("missing key"))
		}
		return &dataplanev1.GetCurrentProjectResponse{Ref: "abcdefghijkl", Region: "local", KeyKind: "secret", KeyId: "k1"}, nil
	})
}

func TestClientSendsTheAPIKey(t *testing.T) {
	t.Parallel()
	f := &fakeDataPlane{}
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewProjectServiceHandler(f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	info, err := NewClient(srv.URL+"/", WithAPIKey("sov_sk_test")).CurrentProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if *info != (ProjectInfo{Ref: "abcdefghijkl", Region: "local", KeyKind: KeySecret, KeyID: "k1"}) {
		t.Errorf("info = %+v", info)
	}
	_, err = NewClient(srv.URL).CurrentProject(t.Context())
	if !IsUnauthenticated(err) {
		t.Errorf("without a key: %v", err)
	}
}

// pagedProjects serves projects p1…p<total>, size to a page.
func pagedProjects(total int) func(int, *controlplanev1.ListProjectsRequest) (*controlplanev1.ListProjectsResponse, error) {
	return func(_ int, req *controlplanev1.ListProjectsRequest) (*controlplanev1.ListProjectsResponse, error) {
		start := 0
		if req.GetPageToken() != "" {
			var err error
			if start, err = strconv.Atoi(strings.TrimPrefix(req.GetPageToken(), "from-")); err != nil {
				return nil, connect.NewError(connect.CodeInvalidArgument, err)
			}
		}
		size := int(req.GetPageSize())
		resp := &controlplanev1.ListProjectsResponse{}
		for i := start; i < min(start+size, total); i++ {
			resp.Projects = append(resp.Projects, &controlplanev1.Project{
				Id: fmt.Sprintf("p%d", i+1), OrganizationId: req.GetOrganizationId(),
				State: controlplanev1.ProjectState_PROJECT_STATE_ACTIVE,
			})
		}
		if start+size < total {
			resp.NextPageToken = fmt.Sprintf("from-%d", start+size)
		}
		return resp, nil
	}
}

func TestProjectsIteratesOverPages(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{listProjects: pagedProjects(5)}
	mc := serve(t, f)
	var ids []string
	for p, err := range mc.Projects(t.Context(), ListProjectsParams{OrganizationID: "o1", PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if p.OrganizationID != "o1" || p.State != ProjectActive {
			t.Errorf("project %+v", p)
		}
		ids = append(ids, p.ID)
	}
	if got := strings.Join(ids, ","); got != "p1,p2,p3,p4,p5" {
		t.Errorf("ids = %s", got)
	}
	proc := controlplanev1connect.ProjectServiceListProjectsProcedure
	if n := len(f.rec.get(proc)); n != 3 {
		t.Errorf("%d requests for 3 pages", n)
	}

	// Stopping early fetches no more pages.
	for range mc.Projects(t.Context(), ListProjectsParams{OrganizationID: "o1", PageSize: 2}) {
		break
	}
	if n := len(f.rec.get(proc)); n != 4 {
		t.Errorf("%d requests after a loop that stopped on page 1, want 4", n)
	}
}

func TestIteratorEndsWithTheError(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{listProjects: func(int, *controlplanev1.ListProjectsRequest) (*controlplanev1.ListProjectsResponse, error) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("organization not found"))
	}}
	mc := serve(t, f)
	var items int
	var errs []error
	for p, err := range mc.Projects(t.Context(), ListProjectsParams{OrganizationID: "nope"}) {
		items++
		if err != nil {
			errs = append(errs, err)
			if p != nil {
				t.Errorf("item with the error: %+v", p)
			}
		}
	}
	if items != 1 || len(errs) != 1 || !IsNotFound(errs[0]) {
		t.Errorf("%d items, errors %v", items, errs)
	}
}

func project(state controlplanev1.ProjectState, lastError string) *controlplanev1.GetProjectResponse {
	return &controlplanev1.GetProjectResponse{Project: &controlplanev1.Project{
		Id: "p1", Ref: "abcdefghijkl", State: state, LastError: lastError, CreatedAt: timestamppb.Now(),
	}}
}

func TestWaitProjectActive(t *testing.T) {
	t.Parallel()
	t.Run("becomes active", func(t *testing.T) {
		t.Parallel()
		f := &fakeControlPlane{getProject: func(n int) (*controlplanev1.GetProjectResponse, error) {
			if n < 3 {
				return project(controlplanev1.ProjectState_PROJECT_STATE_PROVISIONING, "schema busy"), nil
			}
			return project(controlplanev1.ProjectState_PROJECT_STATE_ACTIVE, ""), nil
		}}
		p, err := serve(t, f).WaitProjectActive(t.Context(), "p1")
		if err != nil {
			t.Fatal(err)
		}
		if p.State != ProjectActive || p.CreatedAt.IsZero() {
			t.Errorf("project %+v", p)
		}
	})
	t.Run("context ends first", func(t *testing.T) {
		t.Parallel()
		f := &fakeControlPlane{getProject: func(int) (*controlplanev1.GetProjectResponse, error) {
			return project(controlplanev1.ProjectState_PROJECT_STATE_PROVISIONING, "region local unreachable"), nil
		}}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := serve(t, f).WaitProjectActive(ctx, "p1")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "region local unreachable") {
			t.Errorf("err = %v, want the deadline and the last error", err)
		}
	})
	t.Run("leaves provisioning", func(t *testing.T) {
		t.Parallel()
		f := &fakeControlPlane{getProject: func(int) (*controlplanev1.GetProjectResponse, error) {
			return project(controlplanev1.ProjectState_PROJECT_STATE_DELETING, ""), nil
		}}
		_, err := serve(t, f).WaitProjectActive(t.Context(), "p1")
		if c, _ := ErrorCode(err); c != CodeFailedPrecondition || !strings.Contains(err.Error(), "deleting") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSignupReturnsTheSessionAndAccount(t *testing.T) {
	t.Parallel()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &fakeControlPlane{signup: func(_ int, req *controlplanev1.SignupRequest) (*controlplanev1.SignupResponse, error) {
		return &controlplanev1.SignupResponse{
			Account: &controlplanev1.Account{Id: "a1", Email: req.GetEmail()},
			Session: &controlplanev1.Session{AccessToken: "sov_at_x", AccessExpiresAt: timestamppb.New(exp), RefreshToken: "sov_rt_x"},
		}, nil
	}}
	s, err := serve(t, f).Signup(t.Context(), "dev@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if s.AccessToken != "sov_at_x" || s.RefreshToken != "sov_rt_x" || !s.AccessExpiresAt.Equal(exp) ||
		!s.RefreshExpiresAt.IsZero() || s.Account == nil || s.Account.Email != "dev@example.com" {
		t.Errorf("session %+v", s)
	}
}

func TestBadArgumentsAreRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	f := &fakeControlPlane{}
	mc := serve(t, f)
	for name, err := range map[string]error{
		"role": func() error { _, _, err := mc.InviteMember(t.Context(), "o", "a@example.com", "boss"); return err }(),
		"kind": func() error {
			_, _, err := mc.CreateAPIKey(t.Context(), CreateAPIKeyParams{ProjectID: "p", Name: "k", Kind: "admin"})
			return err
		}(),
		"ttl": func() error {
			_, _, err := mc.CreateAPIKey(t.Context(), CreateAPIKeyParams{ProjectID: "p", Name: "k", Kind: KeySecret, TTL: -time.Second})
			return err
		}(),
		"token ttl": func() error { _, _, err := mc.CreateToken(t.Context(), "ci", time.Millisecond); return err }(),
	} {
		if c, ok := ErrorCode(err); !ok || c != CodeInvalidArgument {
			t.Errorf("%s: err = %v, want InvalidArgument", name, err)
		}
	}
	if len(f.rec.headers) != 0 {
		t.Errorf("requests were sent: %v", f.rec.headers)
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	wrapped := fmt.Errorf("create: %w", &Error{Code: CodeNotFound, Message: "no such project"})
	if !IsNotFound(wrapped) || IsAlreadyExists(wrapped) || IsUnauthenticated(wrapped) || IsPermissionDenied(wrapped) {
		t.Error("helpers misread a wrapped NotFound")
	}
	if _, ok := ErrorCode(errors.New("plain")); ok {
		t.Error("ErrorCode found a code in a plain error")
	}
	if IsNotFound(nil) {
		t.Error("IsNotFound(nil)")
	}
	if s := wrapped.Error(); s != "create: sovereign: not_found: no such project" {
		t.Errorf("Error() = %q", s)
	}
}
