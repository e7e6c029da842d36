package auth

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/gencache"
)

// sessionState is what a node knows about a session to accept its access
// tokens.
type sessionState struct {
	userID   string
	live     bool // not revoked, not past its absolute lifetime
	expires  time.Time
	disabled bool
	role     string
}

type sessionKey struct{ tenant, sid string }

// maxCachedSessions bounds the cache; beyond it an arbitrary entry makes
// room.
const maxCachedSessions = 100000

// sessionCache holds session states while the invalidation feed is live.
type sessionCache = gencache.Cache[sessionKey, sessionState]

func newSessionCache(ttl time.Duration) *sessionCache {
	return gencache.New[sessionKey, sessionState](ttl, maxCachedSessions)
}

// invalidation is a message on Config.Channel.
type invalidation struct {
	// Origin is the announcing node's random id; it applied the message
	// before publishing it.
	Origin string `json:"origin,omitempty"`
	Tenant string `json:"tenant"`
	// Sessions: some session or user changed (revoked, disabled, role).
	Sessions bool `json:"sessions,omitempty"`
	// Keys: the signing keys changed.
	Keys bool `json:"keys,omitempty"`
	// Tables: the tenant was purged or re-provisioned.
	Tables bool `json:"tables,omitempty"`
}

func (s *Service) apply(inv invalidation) {
	if inv.Sessions || inv.Tables {
		s.sessions.Invalidate(nil, func(k sessionKey, _ sessionState) bool { return k.tenant == inv.Tenant })
	}
	if inv.Keys || inv.Tables {
		s.keys.drop(inv.Tenant)
	}
	if inv.Tables {
		s.tables.set(inv.Tenant, false)
	}
}

// announce applies inv here and tells the region's other nodes. A failed
// publish is logged: the change is committed, and other nodes' caches
// forget within their TTLs.
func (s *Service) announce(ctx context.Context, inv invalidation) {
	if err := s.publish(ctx, inv); err != nil {
		s.log.WarnContext(ctx, "auth: change not announced to the region's other nodes; their caches catch up within the cache TTL",
			"tenant", inv.Tenant, "error", err)
	}
}

func (s *Service) publish(ctx context.Context, inv invalidation) error {
	s.apply(inv)
	inv.Origin = s.origin
	payload, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	return s.cfg.Broker.Publish(context.WithoutCancel(ctx), s.cfg.Channel, payload)
}

// TenantChanged forgets everything cached about tenant ref on every node.
// Call it when a tenant is purged or re-provisioned (it fits beside
// apikeys.Keys.TenantChanged in tenants.Config.Changed).
func (s *Service) TenantChanged(ctx context.Context, ref string) error {
	return s.publish(ctx, invalidation{Tenant: ref, Tables: true})
}

// Live reports whether the session cache is on: Run is subscribed to
// invalidations.
func (s *Service) Live() bool { return s.sessions.Live() }

// Run receives invalidations from the region's nodes until ctx ends. It
// enables the session cache while its subscription is active; when the
// subscription ends it flushes the caches and subscribes again with
// backoff. Call it once, in its own goroutine.
func (s *Service) Run(ctx context.Context) {
	broker.Follow(ctx, s.cfg.Broker, s.cfg.Channel, broker.Follower{
		Name:      "auth invalidations",
		Meanwhile: "sessions are read from the database meanwhile",
		Ended:     "caches flushed, subscribing again",
		Up:        func() { s.sessions.SetLive(true) },
		Down: func() {
			s.sessions.SetLive(false)
			s.keys.flush()
		},
		Logger: s.log,
		Message: func(m broker.Message) {
			var inv invalidation
			if err := json.Unmarshal(m.Payload, &inv); err != nil || inv.Tenant == "" {
				s.log.WarnContext(ctx, "auth invalidations: unreadable message; flushing the caches", "error", err)
				s.sessions.SetLive(true)
				s.keys.flush()
				return
			}
			if inv.Origin != s.origin {
				s.apply(inv)
			}
		},
	})
}
