// Package gencache is the per-node cache the data plane keeps in front of
// PostgreSQL for things other nodes may change (API keys, collection
// definitions, end-user sessions): entries live for a TTL, and only while
// the node's invalidation subscription is live.
//
// A generation counter guards against races: a caller reads Generation
// before going to the database, and Put drops the answer when an
// invalidation happened since, so an answer that raced with a change is
// never cached.
package gencache

import (
	"sync"
	"time"
)

// Cache maps K to V. The zero value is not usable; call New.
type Cache[K comparable, V any] struct {
	ttl  time.Duration
	size int

	mu   sync.Mutex
	live bool
	gen  uint64
	m    map[K]item[V]
}

type item[V any] struct {
	v     V
	until time.Time
}

// New returns a cache keeping entries for ttl, at most size of them; a ttl
// or size of 0 or less turns caching off. It starts not live.
func New[K comparable, V any](ttl time.Duration, size int) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, size: size, m: make(map[K]item[V])}
}

// Get returns the entry for k unless it is missing or expired at now.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	if !now.Before(it.until) {
		delete(c.m, k)
		var zero V
		return zero, false
	}
	return it.v, true
}

// Generation is read before a database look-up and handed to Put.
func (c *Cache[K, V]) Generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Put caches v unless the cache is off or not live, or an invalidation
// happened since gen was read. A full cache drops an arbitrary entry.
func (c *Cache[K, V]) Put(k K, v V, gen uint64, now time.Time) {
	if c.ttl <= 0 || c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.size {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = item[V]{v: v, until: now.Add(c.ttl)}
}

// Invalidate drops the given keys and every entry drop reports true for
// (drop may be nil), and starts a new generation.
func (c *Cache[K, V]) Invalidate(keys []K, drop func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.m, k)
	}
	if drop != nil {
		for k, it := range c.m {
			if drop(k, it.v) {
				delete(c.m, k)
			}
		}
	}
}

// Flush drops everything and starts a new generation.
func (c *Cache[K, V]) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// SetLive turns caching on or off, flushing either way: entries cached
// before a subscription began may have missed invalidations, and none may
// be trusted after it ended.
func (c *Cache[K, V]) SetLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.m)
}

// Live reports whether the cache is on.
func (c *Cache[K, V]) Live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// Len is the number of entries held, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
