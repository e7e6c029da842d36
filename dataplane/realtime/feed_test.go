package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schematest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
)

// fxWait bounds every wait of these tests: long enough for a loaded
// machine, reached only when something is broken.
const fxWait = 60 * time.Second

// fxEnv is one tenant with an "items" collection, the records service and
// a change feed over it.
type fxEnv struct {
	d     *schematest.Database
	id    tenantdb.Identity
	store *schema.Store
	svc   *records.Service
	feed  *realtime.Feed
}

func fxItems() schema.Collection {
	return schema.Collection{Name: "items", Fields: []schema.Field{
		{Name: "owner", Type: schema.Text},
		{Name: "n", Type: schema.Integer},
		{Name: "title", Type: schema.Text},
	}}
}

func newFxEnv(t *testing.T, cfg realtime.FeedConfig) *fxEnv {
	t.Helper()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	store, err := schema.NewStore(schema.StoreConfig{DB: d.DB, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(t.Context(), id, fxItems()); err != nil {
		t.Fatal(err)
	}
	svc, err := records.New(records.Config{DB: d.DB, Schema: store})
	if err != nil {
		t.Fatal(err)
	}
	e := &fxEnv{d: d, id: id, store: store, svc: svc}
	e.feed = e.newFeed(t, cfg)
	svc.SetOnChange(e.feed.Notify)
	return e
}

// newFeed starts a feed over e's database; cfg's zero fields are filled.
func (e *fxEnv) newFeed(t *testing.T, cfg realtime.FeedConfig) *realtime.Feed {
	t.Helper()
	cfg.DB, cfg.Collections = e.d.DB, e.store
	if cfg.Broker == nil {
		cfg.Broker = broker.NewMemory()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f, err := realtime.NewFeed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; f.Close() })
	return f
}

// head is the collection's last position, read as the superuser.
func (e *fxEnv) head(t *testing.T, coll string) int64 {
	t.Helper()
	var n int64
	err := e.d.Pool.QueryRow(context.Background(), "SELECT coalesce((SELECT pos FROM "+tenantdb.Table(e.id.TenantRef, schema.ChangeHeadsTable)+" WHERE collection = $1), 0)", coll).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fxSink records what a subscription delivers and fails the test when
// two calls overlap or anything comes after Closed.
type fxSink struct {
	t      *testing.T
	inCall atomic.Bool
	mu     sync.Mutex
	snap   []json.RawMessage
	ready  string
	isRdy  bool
	chs    []realtime.Change
	ended  bool
	err    error
	dead   bool // the test stopped listening
	wake   chan struct{}
	// refuse makes Change return false.
	refuse atomic.Bool
}

func newFxSink(t *testing.T) *fxSink { return &fxSink{t: t, wake: make(chan struct{}, 1)} }

func (s *fxSink) enter() func() {
	if !s.inCall.CompareAndSwap(false, true) {
		s.t.Error("two Sink calls at once")
	}
	return func() {
		s.inCall.Store(false)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *fxSink) Snapshot(recs []json.RawMessage) bool {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(recs) > realtime.SnapshotPageSize || len(recs) == 0 {
		s.t.Errorf("snapshot page of %d records", len(recs))
	}
	if s.isRdy || s.ended {
		s.t.Error("Snapshot after Ready or Closed")
	}
	s.snap = append(s.snap, recs...)
	return true
}

func (s *fxSink) Ready(cursor string) bool {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isRdy || s.ended {
		s.t.Error("Ready twice or after Closed")
	}
	s.ready, s.isRdy = cursor, true
	return true
}

func (s *fxSink) Change(c realtime.Change) bool {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isRdy || s.ended {
		s.t.Error("Change before Ready or after Closed")
	}
	if s.dead {
		return true
	}
	s.chs = append(s.chs, c)
	return !s.refuse.Load()
}

func (s *fxSink) Closed(err error) {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		s.t.Error("Closed twice")
	}
	s.ended, s.err = true, err
}

// waitFor waits until cond (called under the sink's lock) holds.
func (s *fxSink) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.After(fxWait)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.wake:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			s.t.Fatalf("waited %v for %s: %d changes, ready %v, closed %v (%v)", fxWait, what, len(s.chs), s.isRdy, s.ended, s.err)
		}
	}
}

// lastCursor is the cursor of the last change, or Ready's.
func (s *fxSink) lastCursor() string {
	if len(s.chs) > 0 {
		return s.chs[len(s.chs)-1].Cursor
	}
	return s.ready
}

func fxSubscribe(t *testing.T, f *realtime.Feed, p realtime.SubscribeParams) (*fxSink, realtime.Subscription) {
	t.Helper()
	s := newFxSink(t)
	sub, err := f.Subscribe(t.Context(), p, s)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", p, err)
	}
	t.Cleanup(sub.Close)
	return s, sub
}

func fxCreate(t *testing.T, e *fxEnv, id tenantdb.Identity, rec map[string]any) records.Record {
	t.Helper()
	r, err := e.svc.Create(context.Background(), id, records.CreateParams{Collection: "items", Record: rec})
	if err != nil {
		t.Error(err)
	}
	return r
}

