// Package controlplane is the control plane's application: it reads its
// config, opens its backing services, applies its migrations, and mounts its
// Connect services and operational endpoints on one mux. Nothing else in the
// control plane constructs the world.
package controlplane

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovereign-backend/sovereign/internal/backends"
	"github.com/sovereign-backend/sovereign/internal/health"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Schema is the PostgreSQL schema that holds the control plane's own tables.
const Schema = "controlplane"

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures the control plane.
type Config struct {
	// DatabaseURL of the control plane's PostgreSQL database. Required.
	DatabaseURL string
	// DBMaxConns caps the database pool; 0 keeps pgxpool's default.
	DBMaxConns int32
	// ValkeyURL of Valkey or Redis 7; empty uses an in-process broker.
	ValkeyURL string
	// Version is the build version reported by GetStatus.
	Version string
	// Logger for everything the plane logs. Default slog.Default().
	Logger *slog.Logger
}

// Plane is a running control plane, ready to be served.
type Plane struct {
	cfg      Config
	backends *backends.Backends
	mux      *http.ServeMux
	registry *prometheus.Registry
	started  time.Time
}

// New opens the backing services, applies pending migrations and builds the
// handlers.
func New(ctx context.Context, cfg Config) (*Plane, error) {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Version = cmp.Or(cfg.Version, "devel")
	be, err := backends.Open(ctx, backends.Config{
		DatabaseURL: cfg.DatabaseURL,
		DBMaxConns:  cfg.DBMaxConns,
		ValkeyURL:   cfg.ValkeyURL,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		be.Close()
		return nil, err
	}
	if _, err := migrate.Up(ctx, be.Pool, migrate.Config{Schema: Schema, FS: sub, Logger: cfg.Logger}); err != nil {
		be.Close()
		return nil, fmt.Errorf("controlplane: migrate: %w", err)
	}
	p := &Plane{
		cfg:      cfg,
		backends: be,
		mux:      http.NewServeMux(),
		registry: httpserver.NewRegistry(),
		started:  time.Now(),
	}
	p.mux.Handle("GET /healthz", health.LiveHandler())
	p.mux.Handle("GET /readyz", be.Checker.ReadyHandler())
	p.mux.Handle(controlplanev1connect.NewStatusServiceHandler(&statusHandler{plane: p}))
	return p, nil
}

// Mux holds every route of the plane; /metrics is added by httpserver.
func (p *Plane) Mux() *http.ServeMux { return p.mux }

// Registry is where the plane's metrics are registered.
func (p *Plane) Registry() *prometheus.Registry { return p.registry }

// Close releases the backing services. Call it after the HTTP server has
// drained.
func (p *Plane) Close() { p.backends.Close() }
