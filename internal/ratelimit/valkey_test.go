package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/ratelimit/ratelimittest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func newValkeyClient(t *testing.T) valkey.Client {
	t.Helper()
	opt, err := valkey.ParseURL(testenv.ValkeyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := valkey.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestValkeyConformance(t *testing.T) {
	ratelimittest.Run(t, ratelimittest.Harness{
		New: func(t *testing.T) ratelimit.Limiter {
			l, err := ratelimit.NewValkey(ratelimit.ValkeyConfig{Client: newValkeyClient(t), Prefix: testenv.KeyPrefix(t)})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		Wait: func(t *testing.T, _ ratelimit.Limiter, d time.Duration) { time.Sleep(d) },
	})
}

// TestValkeyKeys checks where the state lives: under the prefix, with a TTL
// so that idle keys do not pile up.
func TestValkeyKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newValkeyClient(t)
	prefix := testenv.KeyPrefix(t)
	l, err := ratelimit.NewValkey(ratelimit.ValkeyConfig{Client: c, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Allow(ctx, "login:x", ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.Do(ctx, c.B().Pttl().Key(prefix+"login:x").Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Hour.Milliseconds() {
		t.Fatalf("PTTL = %d ms, want within (0, 3600000]", ttl)
	}
	if n, err := c.Do(ctx, c.B().Exists().Key("login:x").Build()).AsInt64(); err != nil || n != 0 {
		t.Fatalf("unprefixed key exists: %d, %v", n, err)
	}
}

func TestValkeyURL(t *testing.T) {
	t.Parallel()
	l, err := ratelimit.NewValkey(ratelimit.ValkeyConfig{URL: testenv.ValkeyURL(t), Prefix: testenv.KeyPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.Allow(context.Background(), "k", ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 1})
	if err != nil || !r.Allowed {
		t.Fatalf("Allow = %+v, %v", r, err)
	}
	if _, err := ratelimit.NewValkey(ratelimit.ValkeyConfig{}); err == nil {
		t.Fatal("NewValkey without client or URL succeeded")
	}
}