func recordOf(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func codeOfErr(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// Subscribe refuses what it cannot serve, with the right code.
func TestSubscribeValidates(t *testing.T) {
	t.Parallel()
	e := newFxEnv(t, realtime.FeedConfig{})
	fxCreate(t, e, e.id, map[string]any{"n": 1.0})
	user := tenantdb.Identity{TenantRef: e.id.TenantRef, Role: tenantdb.RoleAuthenticated, UserID: "u1"}
	for _, tc := range []struct {
		name string
		p    realtime.SubscribeParams
		code connect.Code
	}{
		{"unknown collection", realtime.SubscribeParams{Identity: e.id, Collection: "nope"}, connect.CodeNotFound},
		{"bad filter", realtime.SubscribeParams{Identity: e.id, Collection: "items", Filter: "n == "}, connect.CodeInvalidArgument},
		{"ill-typed filter", realtime.SubscribeParams{Identity: e.id, Collection: "items", Filter: `n == "x"`}, connect.CodeInvalidArgument},
		{"snapshot and cursor", realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: "1", Snapshot: true}, connect.CodeInvalidArgument},
		{"malformed cursor", realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: "abc"}, connect.CodeInvalidArgument},
		{"negative cursor", realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: "-1"}, connect.CodeInvalidArgument},
		{"cursor ahead", realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: "99"}, connect.CodeInvalidArgument},
		{"no rules", realtime.SubscribeParams{Identity: user, Collection: "items"}, connect.CodePermissionDenied},
	} {
		_, err := e.feed.Subscribe(t.Context(), tc.p, newFxSink(t))
		if codeOfErr(err) != tc.code {
			t.Errorf("%s: error %v, want code %v", tc.name, err, tc.code)
		}
	}
	// The head itself is a valid cursor.
	s, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: "1"})
	s.waitFor("ready", func() bool { return s.isRdy })
	if s.ready != "1" {
		t.Errorf("Ready(%q), want 1", s.ready)
	}
}

// Changes arrive in order with their record; updates carry the old one;
// the filter selects; a refusing sink is cut off with ErrSlowConsumer.
func TestFeedDeliversChanges(t *testing.T) {
	t.Parallel()
	e := newFxEnv(t, realtime.FeedConfig{})
	all, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items"})
	two, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items", Filter: `n == 2 && title != "z"`})
	slow, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items"})
	slow.refuse.Store(true)
	for _, s := range []*fxSink{all, two, slow} {
		s.waitFor("ready", func() bool { return s.isRdy })
	}
	ctx := t.Context()
	r1 := fxCreate(t, e, e.id, map[string]any{"n": 1.0, "title": "a"})
	r2 := fxCreate(t, e, e.id, map[string]any{"n": 2.0, "title": "b"})
	if _, err := e.svc.Update(ctx, e.id, records.UpdateParams{Collection: "items", ID: r1["id"].(string), Patch: map[string]any{"n": 2.0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Update(ctx, e.id, records.UpdateParams{Collection: "items", ID: r2["id"].(string), Patch: map[string]any{"n": 3.0}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, e.id, records.DeleteParams{Collection: "items", ID: r1["id"].(string)}); err != nil {
		t.Fatal(err)
	}
	all.waitFor("5 changes", func() bool { return len(all.chs) == 5 })
	for i, want := range []string{"insert", "insert", "update", "update", "delete"} {
		c := all.chs[i]
		if c.Op != want || c.Cursor != strconv.Itoa(i+1) || c.Collection != "items" || c.At.IsZero() {
			t.Errorf("change %d: %+v, want %s at cursor %d", i, c, want, i+1)
		}
	}
	if got := recordOf(t, all.chs[2].Old)["n"]; got != 1.0 {
		t.Errorf("update's old n = %v, want 1", got)
	}
	if got := recordOf(t, all.chs[2].Record)["version"]; got != 2.0 {
		t.Errorf("update's version = %v, want 2", got)
	}
	if got := recordOf(t, all.chs[4].Record)["id"]; got != r1["id"] {
		t.Errorf("delete's record id = %v, want %v", got, r1["id"])
	}
	// n == 2: the insert of r2, r1 entering, r2 leaving (old matched),
	// r1's delete.
	two.waitFor("4 changes", func() bool { return len(two.chs) == 4 })
	var cursors []string
	for _, c := range two.chs {
		cursors = append(cursors, c.Cursor)
	}
	if fmt.Sprint(cursors) != "[2 3 4 5]" {
		t.Errorf("filtered cursors %v, want [2 3 4 5]", cursors)
	}
	slow.waitFor("cut off", func() bool { return slow.ended })
	if !errors.Is(slow.err, realtime.ErrSlowConsumer) || len(slow.chs) != 1 {
		t.Errorf("slow sink: %d changes, closed with %v", len(slow.chs), slow.err)
	}
}

// Rules: a subscriber sees only what its view rule lets through, at the
// time of each event; one whose rule fails is ended alone.
func TestFeedRules(t *testing.T) {
	t.Parallel()
	e := newFxEnv(t, realtime.FeedConfig{})
	ctx := t.Context()
	rsvc, err := rules.New(rules.Config{Schema: e.store})
	if err != nil {
		t.Fatal(err)
	}
	view := "record.owner == auth.uid"
	if _, err := rsvc.Set(ctx, e.id, "items", rules.Set{View: &view, List: &view}); err != nil {
		t.Fatal(err)
	}
	alice := tenantdb.Identity{TenantRef: e.id.TenantRef, Role: tenantdb.RoleAuthenticated, UserID: "alice"}
	// The claims are not a JSON object: the rule cannot be evaluated for
	// this subscriber.
	broken := tenantdb.Identity{TenantRef: e.id.TenantRef, Role: tenantdb.RoleAuthenticated, UserID: "bob", Claims: "not json"}
	mine := fxCreate(t, e, e.id, map[string]any{"owner": "alice", "n": 0.0})
	fxCreate(t, e, e.id, map[string]any{"owner": "carol", "n": 0.0})

	a, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: alice, Collection: "items", Snapshot: true})
	b, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: broken, Collection: "items"})
	a.waitFor("ready", func() bool { return a.isRdy })
	b.waitFor("ready", func() bool { return b.isRdy })
	if len(a.snap) != 1 || recordOf(t, a.snap[0])["id"] != mine["id"] {
		t.Fatalf("alice's snapshot: %s", a.snap)
	}
	const n = 20
	for i := range n {
		owner := "carol"
		if i%2 == 0 {
			owner = "alice"
		}
		fxCreate(t, e, e.id, map[string]any{"owner": owner, "n": float64(i)})
	}
	b.waitFor("the broken subscriber's end", func() bool { return b.ended })
	if codeOfErr(b.err) != connect.CodePermissionDenied || len(b.chs) != 0 {
		t.Errorf("broken subscriber: %d changes, closed with %v", len(b.chs), b.err)
	}
	// Alice's record handed to carol: alice sees it leave, as a delete.
	if _, err := e.svc.Update(ctx, e.id, records.UpdateParams{Collection: "items", ID: mine["id"].(string), Patch: map[string]any{"owner": "carol"}}); err != nil {
		t.Fatal(err)
	}
	fxCreate(t, e, e.id, map[string]any{"owner": "alice", "title": "last"})
	a.waitFor("alice's changes", func() bool { return len(a.chs) == n/2+2 })
	for _, c := range a.chs {
		if owner := recordOf(t, c.Record)["owner"]; owner != "alice" {
			t.Errorf("alice received %s of a record of %v", c.Op, owner)
		}
	}
	if c := a.chs[n/2]; c.Op != realtime.OpDelete || recordOf(t, c.Record)["id"] != mine["id"] {
		t.Errorf("the handed-over record arrived as %+v", c)
	}
	if a.ended {
		t.Errorf("alice's subscription ended: %v", a.err)
	}
}

