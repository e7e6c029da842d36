// Package platformtest runs a real platform inside a test: the control plane
// and the data plane of region "local", on a fresh database and the test
// Valkey from internal/testenv, each behind its own httptest server. Tests of
// the CLI, the TUI and end-to-end flows use it instead of fakes.
package platformtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/dataplane"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/pgsetup"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// Platform is a running control plane and data plane.
type Platform struct {
	// APIURL is the control plane's base URL.
	APIURL string
	// DataURL is the data plane's base URL.
	DataURL string
	// DatabaseURL is the platform's database (both planes share it, each in
	// its own schema), with the role the planes log in as.
	DatabaseURL string
	// LoginRole is the role the planes log in as: the test server's
	// superuser, or with Options.AppRole the test's own unprivileged role.
	LoginRole string
	// RegionSecret is the local region's secret.
	RegionSecret string

	ControlPlane *controlplane.Plane
	DataPlane    *dataplane.Plane

	cpSrv, dpSrv *httptest.Server
	stopCP       sync.Once
	// what a second node of the region needs (StartNode)
	valkeyURL, keyPrefix string
	logger               *slog.Logger
}

// Options adjust the platform.
type Options struct {
	// ProjectRetention for deleted projects; 0 keeps the default (7 days).
	ProjectRetention time.Duration
	// HeartbeatInterval of the data plane, which also carries API key usage
	// to the control plane; 0 keeps the default (10 s).
	HeartbeatInterval time.Duration
	// Logger; default discards.
	Logger *slog.Logger
	// AppRole runs both planes as an unprivileged login role made for the
	// test (see AppDatabase), as production does, instead of the test
	// server's superuser: row-level security then binds every request.
	AppRole bool
}

// Start runs a platform for t and stops it when t ends. The data plane has
// registered with the control plane when Start returns.
func Start(t testing.TB, o Options) *Platform {
	t.Helper()
	ctx := context.Background()
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Platform{RegionSecret: token.New("sov_rs_")}
	if o.AppRole {
		p.DatabaseURL, p.LoginRole = AppDatabase(t)
	} else {
		p.DatabaseURL = testenv.Database(t)
		u, err := pgx.ParseConfig(p.DatabaseURL)
		if err != nil {
			t.Fatalf("platformtest: parse database URL: %v", err)
		}
		p.LoginRole = u.User
	}
	kv := testenv.ValkeyURL(t)
	// Platforms of parallel tests share the test Valkey; each gets its own
	// keys and channels, and room for the signups a test makes from
	// 127.0.0.1.
	prefix := testenv.KeyPrefix(t)

	// Servers first, so each plane can be told the other's URL; handlers are
	// swapped in once the planes exist.
	var cpH, dpH swap
	p.cpSrv = httptest.NewServer(&cpH)
	p.dpSrv = httptest.NewServer(&dpH)
	p.APIURL, p.DataURL = p.cpSrv.URL, p.dpSrv.URL
	t.Cleanup(func() {
		p.dpSrv.Close()
		if p.DataPlane != nil {
			p.DataPlane.Close()
		}
		p.StopControlPlane()
	})

	cp, err := controlplane.New(ctx, controlplane.Config{
		DatabaseURL: p.DatabaseURL, ValkeyURL: kv, KeyPrefix: prefix, SignupPerIP: ratelimit.Limit{Rate: 1000, Per: time.Minute, Burst: 1000}, RegionSecrets: []string{"local=" + p.RegionSecret},
		ProjectRetention: o.ProjectRetention, DevMailbox: true, Logger: logger.With("server", "controlplane"),
	})
	if err != nil {
		t.Fatalf("platformtest: control plane: %v", err)
	}
	p.ControlPlane = cp
	cpH.set(handler(cp.Mux(), cp, logger))
	dp, err := dataplane.New(ctx, dataplane.Config{
		Region: "local", DatabaseURL: p.DatabaseURL, ValkeyURL: kv, KeyPrefix: prefix, RegionSecret: p.RegionSecret,
		ControlPlaneURL: p.APIURL, PublicURL: p.DataURL, HeartbeatInterval: o.HeartbeatInterval,
		DataDir: t.TempDir(),
		Logger:  logger.With("server", "dataplane"),
	})
	if err != nil {
		t.Fatalf("platformtest: data plane: %v", err)
	}
	p.DataPlane = dp
	p.valkeyURL, p.keyPrefix, p.logger = kv, prefix, logger
	dpH.set(handler(dp.Mux(), dp, logger))
	p.waitRegistered(t)
	return p
}

