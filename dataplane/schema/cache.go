package schema

import (
	"sync"
	"time"
)

// entry is what the database said about one collection: its definition, or
// nil when there is none.
type entry struct {
	c     *Collection
	until time.Time
}

type cacheKey struct{ tenant, name string }

// cache holds definitions by (tenant, collection) while the invalidation
// subscription is live. gen counts invalidations: a definition read from the
// database is cached only when no invalidation happened since the read
// began, so an answer that raced with a change is never cached.
type cache struct {
	ttl  time.Duration
	size int

	mu   sync.Mutex
	live bool
	gen  uint64
	m    map[cacheKey]entry
}

func newCache(ttl time.Duration, size int) *cache {
	return &cache{ttl: ttl, size: size, m: make(map[cacheKey]entry)}
}

func (c *cache) get(k cacheKey, now time.Time) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return entry{}, false
	}
	if !now.Before(e.until) {
		delete(c.m, k)
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
func (c *cache) put(k cacheKey, e entry, gen uint64, now time.Time) {
	if c.ttl <= 0 || c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.size {
		for old := range c.m { // an arbitrary entry makes room
			delete(c.m, old)
			break
		}
	}
	e.until = now.Add(c.ttl)
	c.m[k] = e
}

// invalidate drops the entries of tenant named in names, or all the
// tenant's entries when names is empty.
func (c *cache) invalidate(tenant string, names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(names) == 0 {
		for k := range c.m {
			if k.tenant == tenant {
				delete(c.m, k)
			}
		}
		return
	}
	for _, n := range names {
		delete(c.m, cacheKey{tenant, n})
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
