package apikeys

import (
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/gencache"
)

// entry is what the database said about one key hash.
type entry struct {
	found     bool
	id        Identity
	state     tenants.State
	expiresAt time.Time // zero: never
	revokedAt time.Time // zero: not revoked
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
// live.
type cache = gencache.Cache[string, entry]

func newCache(ttl time.Duration, size int) *cache { return gencache.New[string, entry](ttl, size) }

// invalidateKeys drops the entries inv names.
func invalidateKeys(c *cache, inv invalidation) {
	var drop func(string, entry) bool
	if inv.Tenant != "" {
		drop = func(_ string, e entry) bool { return e.id.TenantRef == inv.Tenant }
	}
	c.Invalidate(inv.Hashes, drop)
}
