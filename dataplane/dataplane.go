// Package dataplane is one data plane node's application: it reads its
// config, opens its backing services, applies its migrations, and mounts its
// Connect services and operational endpoints on one mux. Nothing else in the
// data plane constructs the world.
package dataplane

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovereign-backend/sovereign/internal/backends"
	"github.com/sovereign-backend/sovereign/internal/health"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Schema is the PostgreSQL schema that holds the data plane's own tables
// (tenants, key hashes, limits); tenants' data lives in schemas t_<ref>.
const Schema = "dataplane"

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a data plane node.
type Config struct {
	// Region this node serves, e.g. "local": lowercase letters, digits and
	// dashes, starting with a letter, at most 32 characters. Default "local".
	Region string
	// DatabaseURL of the region's PostgreSQL database. Required.
	DatabaseURL string
	// DBMaxConns caps the database pool; 0 keeps pgxpool's default.
	DBMaxConns int32
	// ValkeyURL of Valkey or Redis 7, shared by the region's nodes; empty
	// uses an in-process broker (one node only).
	ValkeyURL string
	// Version is the build version reported by GetStatus.
	Version string
	// Logger for everything the node logs. Default slog.Default().
	Logger *slog.Logger
}

var validRegion = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Plane is a running data plane node, ready to be served.
type Plane struct {
	cfg      Config
	backends *backends.Backends
	mux      *http.ServeMux
	registry *prometheus.Registry
	started  time.Time
}

// New validates cfg, opens the backing services, applies pending migrations
// and builds the handlers.
func New(ctx context.Context, cfg Config) (*Plane, error) {
	cfg.Region = cmp.Or(cfg.Region, "local")
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Version = cmp.Or(cfg.Version, "devel")
	if !validRegion.MatchString(cfg.Region) {
		return nil, fmt.Errorf("dataplane: invalid region %q: use lowercase letters, digits and dashes, starting with a letter, at most 32 characters", cfg.Region)
	}
	be, err := backends.Open(ctx, backends.Config{
		DatabaseURL: cfg.DatabaseURL,
		DBMaxConns:  cfg.DBMaxConns,
		ValkeyURL:   cfg.ValkeyURL,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		be.Close()
		return nil, err
	}
	if _, err := migrate.Up(ctx, be.Pool, migrate.Config{Schema: Schema, FS: sub, Logger: cfg.Logger}); err != nil {
		be.Close()
		return nil, fmt.Errorf("dataplane: migrate: %w", err)
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
	p.mux.Handle(dataplanev1connect.NewStatusServiceHandler(&statusHandler{plane: p}))
	return p, nil
}

// Mux holds every route of the node; /metrics is added by httpserver.
func (p *Plane) Mux() *http.ServeMux { return p.mux }

// Registry is where the node's metrics are registered.
func (p *Plane) Registry() *prometheus.Registry { return p.registry }

// Close releases the backing services. Call it after the HTTP server has
// drained.
func (p *Plane) Close() { p.backends.Close() }
