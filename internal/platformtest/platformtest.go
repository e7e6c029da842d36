// Package platformtest runs a real platform inside a test: the control plane
// and the data plane of region "local", on a fresh database and the test
// Valkey from internal/testenv, each behind its own httptest server. Tests of
// the CLI, the TUI and end-to-end flows use it instead of fakes.
package platformtest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/dataplane"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
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
	// its own schema).
	DatabaseURL string
	// RegionSecret is the local region's secret.
	RegionSecret string

	ControlPlane *controlplane.Plane
	DataPlane    *dataplane.Plane

	cpSrv, dpSrv *httptest.Server
	stopCP       sync.Once
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
	p := &Platform{DatabaseURL: testenv.Database(t), RegionSecret: token.New("sov_rs_")}
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
		Logger: logger.With("server", "dataplane"),
	})
	if err != nil {
		t.Fatalf("platformtest: data plane: %v", err)
	}
	p.DataPlane = dp
	dpH.set(handler(dp.Mux(), dp, logger))
	p.waitRegistered(t)
	return p
}

// handler wraps a plane's mux with the same middleware the servers use.
func handler(mux *http.ServeMux, plane interface{ Registry() *prometheus.Registry }, logger *slog.Logger) http.Handler {
	return httpserver.Handler(httpserver.Config{Registry: plane.Registry(), Logger: logger}, mux)
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