// A cursor older than the retention is told to resync; a dropped
// collection's subscribers too.
func TestFeedResync(t *testing.T) {
	t.Parallel()
	e := newFxEnv(t, realtime.FeedConfig{Retention: time.Nanosecond, PurgeInterval: time.Hour})
	for i := range 5 {
		fxCreate(t, e, e.id, map[string]any{"n": float64(i)})
	}
	if err := e.feed.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := e.d.Pool.QueryRow(t.Context(), "SELECT count(*) FROM "+tenantdb.Table(e.id.TenantRef, schema.ChangesTable)).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d changes left after the purge (%v)", left, err)
	}
	old, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: "2"})
	old.waitFor("resync", func() bool { return old.ended })
	if !errors.Is(old.err, realtime.ErrResync) {
		t.Errorf("old cursor closed with %v, want ErrResync", old.err)
	}
	// The head is still a good cursor, and changes continue after it.
	cur, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: "5"})
	live, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items"})
	live.waitFor("ready", func() bool { return live.isRdy })
	fxCreate(t, e, e.id, map[string]any{"n": 9.0})
	cur.waitFor("the next change", func() bool { return len(cur.chs) == 1 })
	if cur.chs[0].Cursor != "6" {
		t.Errorf("next change at %s, want 6", cur.chs[0].Cursor)
	}
	if err := e.store.Drop(t.Context(), e.id, "items"); err != nil {
		t.Fatal(err)
	}
	e.feed.Notify(e.id.TenantRef, "items")
	live.waitFor("resync after drop", func() bool { return live.ended })
	if !errors.Is(live.err, realtime.ErrResync) {
		t.Errorf("subscriber of a dropped collection closed with %v, want ErrResync", live.err)
	}
	// Positions continue when the collection comes back.
	if _, err := e.store.Create(t.Context(), e.id, fxItems()); err != nil {
		t.Fatal(err)
	}
	fxCreate(t, e, e.id, map[string]any{"n": 1.0})
	if h := e.head(t, "items"); h != 7 {
		t.Errorf("head after re-creating %d, want 7", h)
	}
}
