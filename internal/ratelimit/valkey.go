package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"
)

// gcraScript is GCRA in one atomic step on the server, with the server's
// clock so that nodes with skewed clocks agree. Times are microseconds; they
// stay below 2^53, so Lua's doubles hold them exactly. The key expires when
// its TAT passes, i.e. when it is back at full burst.
//
// KEYS[1] the key; ARGV[1] emission interval (µs); ARGV[2] burst.
// Returns {allowed (0/1), retry after (µs), remaining}.
const gcraScript = `
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, allow_at - now, 0}
end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, 0, math.floor((now - allow_at) / interval)}
`

// ValkeyConfig configures NewValkey.
type ValkeyConfig struct {
	// Client is the Valkey (or Redis 7) client to use; the Limiter does
	// not close it. Either Client or URL is required.
	Client valkey.Client
	// URL, used when Client is nil, names the server:
	// redis://[user:password@]host:port[/db] (or rediss://, valkey://,
	// valkeys://). The Limiter opens its own client and Close closes it.
	URL string
	// Prefix is prepended to every key, e.g. "sovereign:ratelimit:"; it
	// keeps limits apart from other data and other deployments sharing the
	// server. Empty means none.
	Prefix string
}

// Valkey is a Limiter whose state lives in Valkey, shared by every node.
type Valkey struct {
	client valkey.Client
	owned  bool
	prefix string
	script *valkey.Lua
}

// NewValkey returns a Limiter on cfg.Client, or on a client of its own for
// cfg.URL.
func NewValkey(cfg ValkeyConfig) (*Valkey, error) {
	v := &Valkey{client: cfg.Client, prefix: cfg.Prefix, script: valkey.NewLuaScript(gcraScript)}
	if v.client != nil {
		return v, nil
	}
	if cfg.URL == "" {
		return nil, errors.New("ratelimit: a Valkey client or URL is required")
	}
	opt, err := valkey.ParseURL(cfg.URL)
	if err != nil {
		// valkey-go's messages name the scheme or options, never the
		// password; the URL itself is not quoted.
		return nil, fmt.Errorf("ratelimit: invalid Valkey URL: %w", err)
	}
	opt.DisableCache = true
	opt.ClientName = cmp.Or(opt.ClientName, "sovereign-ratelimit")
	client, err := valkey.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: connect to valkey at %s: %w", strings.Join(opt.InitAddress, ","), err)
	}
	v.client, v.owned = client, true
	return v, nil
}

// Close closes the client NewValkey opened for a URL; a client passed in
// is left open.
func (v *Valkey) Close() {
	if v.owned {
		v.client.Close()
	}
}

// Allow implements Limiter.
func (v *Valkey) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	iv, burst, err := limit.interval()
	if err != nil {
		return Result{}, err
	}
	args := []string{strconv.FormatInt(iv.Microseconds(), 10), strconv.Itoa(burst)}
	vals, err := v.script.Exec(ctx, v.client, []string{v.prefix + key}, args).AsIntSlice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: valkey: %w", err)
	}
	if len(vals) != 3 {
		return Result{}, fmt.Errorf("ratelimit: valkey: unexpected reply of %d values", len(vals))
	}
	return Result{
		Allowed:    vals[0] == 1,
		RetryAfter: time.Duration(vals[1]) * time.Microsecond,
		Remaining:  int(vals[2]),
	}, nil
}
