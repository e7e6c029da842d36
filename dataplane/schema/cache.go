package schema

import (
	"time"

	"github.com/sovereign-backend/sovereign/internal/gencache"
)

// entry is what the database said about one collection: its definition, or
// nil when there is none.
type entry struct {
	c *Collection
}

type cacheKey struct{ tenant, name string }

// cache holds definitions by (tenant, collection) while the invalidation
// subscription is live.
type cache = gencache.Cache[cacheKey, entry]

func newCache(ttl time.Duration, size int) *cache { return gencache.New[cacheKey, entry](ttl, size) }

// invalidateNames drops the entries of tenant named in names, or all the
// tenant's entries when names is empty.
func invalidateNames(c *cache, tenant string, names []string) {
	if len(names) == 0 {
		c.Invalidate(nil, func(k cacheKey, _ entry) bool { return k.tenant == tenant })
		return
	}
	keys := make([]cacheKey, len(names))
	for i, n := range names {
		keys[i] = cacheKey{tenant, n}
	}
	c.Invalidate(keys, nil)
}
