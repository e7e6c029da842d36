package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/internal/idempotency"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// orgs is a test handler whose CreateOrganization counts its runs and can be
// told to fail or to block.
type orgs struct {
	controlplanev1connect.UnimplementedOrganizationServiceHandler
	store *idempotency.Store
	runs  atomic.Int64
	fail  atomic.Bool
	gate  chan struct{} // when non-nil, each run waits on it
}

func (h *orgs) CreateOrganization(ctx context.Context, req *connect.Request[controlplanev1.CreateOrganizationRequest]) (*connect.Response[controlplanev1.CreateOrganizationResponse], error) {
	scope := req.Header().Get("X-Test-Scope")
	return idempotency.Do(ctx, h.store, scope, req, func(ctx context.Context, req *connect.Request[controlplanev1.CreateOrganizationRequest]) (*connect.Response[controlplanev1.CreateOrganizationResponse], error) {
		n := h.runs.Add(1)
		if h.gate != nil {
			<-h.gate
		}
		if h.fail.Load() {
			return nil, connect.NewError(connect.CodeUnavailable, errors.New("try again"))
		}
		return connect.NewResponse(&controlplanev1.CreateOrganizationResponse{Organization: &controlplanev1.Organization{Id: fmt.Sprint(n), Name: req.Msg.GetName()}}), nil
	})
}

func setup(t *testing.T, ttl time.Duration) (*orgs, controlplanev1connect.OrganizationServiceClient) {
	t.Helper()
	pool := testenv.Pool(t)
	_, err := pool.Exec(context.Background(), `CREATE SCHEMA cp; CREATE TABLE cp.idempotency_keys (
		scope text NOT NULL, key text NOT NULL, procedure text NOT NULL, request_hash bytea NOT NULL,
		response bytea, created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL,
		PRIMARY KEY (scope, key))`)
	if err != nil {
		t.Fatal(err)
	}
	h := &orgs{store: idempotency.New(idempotency.Config{Pool: pool, Table: pgx.Identifier{"cp", "idempotency_keys"}, TTL: ttl})}
	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewOrganizationServiceHandler(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return h, controlplanev1connect.NewOrganizationServiceClient(srv.Client(), srv.URL)
}

func create(ctx context.Context, c controlplanev1connect.OrganizationServiceClient, scope, key, name string) (*connect.Response[controlplanev1.CreateOrganizationResponse], error) {
	req := connect.NewRequest(&controlplanev1.CreateOrganizationRequest{Name: name})
	if key != "" {
		req.Header().Set(idempotency.Header, key)
	}
	req.Header().Set("X-Test-Scope", scope)
	return c.CreateOrganization(ctx, req)
}

func TestReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, c := setup(t, 0)

	first, err := create(ctx, c, "acct-1", "k1", "acme")
	if err != nil {
		t.Fatal(err)
	}
	again, err := create(ctx, c, "acct-1", "k1", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if h.runs.Load() != 1 || again.Msg.GetOrganization().GetId() != first.Msg.GetOrganization().GetId() || again.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry ran again or answered differently: runs=%d first=%v again=%v", h.runs.Load(), first.Msg, again.Msg)
	}

	// The same key with another body is refused, and runs nothing.
	_, err = create(ctx, c, "acct-1", "k1", "other")
	if connect.CodeOf(err) != connect.CodeInvalidArgument || h.runs.Load() != 1 {
		t.Fatalf("same key, other body: %v (runs %d); want InvalidArgument and no run", err, h.runs.Load())
	}
	// Another caller's identical key is its own.
	if _, err := create(ctx, c, "acct-2", "k1", "acme"); err != nil || h.runs.Load() != 2 {
		t.Fatalf("other scope: %v (runs %d); want a fresh run", err, h.runs.Load())
	}
	// No key: every call runs.
	for range 2 {
		if _, err := create(ctx, c, "acct-1", "", "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if h.runs.Load() != 4 {
		t.Fatalf("calls without a key ran %d times in all, want 4", h.runs.Load())
	}
}

func TestFailureReleasesKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, c := setup(t, 0)
	h.fail.Store(true)
	if _, err := create(ctx, c, "s", "k", "acme"); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("first try: %v, want the handler's Unavailable", err)
	}
	h.fail.Store(false)
	resp, err := create(ctx, c, "s", "k", "acme")
	if err != nil || h.runs.Load() != 2 || resp.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry after a failure: %v (runs %d); want a fresh run", err, h.runs.Load())
	}
}

func TestBadKey(t *testing.T) {
	t.Parallel()
	h, c := setup(t, 0)
	for _, key := range []string{"has space", strings.Repeat("k", idempotency.MaxKeyLen+1)} {
		if _, err := create(context.Background(), c, "s", key, "acme"); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("key %q: %v, want InvalidArgument", key, err)
		}
	}
	if h.runs.Load() != 0 {
		t.Fatal("a bad key ran the handler")
	}
}

func TestConcurrentRetriesRunOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, c := setup(t, 0)
	h.gate = make(chan struct{})
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = create(ctx, c, "s", "same", "acme") })
	}
	// Every request but the first answers at once (Aborted: in progress);
	// wait until the first one is running, then let it finish.
	deadline := time.Now().Add(30 * time.Second)
	for h.runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(h.gate)
	wg.Wait()
	ok, aborted := 0, 0
	for _, err := range errs {
		switch connect.CodeOf(err) {
		case connect.CodeUnknown:
			if err == nil {
				ok++
			}
		case connect.CodeAborted:
			aborted++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if h.runs.Load() != 1 || ok < 1 || ok+aborted != n {
		t.Fatalf("runs=%d ok=%d aborted=%d; want exactly one run", h.runs.Load(), ok, aborted)
	}
	// Once done, a retry replays.
	if _, err := create(ctx, c, "s", "same", "acme"); err != nil || h.runs.Load() != 1 {
		t.Fatalf("retry after completion: %v, runs %d", err, h.runs.Load())
	}
}

func TestExpiredKeyRunsAgainAndPurges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, c := setup(t, time.Millisecond)
	if _, err := create(ctx, c, "s", "k", "acme"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := create(ctx, c, "s", "k", "acme"); err != nil || h.runs.Load() != 2 {
		t.Fatalf("after expiry: %v, runs %d; want a fresh run", err, h.runs.Load())
	}
	time.Sleep(20 * time.Millisecond)
	n, err := h.store.Purge(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1 expired key removed", n, err)
	}
}

// The table holds neither the key nor a readable answer.
func TestStoredAnswerIsSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, c := setup(t, 0)
	if _, err := create(ctx, c, "s", "secret-key-123", "plainly-visible-name"); err != nil {
		t.Fatal(err)
	}
	var key string
	var resp []byte
	if err := h.store.Pool().QueryRow(ctx, "SELECT key, response FROM cp.idempotency_keys").Scan(&key, &resp); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(key, "secret-key-123") || strings.Contains(string(resp), "plainly-visible-name") {
		t.Fatalf("the row shows the key or the answer: key %q", key)
	}
}
