package regions_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/controlplane/cptest"
	"github.com/sovereign-backend/sovereign/controlplane/regions"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// insertKey makes an organization, a project in region and an API key of
// it, and returns the key's id.
func insertKey(t *testing.T, pool *pgxpool.Pool, region string) string {
	t.Helper()
	org, project, key := uuid.NewString(), uuid.NewString(), uuid.NewString()
	ref := strings.ReplaceAll(project, "-", "")[:12]
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO controlplane.organizations (id, name) VALUES ($1, 'org')`, []any{org}},
		{`INSERT INTO controlplane.projects (id, ref, organization_id, name, region, state) VALUES ($1, $2, $3, 'p', $4, 'active')`, []any{project, ref, org, region}},
		{`INSERT INTO controlplane.api_keys (id, project_id, name, kind, hash, prefix) VALUES ($1, $2, 'k', 'secret', $3, 'sov_sk_test')`, []any{key, project, key}},
	} {
		if _, err := pool.Exec(context.Background(), q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return key
}

// Heartbeats set last_used_at of their own region's keys, never backwards,
// never into the future, and never on another region's keys.
func TestHeartbeatKeyUsage(t *testing.T) {
	t.Parallel()
	pool := cptest.DB(t)
	reg, err := regions.New(regions.Config{Pool: pool, Secrets: map[string]string{"eu-1": euSecret, "us-1": usSecret}})
	if err != nil {
		t.Fatal(err)
	}
	url := cptest.Serve(t, func(mux *http.ServeMux, opts ...connect.HandlerOption) {
		mux.Handle(controlplanev1connect.NewRegionServiceHandler(regions.NewHandler(reg), opts...))
	})
	ctx := context.Background()
	for _, name := range []string{"eu-1", "us-1"} {
		if _, err := reg.RegionRegister(ctx, regions.RegionRegisterParams{Name: name, PublicURL: "https://" + name + ".example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	eu, eu2, us := insertKey(t, pool, "eu-1"), insertKey(t, pool, "eu-1"), insertKey(t, pool, "us-1")

	lastUsed := func(id string) time.Time {
		t.Helper()
		var at *time.Time
		if err := pool.QueryRow(ctx, `SELECT last_used_at FROM controlplane.api_keys WHERE id = $1`, id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		if at == nil {
			return time.Time{}
		}
		return *at
	}
	lastHeartbeat := func(region string) time.Time {
		t.Helper()
		var at time.Time
		if err := pool.QueryRow(ctx, `SELECT last_heartbeat_at FROM controlplane.regions WHERE name = $1`, region).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	beat := func(region, secret string, usage ...*controlplanev1.KeyUsage) error {
		c := controlplanev1connect.NewRegionServiceClient(http.DefaultClient, url, bearer(secret))
		_, err := c.Heartbeat(ctx, connect.NewRequest(&controlplanev1.HeartbeatRequest{Name: region, KeyUsage: usage}))
		return err
	}
	use := func(id string, at time.Time) *controlplanev1.KeyUsage {
		return &controlplanev1.KeyUsage{KeyId: id, LastUsedAt: timestamppb.New(at)}
	}
	// Microseconds: what PostgreSQL keeps.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)

	// eu-1 reports its key, us-1's key, an unknown id and one that is no
	// id at all: only its own key changes, and nothing complains.
	if err := beat("eu-1", euSecret, use(eu, t1), use(us, t1), use(uuid.NewString(), t1), use("not-a-key", t1)); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(eu); !got.Equal(t1) {
		t.Errorf("eu key last used %v, want %v", got, t1)
	}
	if got := lastUsed(us); !got.IsZero() {
		t.Errorf("eu-1 set the last use of a us-1 key to %v", got)
	}
	if got := lastUsed(eu2); !got.IsZero() {
		t.Errorf("an unreported key got last use %v", got)
	}

	// Only forward; within one heartbeat the latest of duplicates counts.
	if err := beat("eu-1", euSecret, use(eu, t0), use(eu2, t3), use(eu2, t2)); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(eu); !got.Equal(t1) {
		t.Errorf("an older use moved last_used_at back to %v, want %v", got, t1)
	}
	if got := lastUsed(eu2); !got.Equal(t3) {
		t.Errorf("duplicates in one heartbeat: last used %v, want the latest %v", got, t3)
	}
	if err := beat("eu-1", euSecret, use(eu, t2)); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(eu); !got.Equal(t2) {
		t.Errorf("eu key last used %v, want %v", got, t2)
	}

	// A region's clock ahead of ours does not put last use in the future.
	if err := beat("us-1", usSecret, use(us, time.Now().Add(24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(us); got.IsZero() || got.After(time.Now()) {
		t.Errorf("us key last used %v, want no later than now", got)
	}

	// Bad heartbeats change nothing, not even the heartbeat time.
	before := lastHeartbeat("eu-1")
	over := make([]*controlplanev1.KeyUsage, regions.MaxKeyUsagePerHeartbeat+1)
	for i := range over {
		over[i] = use(eu, t3)
	}
	for _, sc := range []struct {
		name   string
		region string
		secret string
		usage  []*controlplanev1.KeyUsage
		code   connect.Code
		msg    string
	}{
		{"over the cap", "eu-1", euSecret, over, connect.CodeInvalidArgument, strconv.Itoa(regions.MaxKeyUsagePerHeartbeat)},
		{"no time", "eu-1", euSecret, []*controlplanev1.KeyUsage{use(eu, t3), {KeyId: eu}}, connect.CodeInvalidArgument, "key_usage[1].last_used_at"},
		{"another region's secret", "eu-1", usSecret, []*controlplanev1.KeyUsage{use(eu, t3)}, connect.CodeUnauthenticated, ""},
	} {
		err := beat(sc.region, sc.secret, sc.usage...)
		if cptest.Code(err) != sc.code || !strings.Contains(err.Error(), sc.msg) {
			t.Errorf("%s: %v, want %v mentioning %q", sc.name, err, sc.code, sc.msg)
		}
	}
	if got := lastUsed(eu); !got.Equal(t2) {
		t.Errorf("a refused heartbeat set last use to %v", got)
	}
	if got := lastHeartbeat("eu-1"); !got.Equal(before) {
		t.Errorf("a refused heartbeat was recorded at %v", got)
	}

	// At the cap exactly is fine.
	if err := beat("eu-1", euSecret, over[1:]...); err != nil {
		t.Errorf("a heartbeat at the cap: %v", err)
	}
	if got := lastUsed(eu); !got.Equal(t3) {
		t.Errorf("eu key last used %v, want %v", got, t3)
	}
}
