package realtime

import (
	"context"
	"fmt"
	"log/slog"
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

// count is how many connections of ref are counted.
func (m *memoryCounter) count(ref string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.n[ref])
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

// limitCache caches each tenant's realtime limits for ttl.
type limitCache struct {
	src TenantLimits
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedLimit
}

type cachedLimit struct {
	l   tenants.Limits
	exp time.Time
}

// get returns the tenant's plan limits; the zero Limits without a source.
func (l *limitCache) get(ctx context.Context, ref string) (tenants.Limits, error) {
	if l.src == nil {
		return tenants.Limits{}, nil
	}
	now := time.Now()
	l.mu.Lock()
	c, ok := l.m[ref]
	l.mu.Unlock()
	if ok && now.Before(c.exp) {
		return c.l, nil
	}
	t, err := l.src.Get(ctx, ref)
	if err != nil {
		return tenants.Limits{}, fmt.Errorf("read limits of tenant %s: %w", ref, err)
	}
	l.mu.Lock()
	if len(l.m) > 100000 {
		clear(l.m)
	}
	l.m[ref] = cachedLimit{l: t.Limits, exp: now.Add(l.ttl)}
	l.mu.Unlock()
	return t.Limits, nil
}

// connLimits are the limits one connection lives under: its tenant's
// plan's where the plan sets them (a value above 0), the server's
// defaults where it does not.
type connLimits struct {
	// connections of the tenant at once; 0 unlimited (the plan alone
	// decides).
	connections int
	// subscriptions and channels per connection.
	subscriptions, channels int
	// messagesPerSecond a connection sends.
	messagesPerSecond int
	// payloadBytes is the largest client frame.
	payloadBytes int
}

// connLimits returns the limits of a new connection of tenant ref. The
// plan's realtime_subscriptions bounds both subscriptions and channels
// joined (each on its own), as the plan says.
func (s *Server) connLimits(ctx context.Context, ref string) (connLimits, error) {
	l, err := s.limits.get(ctx, ref)
	if err != nil {
		return connLimits{}, err
	}
	plan := func(v int32, def int) int {
		if v > 0 {
			return int(v)
		}
		return def
	}
	return connLimits{
		connections:       int(l.RealtimeConnections),
		subscriptions:     plan(l.RealtimeSubscriptions, s.cfg.MaxSubscriptions),
		channels:          plan(l.RealtimeSubscriptions, s.cfg.MaxChannels),
		messagesPerSecond: plan(l.RealtimeMessagesPerSecond, s.cfg.MessagesPerSecond),
		payloadBytes:      plan(l.RealtimePayloadBytes, s.cfg.PayloadBytes),
	}, nil
}

// DefaultValkeyRetry is how long a server whose Valkey could not be
// reached waits before it dials again (ServerConfig.ValkeyDial).
const DefaultValkeyRetry = 5 * time.Second

// fallbackCounter counts connections in Valkey when it answers and on this
// node when it does not: a node keeps admitting connections through a
// Valkey outage (limited per node, as one node without Valkey is) rather
// than refusing them all. Its Valkey client comes from cfg.Valkey, or is
// dialed lazily with cfg.ValkeyDial, so that a node starts while Valkey is
// down and counts across nodes once it is back.
type fallbackCounter struct {
	dial   func() (valkey.Client, error)
	retry  time.Duration
	prefix string
	ttl    time.Duration
	log    *slog.Logger
	mem    *memoryCounter

	mu       sync.Mutex
	vk       *valkeyCounter
	owned    valkey.Client // dialed here; closed by close
	dialing  bool
	closed   bool
	nextDial time.Time
	local    map[string]struct{} // ids counted by mem
}

func newFallbackCounter(client valkey.Client, dial func() (valkey.Client, error), retry time.Duration, prefix string, ttl time.Duration, log *slog.Logger) *fallbackCounter {
	f := &fallbackCounter{dial: dial, retry: retry, prefix: prefix, ttl: ttl, log: log, mem: newMemoryCounter(), local: map[string]struct{}{}}
	if client != nil {
		f.vk = newValkeyCounter(client, prefix, ttl)
	}
	return f
}

// valkey returns the Valkey counter, dialing it when it is due (one dial
// at a time, outside the lock); nil while Valkey cannot be reached.
func (f *fallbackCounter) valkey() *valkeyCounter {
	f.mu.Lock()
	if f.vk != nil || f.dial == nil || f.dialing || f.closed || time.Now().Before(f.nextDial) {
		vk := f.vk
		f.mu.Unlock()
		return vk
	}
	f.dialing = true
	f.mu.Unlock()
	client, err := f.dial()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dialing = false
	switch {
	case err != nil:
		f.nextDial = time.Now().Add(f.retry)
		f.log.Warn("realtime: Valkey unreachable: counting connections on this node until it is back", "err", err.Error())
		return nil
	case f.closed:
		client.Close()
		return nil
	}
	f.owned, f.vk = client, newValkeyCounter(client, f.prefix, f.ttl)
	return f.vk
}

func (f *fallbackCounter) isLocal(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.local[id]
	return ok
}

func (f *fallbackCounter) acquire(ctx context.Context, ref, id string, limit int) (bool, error) {
	if vk := f.valkey(); vk != nil {
		// Connections counted here during an outage are not in Valkey:
		// they take their share of the limit.
		vlimit := limit
		if limit > 0 {
			local := f.mem.count(ref)
			if local >= limit {
				return false, nil
			}
			vlimit -= local
		}
		ok, err := vk.acquire(ctx, ref, id, vlimit)
		if err == nil {
			return ok, nil
		}
		if ctx.Err() != nil {
			return false, err
		}
		f.log.Warn("realtime: Valkey failed: counting this connection on this node", "tenant", ref, "err", err.Error())
	}
	ok, err := f.mem.acquire(ctx, ref, id, limit)
	if ok {
		f.mu.Lock()
		f.local[id] = struct{}{}
		f.mu.Unlock()
	}
	return ok, err
}

func (f *fallbackCounter) refresh(ctx context.Context, ref, id string) error {
	if f.isLocal(id) {
		return nil
	}
	if vk := f.valkey(); vk != nil {
		return vk.refresh(ctx, ref, id)
	}
	return nil
}

func (f *fallbackCounter) release(ctx context.Context, ref, id string) error {
	if f.isLocal(id) {
		f.mu.Lock()
		delete(f.local, id)
		f.mu.Unlock()
		return f.mem.release(ctx, ref, id)
	}
	if vk := f.valkey(); vk != nil {
		return vk.release(ctx, ref, id)
	}
	return nil
}

// close closes the client dialed here.
func (f *fallbackCounter) close() {
	f.mu.Lock()
	c := f.owned
	f.owned, f.closed = nil, true
	f.mu.Unlock()
	if c != nil {
		c.Close()
	}
}
