package realtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
)

// errUnsubscribed is the cancel cause of a subscription its owner closed.
var errUnsubscribed = errors.New("realtime: unsubscribed")

// feedSub is one subscription of a Feed.
//
// Its Sink is called from one goroutine at a time: the subscription's own
// goroutine while it delivers the snapshot and catches up, then, once it
// is registered with its hub, the hub's fetch goroutine under the hub's
// lock; the final Closed comes after it left the hub.
type feedSub struct {
	f         *Feed
	ref, coll string
	filterSrc string
	prog      *filter.Program
	sink      Sink
	// The index entry: one equality of the filter.
	indexed    bool
	indexField string
	indexKey   indexKey

	idMu    sync.Mutex
	id      tenantdb.Identity
	auth    filter.Auth
	authErr error

	closed atomic.Bool
	ctx    context.Context
	cancel context.CancelCauseFunc

	// cursor is the last position handed to the subscription (delivered
	// or filtered out); mark dedups it among a change's candidates. Both
	// belong to the subscription's goroutine until it is live, then to
	// the hub under its lock.
	cursor int64
	mark   int64
}

func newFeedSub(f *Feed, id tenantdb.Identity, coll string, prog *filter.Program, sink Sink) *feedSub {
	s := &feedSub{f: f, ref: id.TenantRef, coll: coll, prog: prog, sink: sink}
	s.SetIdentity(id)
	if prog != nil {
		eq := prog.Equalities()
		fields := make([]string, 0, len(eq))
		for k := range eq {
			fields = append(fields, k)
		}
		// The id, when given, is the most selective; otherwise the first
		// by name, so that equal filters share index entries.
		slices.Sort(fields)
		if _, ok := eq[schema.FieldID]; ok {
			fields = []string{schema.FieldID}
		}
		for _, field := range fields {
			if k, ok := keyOf(eq[field]); ok {
				s.indexed, s.indexField, s.indexKey = true, field, k
				break
			}
		}
	}
	return s
}

// SetIdentity implements Subscription: later events are checked against
// id (its tenant must not change).
func (s *feedSub) SetIdentity(id tenantdb.Identity) {
	id.TenantRef = s.ref
	auth, err := rules.AuthOf(id, time.Time{})
	s.idMu.Lock()
	s.id, s.auth, s.authErr = id, auth, err
	s.idMu.Unlock()
}

// Close implements Subscription. It does not wait for the hub's lock, so
// it may be called from within a Sink method.
func (s *feedSub) Close() {
	if s.closed.CompareAndSwap(false, true) {
		s.cancel(errUnsubscribed)
	}
}

// endSelf ends the subscription from its own goroutine (not live).
func (s *feedSub) endSelf(err error) {
	if s.closed.CompareAndSwap(false, true) {
		s.sink.Closed(err)
	}
	s.cancel(err)
}

// endLocked ends the subscription from its hub, under the hub's lock.
func (s *feedSub) endLocked(h *changeHub, err error) {
	h.remove(s)
	if s.closed.CompareAndSwap(false, true) {
		s.sink.Closed(err)
	}
	s.cancel(err)
}

// run delivers the snapshot or catches up from the cursor, joins the hub
// and waits for the end.
func (s *feedSub) run(c *schema.Collection, cursor, head, purged int64, snapshot bool) {
	var start int64
	switch {
	case snapshot:
		s.idMu.Lock()
		id := s.id
		s.idMu.Unlock()
		at, recs, err := s.f.snapshot(s.ctx, id, c, s.filterSrc)
		if err != nil {
			s.fail(err)
			return
		}
		for page := range slices.Chunk(recs, SnapshotPageSize) {
			if s.closed.Load() {
				return
			}
			if !s.sink.Snapshot(page) {
				s.endSelf(ErrSlowConsumer)
				return
			}
		}
		start = at
	case cursor < 0:
		start = head
	default:
		if cursor < purged {
			s.endSelf(ErrResync)
			return
		}
		start = cursor
	}
	if s.closed.Load() {
		return
	}
	if !s.sink.Ready(strconv.FormatInt(start, 10)) {
		s.endSelf(ErrSlowConsumer)
		return
	}
	h := s.f.acquireHub(s.ref, s.coll, start)
	defer s.f.releaseHub(h)
	if !s.catchUp(h, start) {
		return
	}
	<-s.ctx.Done()
	h.mu.Lock()
	h.remove(s)
	first := s.closed.CompareAndSwap(false, true)
	h.mu.Unlock()
	if first {
		s.sink.Closed(context.Cause(s.ctx))
	}
}

// fail ends the subscription with err unless its context ended first.
func (s *feedSub) fail(err error) {
	if s.ctx.Err() != nil {
		err = context.Cause(s.ctx)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) && !errors.Is(err, ErrResync) && !errors.Is(err, ErrFeedClosed) && !errors.Is(err, context.Canceled) {
		s.f.log.Error("realtime: subscription failed", "tenant", s.ref, "collection", s.coll, "error", err)
		err = connect.NewError(connect.CodeInternal, errors.New("internal error reading the changes; resume from your cursor"))
	}
	s.endSelf(err)
}

