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

// listener is a plane bound to its address, ready to serve.
type listener struct {
	cfg   httpserver.Config
	plane plane
	ln    net.Listener
}

// listen binds addr for p; binding everything before serving anything means
// a taken port is reported before any URL is printed.
func listen(addr string, cfg httpserver.Config, p plane) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", cfg.Name, addr, err)
	}
	cfg.Registry = p.Registry()
	return &listener{cfg: cfg, plane: p, ln: ln}, nil
}

// URL is the listener's base URL.
func (l *listener) URL() string { return "http://" + l.ln.Addr().String() }

// serveAll serves every listener until ctx ends or one fails; then all drain.
func serveAll(ctx context.Context, ls ...*listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, l := range ls {
		srv := httpserver.New(l.cfg, l.plane.Mux())
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

func closeAll(ls []*listener) {
	for _, l := range ls {
		_ = l.ln.Close()
	}
}