// StartNode starts another data plane node of region local, as a second
// process of the region would be: its own pool, its own Valkey connections
// (the same Valkey and key prefix) and its own files directory, on the same
// database; it does not register with the control plane. It returns the
// node's base URL; the node stops when the test ends.
func (p *Platform) StartNode(t *testing.T) string {
	t.Helper()
	dp, err := dataplane.New(t.Context(), dataplane.Config{
		Region: "local", DatabaseURL: p.DatabaseURL, ValkeyURL: p.valkeyURL, KeyPrefix: p.keyPrefix, RegionSecret: p.RegionSecret,
		DataDir: t.TempDir(), Logger: p.logger.With("server", "dataplane", "node", "2"),
	})
	if err != nil {
		t.Fatalf("platformtest: second data plane node: %v", err)
	}
	srv := httptest.NewServer(handler(dp.Mux(), dp, p.logger))
	t.Cleanup(func() {
		srv.Close()
		dp.Close()
	})
	return srv.URL
}

// AppDatabase makes, with pgsetup on the test server, a login role of the
// test's own (sovtest_app_<random>: neither superuser nor BYPASSRLS, with
// CREATEROLE) owning a fresh database, and returns the database's URL with
// that role, and the role's name. When the test ends it drops the database,
// the tenant roles the app role made (the roles it is a member of) and the
// role itself.
func AppDatabase(t testing.TB) (url, role string) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	app := pgsetup.App{Role: "sovtest_app_" + suffix, Password: token.New(""), Database: "sovtest_appdb_" + suffix}
	admin := testenv.AdminURL(t)
	t.Cleanup(func() { dropApp(t, admin, app) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := pgsetup.Ensure(ctx, admin, app, true)
	if err != nil {
		t.Fatalf("platformtest: %v", err)
	}
	return u, app.Role
}

// dropApp drops app's database, then the roles app's role was granted (the
// tenant roles it made and SET ROLE to; roles are cluster-wide and outlive
// the database), then the role.
func dropApp(t testing.TB, admin string, app pgsetup.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("platformtest: drop app role: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{app.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("platformtest: drop database %s: %v", app.Database, err)
		return
	}
	rows, err := conn.Query(ctx, `SELECT r.rolname FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
		WHERE a.rolname = $1 AND NOT r.rolcanlogin`, app.Role)
	var granted []string
	if err == nil {
		granted, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		t.Errorf("platformtest: list the roles of %s: %v", app.Role, err)
		return
	}
	for _, r := range append(granted, app.Role) {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
			t.Errorf("platformtest: drop role %s: %v", r, err)
		}
	}
}

// handler wraps a plane's mux with the same middleware the servers use.
func handler(mux *http.ServeMux, plane interface{ Registry() *prometheus.Registry }, logger *slog.Logger) http.Handler {
	cfg := httpserver.Config{Registry: plane.Registry(), Logger: logger}
	if o, ok := plane.(interface{ OwnBodyLimits() []string }); ok {
		cfg.OwnBodyLimits = o.OwnBodyLimits()
	}
	return httpserver.Handler(cfg, mux)
}

// StopControlPlane stops the control plane (its HTTP server and the plane),
// to show what the data plane does without it. Safe to call twice.
func (p *Platform) StopControlPlane() {
	p.stopCP.Do(func() {
		p.cpSrv.Close()
		if p.ControlPlane != nil {
			p.ControlPlane.Close()
		}
	})
}

// waitRegistered waits until the data plane has registered region "local".
func (p *Platform) waitRegistered(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := p.ControlPlane.Pool().QueryRow(context.Background(),
			"SELECT count(*) FROM controlplane.regions WHERE name = 'local'").Scan(&n)
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("platformtest: the data plane did not register (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// swap is an http.Handler set once the plane exists.
type swap struct {
	mu sync.RWMutex
	h  http.Handler
}

func (s *swap) set(h http.Handler) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

func (s *swap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	h := s.h
	s.mu.RUnlock()
	if h == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}
