package realtime

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/dataplane/tenants"
)

// Defaults of ServerConfig's limits.
const (
	// DefaultMaxSubscriptions is the most subscriptions one connection
	// holds at once.
	DefaultMaxSubscriptions = 100
	// DefaultMaxChannels is the most channels one connection joins at
	// once.
	DefaultMaxChannels = 100
	// DefaultMessagesPerSecond is the rate of client frames one connection
	// may send (a token bucket of that rate and burst).
	DefaultMessagesPerSecond = 100
	// DefaultPayloadBytes is the largest client frame.
	DefaultPayloadBytes = 64 << 10
	// DefaultQueueFrames and DefaultQueueBytes bound what waits to be
	// written to one connection; past either it is a slow consumer.
	DefaultQueueFrames = 1024
	DefaultQueueBytes  = 4 << 20
	// DefaultHeartbeat is the time between the server's WebSocket pings.
	DefaultHeartbeat = 25 * time.Second
	// DefaultKeyRecheck is how often an open connection's API key is
	// authenticated again (a cached look-up), so that a revoked key or a
	// paused project ends it.
	DefaultKeyRecheck = 10 * time.Second
	// DefaultSSEPing is the time between SSE comment lines.
	DefaultSSEPing = 15 * time.Second
	// DefaultLimitCacheTTL is how long a tenant's connection limit is
	// cached.
	DefaultLimitCacheTTL = 10 * time.Second
	// DefaultPresenceRefresh and DefaultPresenceTimeout: every refresh a
	// node republishes its members; members not refreshed for the timeout
	// are dropped.
	DefaultPresenceRefresh = 10 * time.Second
	DefaultPresenceTimeout = 30 * time.Second
)

// bucket is a token bucket: rate tokens a second, at most rate held.
type bucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate int, now time.Time) bucket {
	return bucket{rate: float64(rate), tokens: float64(rate), last: now}
}

// take spends a token if there is one.
func (b *bucket) take(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.rate, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// connCounter admits connections per tenant up to the tenant's limit.
type connCounter interface {
	// acquire admits connection id of tenant ref when fewer than limit
	// (0: unlimited) are open.
	acquire(ctx context.Context, ref, id string, limit int) (bool, error)
	// refresh keeps id counted (Valkey entries expire otherwise).
	refresh(ctx context.Context, ref, id string) error
	// release stops counting id.
	release(ctx context.Context, ref, id string) error
}

// memoryCounter counts the connections of one node.
type memoryCounter struct {
	mu sync.Mutex
	n  map[string]map[string]struct{}
}

func newMemoryCounter() *memoryCounter { return &memoryCounter{n: map[string]map[string]struct{}{}} }

func (m *memoryCounter) acquire(_ context.Context, ref, id string, limit int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := m.n[ref]
	if limit > 0 && len(set) >= limit {
		return false, nil
	}
	if set == nil {
		set = map[string]struct{}{}
		m.n[ref] = set
	}
	set[id] = struct{}{}
	return true, nil
}

func (m *memoryCounter) refresh(context.Context, string, string) error { return nil }

func (m *memoryCounter) release(_ context.Context, ref, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.n[ref], id)
	if len(m.n[ref]) == 0 {
		delete(m.n, ref)
	}
	return nil
}

// valkeyCounter counts a tenant's connections on every node in one sorted
// set per tenant: member the connection id, score when it expires (unix
// ms). Nodes refresh their connections' scores at each heartbeat, so the
// connections of a node that crashed stop counting after ttl.
type valkeyCounter struct {
	client valkey.Client
	prefix string
	ttl    time.Duration
	script *valkey.Lua
}

// admitScript drops expired entries, then admits ARGV[4] when it is
// counted already or fewer than ARGV[3] (0: no limit) are.
const admitScript = `
local key = KEYS[1]
local now, exp, limit, id, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if limit > 0 and not redis.call('ZSCORE', key, id) and redis.call('ZCARD', key) >= limit then
  return 0
end
redis.call('ZADD', key, exp, id)
redis.call('PEXPIRE', key, ttl)
return 1
`

func newValkeyCounter(client valkey.Client, prefix string, ttl time.Duration) *valkeyCounter {
	return &valkeyCounter{client: client, prefix: prefix, ttl: ttl, script: valkey.NewLuaScript(admitScript)}
}

func (v *valkeyCounter) key(ref string) string { return v.prefix + "realtime:conns:" + ref }

func (v *valkeyCounter) acquire(ctx context.Context, ref, id string, limit int) (bool, error) {
	now := time.Now()
	args := []string{
		strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(v.ttl).UnixMilli(), 10),
		strconv.Itoa(limit), id, strconv.FormatInt(v.ttl.Milliseconds(), 10),
	}
	n, err := v.script.Exec(ctx, v.client, []string{v.key(ref)}, args).AsInt64()
	if err != nil {
		return false, fmt.Errorf("count realtime connections: %w", err)
	}
	return n == 1, nil
}

func (v *valkeyCounter) refresh(ctx context.Context, ref, id string) error {
	exp := time.Now().Add(v.ttl).UnixMilli()
	key := v.key(ref)
	cmds := valkey.Commands{
		v.client.B().Zadd().Key(key).Xx().ScoreMember().ScoreMember(float64(exp), id).Build(),
		v.client.B().Pexpire().Key(key).Milliseconds(v.ttl.Milliseconds()).Build(),
	}
	for _, r := range v.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("refresh realtime connection: %w", err)
		}
	}
	return nil
}

func (v *valkeyCounter) release(ctx context.Context, ref, id string) error {
	if err := v.client.Do(ctx, v.client.B().Zrem().Key(v.key(ref)).Member(id).Build()).Error(); err != nil {
		return fmt.Errorf("release realtime connection: %w", err)
	}
	return nil
}

// TenantLimits reads a tenant's limits; *tenants.Store is one.
type TenantLimits interface {
	Get(ctx context.Context, ref string) (tenants.Tenant, error)
}

// limitCache caches each tenant's connection limit for ttl.
type limitCache struct {
	src TenantLimits
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedLimit
}

type cachedLimit struct {
	n   int
	exp time.Time
}

func (l *limitCache) connections(ctx context.Context, ref string) (int, error) {
	if l.src == nil {
		return 0, nil
	}
	now := time.Now()
	l.mu.Lock()
	c, ok := l.m[ref]
	l.mu.Unlock()
	if ok && now.Before(c.exp) {
		return c.n, nil
	}
	t, err := l.src.Get(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("read limits of tenant %s: %w", ref, err)
	}
	n := int(t.Limits.RealtimeConnections)
	l.mu.Lock()
	if len(l.m) > 100000 {
		clear(l.m)
	}
	l.m[ref] = cachedLimit{n: n, exp: now.Add(l.ttl)}
	l.mu.Unlock()
	return n, nil
}
