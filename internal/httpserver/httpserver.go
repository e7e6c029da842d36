// Package httpserver runs a plane's HTTP server: explicit limits, request ids,
// JSON access logs, Prometheus request metrics by route, panic recovery, and a
// graceful shutdown that drains in-flight requests.
package httpserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Name of the server in logs, e.g. "controlplane".
	Name string
	// MaxBodyBytes caps every request body; a larger one gets 413.
	// Default 4 MiB.
	MaxBodyBytes int64
	// OwnBodyLimits are path prefixes whose handlers enforce body limits
	// of their own, larger than MaxBodyBytes and streamed (file uploads of
	// gigabytes): the middleware neither refuses their requests by
	// Content-Length nor caps their bodies.
	OwnBodyLimits []string
	// MaxHeaderBytes caps request headers. Default 64 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading request headers. Default 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 120 s.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds draining in-flight requests on shutdown;
	// requests still running then are cut off. Default 30 s.
	ShutdownTimeout time.Duration
	// Logger receives access and error logs. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the request metrics and is served at /metrics;
	// NewRegistry makes one with Go runtime and process collectors.
	// Required.
	Registry *prometheus.Registry
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes      = 4 << 20
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
)

// NewRegistry returns a registry with the Go runtime and process collectors.
// Each server gets its own, so two planes can share one process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Server is an http.Server with the platform's middleware around a mux.
type Server struct {
	cfg Config
	srv *http.Server
}

// New wraps mux (which holds the plane's routes) and adds /metrics.
func New(cfg Config, mux *http.ServeMux) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg: cfg,
		srv: &http.Server{
			Handler:           Handler(cfg, mux),
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		},
	}
}

// Handler adds /metrics to mux and wraps it in the middleware (request ids,
// logs, metrics, recovery, body limit), for callers that run their own
// http.Server, such as tests with httptest. Call it once per Registry.
func Handler(cfg Config, mux *http.ServeMux) http.Handler {
	cfg = cfg.withDefaults()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	return middleware(cfg.Logger, newMetrics(cfg.Registry), cfg.MaxBodyBytes, cfg.OwnBodyLimits, mux)
}

func (cfg Config) withDefaults() Config {
	cfg.Name = cmp.Or(cfg.Name, "server")
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.MaxHeaderBytes = cmp.Or(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	cfg.ReadHeaderTimeout = cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		panic("httpserver: Config.Registry is required") // startup misconfiguration
	}
	return cfg
}

// Serve answers on ln until ctx ends, then stops accepting, waits up to
// ShutdownTimeout for in-flight requests, and returns. It returns nil after a
// clean drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: serve: %w", s.cfg.Name, err)
	case <-ctx.Done():
	}
	s.cfg.Logger.Info("shutting down, draining in-flight requests", "server", s.cfg.Name, "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("%s: shutdown: %w", s.cfg.Name, err)
	}
	return nil
}
