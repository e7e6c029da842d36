package apikeys

import (
	"fmt"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/tenants"
)

func liveCache(ttl time.Duration, size int) *cache {
	c := newCache(ttl, size)
	c.SetLive(true)
	return c
}

// An answer read before an invalidation is not cached after it: it may be
// the stale one.
func TestCacheDropsAnswersThatRacedAnInvalidation(t *testing.T) {
	t.Parallel()
	c := liveCache(time.Minute, 10)
	now := time.Now()
	gen := c.Generation()
	invalidateKeys(c, invalidation{Hashes: []string{"other"}})
	c.Put("h", entry{found: true}, gen, now)
	if _, ok := c.Get("h", now); ok {
		t.Fatal("an answer older than an invalidation was cached")
	}
	c.Put("h", entry{found: true}, c.Generation(), now)
	if _, ok := c.Get("h", now); !ok {
		t.Fatal("a fresh answer was not cached")
	}
}

func TestCacheBoundsAndTTL(t *testing.T) {
	t.Parallel()
	c := liveCache(time.Minute, 3)
	now := time.Now()
	for i := range 10 {
		c.Put(fmt.Sprint(i), entry{}, c.Generation(), now)
	}
	if c.Len() != 3 {
		t.Fatalf("%d entries, want at most 3", c.Len())
	}
	c.Put("x", entry{}, c.Generation(), now)
	if _, ok := c.Get("x", now.Add(time.Minute)); ok {
		t.Fatal("an entry outlived its TTL")
	}
	off := liveCache(-1, 3)
	off.Put("x", entry{}, off.Generation(), now)
	if off.Len() != 0 {
		t.Fatal("a negative TTL cached anyway")
	}
}

func TestCacheTenantInvalidation(t *testing.T) {
	t.Parallel()
	c := liveCache(time.Minute, 10)
	now := time.Now()
	c.Put("a1", entry{found: true, id: Identity{TenantRef: "aaaa"}}, c.Generation(), now)
	c.Put("a2", entry{found: true, id: Identity{TenantRef: "aaaa"}}, c.Generation(), now)
	c.Put("b1", entry{found: true, id: Identity{TenantRef: "bbbb"}}, c.Generation(), now)
	invalidateKeys(c, invalidation{Tenant: "aaaa"})
	if _, ok := c.Get("a1", now); ok {
		t.Error("a1 survived its tenant's change")
	}
	if _, ok := c.Get("b1", now); !ok {
		t.Error("b1 was dropped for another tenant's change")
	}
	c.SetLive(false)
	if _, ok := c.Get("b1", now); ok || c.Live() {
		t.Error("entries survived the end of the subscription")
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	now := time.Now()
	id := Identity{TenantRef: "aaaa", KeyID: "k", Kind: KindSecret}
	for _, c := range []struct {
		e    entry
		want error
	}{
		{entry{}, ErrUnknown},
		{entry{found: true, id: id, state: tenants.StateActive}, nil},
		{entry{found: true, id: id, state: tenants.StateActive, revokedAt: now}, ErrRevoked},
		{entry{found: true, id: id, state: tenants.StateActive, revokedAt: now.Add(time.Second)}, nil},
		{entry{found: true, id: id, state: tenants.StateActive, expiresAt: now}, ErrExpired},
		{entry{found: true, id: id, state: tenants.StatePaused, revokedAt: now}, ErrRevoked},
		{entry{found: true, id: id, state: tenants.StatePaused}, ErrProjectPaused},
		{entry{found: true, id: id, state: tenants.StateDeleting}, ErrProjectDeleting},
		{entry{found: true, id: id, state: tenants.StateDeleted}, ErrProjectDeleting},
		{entry{found: true, id: id, state: tenants.StateProvisioning}, ErrProjectNotReady},
	} {
		got, err := c.e.verdict(now)
		if err != c.want || (err == nil && got != id) {
			t.Errorf("verdict(%+v) = %v, %v; want %v", c.e, got, err, c.want)
		}
	}
}
