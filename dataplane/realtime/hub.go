package realtime

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/records"
)

// changeHub is one node's reader of one collection's change log: it
// fetches new changes when poked or every PollInterval, keeps the last
// RingSize in a ring and dispatches them to its live subscriptions, under
// mu, in position order.
type changeHub struct {
	f         *Feed
	ref, coll string
	users     int // guarded by f.mu
	wake      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc

	mu sync.Mutex
	// head is the last position fetched and dispatched.
	head int64
	// ring holds the changes up to head, oldest first: at most RingSize,
	// consecutive positions.
	ring []*changeEvent
	// Live subscriptions: indexed by one equality of their filter, or not.
	byValue   map[string]map[indexKey]map[*feedSub]struct{}
	unindexed map[*feedSub]struct{}
	// gone: the collection was dropped; every subscription must resync.
	gone bool
	// rule is the view rule compiled for ruleOf (its ruleKey).
	rule    *filter.Rule
	ruleOf  string
	ruleErr error
	// mark dedups a change's candidates.
	mark int64
}

func newChangeHub(f *Feed, ref, coll string, start int64) *changeHub {
	ctx, cancel := context.WithCancel(f.ctx)
	return &changeHub{f: f, ref: ref, coll: coll, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		head: start, byValue: map[string]map[indexKey]map[*feedSub]struct{}{}, unindexed: map[*feedSub]struct{}{}}
}

// poke makes the hub fetch soon; it never blocks.
func (h *changeHub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run fetches until the hub is stopped.
func (h *changeHub) run() {
	t := time.NewTicker(h.f.poll)
	defer t.Stop()
	for {
		more := h.fetch()
		if h.ctx.Err() != nil {
			return
		}
		if more {
			continue
		}
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
		case <-t.C:
		}
	}
}

// fetch reads and dispatches the changes after head; true when there may
// be more right away.
func (h *changeHub) fetch() bool {
	h.mu.Lock()
	after, gone := h.head, h.gone
	h.mu.Unlock()
	if gone {
		return false
	}
	evs, c, purged, err := h.f.loadChanges(h.ctx, h.ref, h.coll, after)
	if errors.Is(err, errCollectionGone) {
		h.mu.Lock()
		h.gone = true
		h.endAll(ErrResync)
		h.mu.Unlock()
		return false
	}
	if err != nil {
		if h.ctx.Err() == nil {
			h.f.log.WarnContext(h.ctx, "realtime: reading the change log failed; retrying at the next poll", "tenant", h.ref, "collection", h.coll, "error", err)
		}
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if key := ruleKey(c); key != h.ruleOf || h.rule == nil && h.ruleErr == nil {
		h.rule, h.ruleErr = viewRule(c)
		h.ruleOf = key
	}
	if len(evs) == 0 && purged > h.head {
		// Everything after head was purged before this hub read it.
		h.endAll(ErrResync)
		h.head, h.ring = purged, nil
		return false
	}
	for _, ev := range evs {
		if ev.pos != h.head+1 {
			// A gap: the log was purged past this hub's position.
			h.endAll(ErrResync)
			h.ring = nil
		}
		h.head = ev.pos
		if len(h.ring) == h.f.ringSize {
			h.ring = slices.Delete(h.ring, 0, len(h.ring)/4+1)
		}
		h.ring = append(h.ring, ev)
		h.dispatch(ev)
	}
	return len(evs) == FetchPageSize
}

// since returns the ring's changes after position c when the ring (with
// head) covers everything after c.
func (h *changeHub) since(c int64) ([]*changeEvent, bool) {
	if c >= h.head {
		return nil, true
	}
	if len(h.ring) == 0 || h.ring[0].pos > c+1 {
		return nil, false
	}
	i := int(c + 1 - h.ring[0].pos)
	return h.ring[i:], true
}

// add registers s as live, under mu.
func (h *changeHub) add(s *feedSub) {
	if s.indexed {
		m := h.byValue[s.indexField]
		if m == nil {
			m = map[indexKey]map[*feedSub]struct{}{}
			h.byValue[s.indexField] = m
		}
		set := m[s.indexKey]
		if set == nil {
			set = map[*feedSub]struct{}{}
			m[s.indexKey] = set
		}
		set[s] = struct{}{}
		return
	}
	h.unindexed[s] = struct{}{}
}

// remove unregisters s, under mu.
func (h *changeHub) remove(s *feedSub) {
	if !s.indexed {
		delete(h.unindexed, s)
		return
	}
	m := h.byValue[s.indexField]
	set := m[s.indexKey]
	delete(set, s)
	if len(set) == 0 {
		delete(m, s.indexKey)
		if len(m) == 0 {
			delete(h.byValue, s.indexField)
		}
	}
}

// endAll ends every live subscription with err, under mu.
func (h *changeHub) endAll(err error) {
	for s := range h.unindexed {
		s.endLocked(h, err)
	}
	for _, m := range h.byValue {
		for _, set := range m {
			for s := range set {
				s.endLocked(h, err)
			}
		}
	}
}

// dispatch hands ev to the live subscriptions it may concern, under mu:
// the unindexed ones and those indexed by a value that the record (or,
// for an update, the old record) holds.
func (h *changeHub) dispatch(ev *changeEvent) {
	h.mark++
	mark := h.mark
	var cands []*feedSub
	take := func(s *feedSub) {
		if s.mark != mark {
			s.mark = mark
			cands = append(cands, s)
		}
	}
	for s := range h.unindexed {
		take(s)
	}
	for field, m := range h.byValue {
		for _, r := range [2]records.Record{ev.rec, ev.old} {
			if r == nil {
				continue
			}
			if k, ok := keyOf(r[field]); ok {
				for s := range m[k] {
					take(s)
				}
			}
		}
	}
	now := time.Now()
	for _, s := range cands {
		if s.closed.Load() || ev.pos <= s.cursor {
			continue
		}
		if err := s.deliver(h.coll, ev, h.rule, h.ruleErr, now); err != nil {
			s.endLocked(h, err)
		}
	}
}

// indexKey is a filter literal or a record value in a form that compares
// with == as the filter's equality does: numbers as float64 (an integer
// field compares in its own domain, where the conversion keeps equal
// values equal and can only make distinct huge values collide, which the
// evaluation of the candidates sorts out), times as their instant.
type indexKey struct {
	kind uint8
	s    string
	f    float64
	b    bool
	sec  int64
	nsec int32
}

func keyOf(v any) (indexKey, bool) {
	switch x := v.(type) {
	case string:
		return indexKey{kind: 1, s: x}, true
	case int64:
		return indexKey{kind: 2, f: float64(x)}, true
	case float64:
		if math.IsNaN(x) {
			return indexKey{}, false
		}
		return indexKey{kind: 2, f: x}, true
	case bool:
		return indexKey{kind: 3, b: x}, true
	case time.Time:
		return indexKey{kind: 4, sec: x.Unix(), nsec: int32(x.Nanosecond())}, true
	}
	return indexKey{}, false
}

// ruleError is the Closed error of a subscription whose view rule failed.
func ruleError(coll string, err error) error {
	return connect.NewError(connect.CodePermissionDenied,
		errors.New("the view rule of collection "+strconv.Quote(coll)+" cannot be evaluated for this subscriber: "+err.Error()))
}

// filterError is the Closed error of a subscription whose filter failed.
func filterError(err error) error {
	return connect.NewError(connect.CodeInvalidArgument, errors.New("filter: "+err.Error()))
}
