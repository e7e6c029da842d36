package apikeys

import (
	"sync"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/tenants"
)

// entry is what the database said about one key hash.
type entry struct {
	found     bool
	id        Identity
	state     tenants.State
	expiresAt time.Time // zero: never
	revokedAt time.Time // zero: not revoked
	until     time.Time // when the cache must forget it
}

// verdict turns an entry into Authenticate's answer at time now. Expiry and
// revocation times are compared here, on every call, so a cached key stops
// working the moment it expires, whatever the cache TTL.
func (e entry) verdict(now time.Time) (Identity, error) {
	switch {
	case !e.found:
		return Identity{}, ErrUnknown
	case !e.revokedAt.IsZero() && !now.Before(e.revokedAt):
		return Identity{}, ErrRevoked
	case !e.expiresAt.IsZero() && !now.Before(e.expiresAt):
		return Identity{}, ErrExpired
	}
	switch e.state {
	case tenants.StateActive:
		return e.id, nil
	case tenants.StatePaused:
		return Identity{}, ErrProjectPaused
	case tenants.StateProvisioning:
		return Identity{}, ErrProjectNotReady
	default: // deleting, deleted
		return Identity{}, ErrProjectDeleting
	}
}

// cache holds entries by key hash while the invalidation subscription is
// live. gen counts invalidations: an answer read from the database is cached
// only when no invalidation happened since the read began, so an answer that
// raced with a change is never cached.
type cache struct {
	ttl  time.Duration
	size int

	mu   sync.Mutex
	live bool
	gen  uint64
	m    map[string]entry
}

func newCache(ttl time.Duration, size int) *cache {
	return &cache{ttl: ttl, size: size, m: make(map[string]entry)}
}

func (c *cache) get(hash string, now time.Time) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok {
		return entry{}, false
	}
	if !now.Before(e.until) {
		delete(c.m, hash)
		return entry{}, false
	}
	return e, true
}

func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches e unless the cache is off or an invalidation happened since gen
// was read.
func (c *cache) put(hash string, e entry, gen uint64, now time.Time) {
	if c.ttl <= 0 || c.size == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if _, ok := c.m[hash]; !ok && len(c.m) >= c.size {
		for h := range c.m { // an arbitrary entry makes room
			delete(c.m, h)
			break
		}
	}
	e.until = now.Add(c.ttl)
	c.m[hash] = e
}

// invalidate drops the entries inv names.
func (c *cache) invalidate(inv invalidation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, h := range inv.Hashes {
		delete(c.m, h)
	}
	if inv.Tenant != "" {
		for h, e := range c.m {
			if e.id.TenantRef == inv.Tenant {
				delete(c.m, h)
			}
		}
	}
}

func (c *cache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// setLive turns caching on or off, flushing either way: entries cached
// before a subscription began may have missed invalidations, and none may
// be trusted after it ended.
func (c *cache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.m)
}

func (c *cache) isLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}
