package dataplane

import (
	"cmp"
	"fmt"

	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/internal/backends"
)

// buildRealtime builds the change feed and the realtime server, mounts
// GET /v1/realtime (WebSocket) and GET /v1/realtime/sse, makes record
// writes wake the feed, and adds both to the node's background loops.
func (p *Plane) buildRealtime(d *wiring) error {
	cfg := p.cfg
	feed, err := realtime.NewFeed(realtime.FeedConfig{
		DB: d.db, Collections: d.collections, Records: d.records, Broker: p.backends.Broker,
		Retention: cfg.RealtimeRetention, Logger: cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	p.closers = append(p.closers, feed.Close)
	d.records.SetOnChange(feed.Notify)
	sc := realtime.ServerConfig{
		Feed: feed, Keys: d.keys, Broker: p.backends.Broker, Tenants: d.tenants, ChannelRules: d.channelRules,
		KeyPrefix: cmp.Or(cfg.KeyPrefix, backends.DefaultKeyPrefix), Logger: cfg.Logger,
	}
	if d.auth != nil {
		sc.Users = d.auth.AuthenticateUser
	}
	if cfg.ValkeyURL != "" {
		opt, err := valkey.ParseURL(cfg.ValkeyURL)
		if err != nil {
			return fmt.Errorf("dataplane: realtime: invalid Valkey URL: %w", err)
		}
		opt.DisableCache = true
		opt.ClientName = "sovereign-realtime"
		// valkey.NewClient dials at once; the server dials lazily, so
		// that a Valkey down at start does not stop realtime from
		// starting (connections are then counted on this node until
		// Valkey answers).
		sc.ValkeyDial = func() (valkey.Client, error) { return valkey.NewClient(opt) }
	}
	srv, err := realtime.NewServer(sc)
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	d.api.HandleFunc(realtime.RouteWebSocket, srv.HandleWebSocket)
	d.api.HandleFunc(realtime.RouteSSE, srv.HandleSSE)
	p.closers = append(p.closers, srv.Close)
	d.runs = append(d.runs, feed.Run, srv.Run)
	return nil
}