// catchUp delivers the changes after c from the database, page by page,
// until c is within the hub's ring; then, under the hub's lock, the rest
// from the ring, and registers with the hub. False when the subscription
// ended meanwhile.
func (s *feedSub) catchUp(h *changeHub, c int64) bool {
	var (
		rule    *filter.Rule
		ruleErr error
		ruleOf  = "\x00"
	)
	for {
		if s.ctx.Err() != nil {
			s.fail(context.Cause(s.ctx))
			return false
		}
		h.mu.Lock()
		if h.gone {
			h.mu.Unlock()
			s.endSelf(ErrResync)
			return false
		}
		if evs, ok := h.since(c); ok {
			s.cursor = c
			now := time.Now()
			for _, ev := range evs {
				if err := s.deliver(s.coll, ev, h.rule, h.ruleErr, now); err != nil {
					s.endLocked(h, err)
					h.mu.Unlock()
					return false
				}
			}
			if s.closed.Load() {
				h.mu.Unlock()
				return false
			}
			h.add(s)
			h.mu.Unlock()
			return true
		}
		h.mu.Unlock()
		evs, col, purged, err := s.f.loadChanges(s.ctx, s.ref, s.coll, c)
		switch {
		case errors.Is(err, errCollectionGone):
			s.endSelf(ErrResync)
			return false
		case err != nil:
			if s.ctx.Err() == nil {
				s.f.log.Warn("realtime: catching up failed; retrying", "tenant", s.ref, "collection", s.coll, "error", err)
			}
			if !broker.Sleep(s.ctx, s.f.poll) {
				s.fail(context.Cause(s.ctx))
				return false
			}
			continue
		case c < purged:
			s.endSelf(ErrResync)
			return false
		}
		if key := ruleKey(col); key != ruleOf {
			rule, ruleErr = viewRule(col)
			ruleOf = key
		}
		now := time.Now()
		s.cursor = c
		for _, ev := range evs {
			if ev.pos != c+1 {
				s.endSelf(ErrResync)
				return false
			}
			if err := s.deliver(s.coll, ev, rule, ruleErr, now); err != nil {
				s.endSelf(err)
				return false
			}
			c = ev.pos
		}
		if len(evs) == 0 && !broker.Sleep(s.ctx, s.f.poll) {
			s.fail(context.Cause(s.ctx))
			return false
		}
	}
}

// deliver hands ev to the sink if the subscriber's filter and view rule
// let it through, and advances the cursor. A non-nil error ends the
// subscription: ErrSlowConsumer, or a rule or filter that failed.
//
// What the subscriber sees:
//   - insert: when the new record passes the filter and the view rule;
//   - delete: when the deleted record did;
//   - update: when the new record passes the view rule and either record
//     the filter (the old one only where the view rule lets the old
//     values through too); Old is set only where the view rule lets the
//     old record through. An update after which the view rule hides the
//     record, from a subscriber that could see it before (and whose
//     filter it passed), arrives as a delete of the old record: it left
//     the subscriber's view, and the new values are not the subscriber's
//     to see.
func (s *feedSub) deliver(coll string, ev *changeEvent, rule *filter.Rule, ruleErr error, now time.Time) error {
	s.cursor = ev.pos
	s.idMu.Lock()
	service := s.id.Role == tenantdb.RoleService
	auth, authErr := s.auth, s.authErr
	s.idMu.Unlock()
	auth.Time = now
	if !service {
		switch {
		case authErr != nil:
			return ruleError(coll, authErr)
		case ruleErr != nil:
			return ruleError(coll, ruleErr)
		case rule == nil:
			return connect.NewError(connect.CodePermissionDenied,
				fmt.Errorf("collection %q has no view rule any more, so only a secret key can watch its changes", coll))
		}
	}
	sees := func(r records.Record) (bool, error) {
		if service {
			return true, nil
		}
		ok, err := rule.Eval(r, auth)
		if err != nil {
			return false, ruleError(coll, err)
		}
		return ok, nil
	}
	passes := func(r records.Record) (bool, error) {
		if s.prog == nil {
			return true, nil
		}
		ok, err := s.prog.Eval(r)
		if err != nil {
			return false, filterError(err)
		}
		return ok, nil
	}
	both := func(r records.Record) (bool, error) {
		ok, err := passes(r)
		if err != nil || !ok {
			return false, err
		}
		return sees(r)
	}
	out := Change{Collection: coll, Cursor: strconv.FormatInt(ev.pos, 10), Op: ev.op, At: ev.at}
	switch ev.op {
	case OpUpdate:
		newSees, err := sees(ev.rec)
		if err != nil {
			return err
		}
		oldSees, err := sees(ev.old)
		if err != nil {
			return err
		}
		oldPasses := false
		if oldSees {
			if oldPasses, err = passes(ev.old); err != nil {
				return err
			}
		}
		switch {
		case newSees:
			newPasses, err := passes(ev.rec)
			if err != nil {
				return err
			}
			if !newPasses && !oldPasses {
				return nil
			}
			out.Record = ev.recJSON
			if oldSees {
				out.Old = ev.oldJSON
			}
		case oldPasses:
			out.Op, out.Record = OpDelete, ev.oldJSON
		default:
			return nil
		}
	default: // insert, delete: rec is the record concerned
		ok, err := both(ev.rec)
		if err != nil || !ok {
			return err
		}
		out.Record = ev.recJSON
	}
	if s.closed.Load() {
		return nil
	}
	if !s.sink.Change(out) {
		return ErrSlowConsumer
	}
	return nil
}

// Ensure the interface stays implemented.
var (
	_ ChangeFeed   = (*Feed)(nil)
	_ Subscription = (*feedSub)(nil)
)
