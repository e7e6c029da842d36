package ratelimit

import (
	"cmp"
	"context"
	"sync"
	"time"
)

// MemoryConfig configures NewMemory.
type MemoryConfig struct {
	// MaxKeys caps how many keys are tracked. When a new key arrives at the
	// cap, expired keys are dropped; if none have expired, arbitrary live
	// keys are forgotten (they start again at full burst), so memory stays
	// bounded even under a flood of distinct keys. Default 100000 (a few
	// MiB).
	MaxKeys int
	// SweepInterval is how often, at most, Allow drops expired keys in
	// passing. Default 1 minute.
	SweepInterval time.Duration
	// Now is the clock. Default time.Now; tests inject a fake one.
	Now func() time.Time
}

// Memory is a Limiter for one process. Limits are not shared between nodes:
// use Valkey when there are several.
type Memory struct {
	cfg MemoryConfig

	mu        sync.Mutex
	tats      map[string]time.Time
	lastSweep time.Time
}

// NewMemory returns an in-process Limiter.
func NewMemory(cfg MemoryConfig) *Memory {
	cfg.MaxKeys = cmp.Or(cfg.MaxKeys, 100_000)
	cfg.SweepInterval = cmp.Or(cfg.SweepInterval, time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Memory{cfg: cfg, tats: make(map[string]time.Time), lastSweep: cfg.Now()}
}

// Allow implements Limiter.
func (m *Memory) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	iv, burst, err := limit.interval()
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= m.cfg.SweepInterval {
		m.sweep(now)
	}
	tat, ok := m.tats[key]
	if !ok && len(m.tats) >= m.cfg.MaxKeys {
		m.sweep(now)
		for k := range m.tats {
			if len(m.tats) < m.cfg.MaxKeys {
				break
			}
			delete(m.tats, k)
		}
	}
	res, newTAT := gcra(tat, now, iv, burst)
	if res.Allowed {
		m.tats[key] = newTAT
	}
	return res, nil
}

// Len reports how many keys are tracked.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tats)
}

// sweep drops keys whose TAT has passed: they are back at full burst, which
// is what an absent key means. m.mu is held.
func (m *Memory) sweep(now time.Time) {
	for k, tat := range m.tats {
		if !tat.After(now) {
			delete(m.tats, k)
		}
	}
	m.lastSweep = now
}
