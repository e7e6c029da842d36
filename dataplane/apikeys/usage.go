package apikeys

import (
	"slices"
	"sync"
	"time"
)

// DefaultUsageLimit is the default of Config.UsageLimit.
const DefaultUsageLimit = 100_000

// Usage is a key's latest successful authentication on this node.
type Usage struct {
	// KeyID is the control plane's id of the key.
	KeyID string
	// LastUsedAt is when the key last authenticated.
	LastUsedAt time.Time
}

// DrainUsage returns the latest use of every key that authenticated since
// the previous drain, in no particular order, and forgets them. The caller
// reports them to the control plane and gives back with RestoreUsage what it
// could not deliver.
func (k *Keys) DrainUsage() []Usage { return k.usage.drain() }

// RestoreUsage puts back usage that DrainUsage returned but that could not
// be delivered. Each key keeps its latest use, whether restored or recorded
// since the drain; the limit of Config.UsageLimit applies as to new uses.
func (k *Keys) RestoreUsage(u []Usage) { k.usage.restore(u) }

// usage holds the latest successful authentication per key id until it is
// drained. At most limit ids are held: past it the oldest uses are dropped
// (a key still in use is soon recorded again), in batches, so that the
// hot path's cost stays one map write amortised.
type usage struct {
	limit int

	mu sync.Mutex
	m  map[string]time.Time
}

func newUsage(limit int) *usage {
	return &usage{limit: limit, m: make(map[string]time.Time)}
}

func (u *usage) record(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.put(id, at)
	u.trim()
}

// put keeps the later of at and the held use of id. u.mu is held.
func (u *usage) put(id string, at time.Time) {
	if t, ok := u.m[id]; !ok || at.After(t) {
		u.m[id] = at
	}
}

// trim drops the oldest uses once more than limit are held, down to three
// quarters of limit, so that it runs once per limit/4 new keys at most.
// u.mu is held.
func (u *usage) trim() {
	if len(u.m) <= u.limit {
		return
	}
	all := make([]Usage, 0, len(u.m))
	for id, t := range u.m {
		all = append(all, Usage{KeyID: id, LastUsedAt: t})
	}
	slices.SortFunc(all, func(a, b Usage) int { return b.LastUsedAt.Compare(a.LastUsedAt) })
	for _, x := range all[u.limit-u.limit/4:] {
		delete(u.m, x.KeyID)
	}
}

func (u *usage) drain() []Usage {
	u.mu.Lock()
	m := u.m
	u.m = make(map[string]time.Time)
	u.mu.Unlock()
	out := make([]Usage, 0, len(m))
	for id, t := range m {
		out = append(out, Usage{KeyID: id, LastUsedAt: t})
	}
	return out
}

func (u *usage) restore(list []Usage) {
	if len(list) == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range list {
		u.put(x.KeyID, x.LastUsedAt)
	}
	u.trim()
}
