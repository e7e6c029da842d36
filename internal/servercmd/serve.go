package servercmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovereign-backend/sovereign/internal/httpserver"
)

// plane is what both planes offer to be served.
type plane interface {
	Mux() *http.ServeMux
	Registry() *prometheus.Registry
}

// listener is a bound address waiting for its plane. Binding every address
// before building anything means a taken port is reported first, and a plane
// can be told its own URL.
type listener struct {
	cfg   httpserver.Config
	plane plane
	ln    net.Listener
}

func listen(addr string, cfg httpserver.Config) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", cfg.Name, addr, err)
	}
	return &listener{cfg: cfg, ln: ln}, nil
}

// URL is the listener's base URL.
func (l *listener) URL() string { return "http://" + l.ln.Addr().String() }

// serveAll serves every listener's plane until ctx ends or one fails; then
// all drain.
func serveAll(ctx context.Context, ls ...*listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, l := range ls {
		cfg := l.cfg
		cfg.Registry = l.plane.Registry()
		if o, ok := l.plane.(interface{ OwnBodyLimits() []string }); ok {
			cfg.OwnBodyLimits = o.OwnBodyLimits()
		}
		srv := httpserver.New(cfg, l.plane.Mux())
		wg.Go(func() {
			if err := srv.Serve(ctx, l.ln); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func closeAll(ls ...*listener) {
	for _, l := range ls {
		if l != nil {
			_ = l.ln.Close()
		}
	}
}
