package realtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
)

// Defaults and limits of the change feed.
const (
	// DefaultRetention is how long captured changes are kept: 24 hours.
	DefaultRetention = 24 * time.Hour
	// DefaultPollInterval is how often a collection with subscribers on a
	// node reads its change log even without a poke: 1 second.
	DefaultPollInterval = time.Second
	// DefaultPurgeInterval is how often Run purges changes older than the
	// retention: 5 minutes.
	DefaultPurgeInterval = 5 * time.Minute
	// DefaultRingSize is how many recent changes each collection's hub
	// keeps, so that a subscriber resuming a little behind joins the live
	// stream without reading the database.
	DefaultRingSize = 4096
	// DefaultMaxSnapshot is the most records a snapshot may hold: 10,000.
	// A filter matching more is refused (InvalidArgument): narrow it, or
	// page through the records API and subscribe without a snapshot.
	DefaultMaxSnapshot = 10000
	// SnapshotPageSize is the most records one Sink.Snapshot call carries.
	SnapshotPageSize = 500
	// FetchPageSize is the most changes read from the log in one query.
	FetchPageSize = 1000
	// DefaultChannel is the broker channel of pokes.
	DefaultChannel = "realtime:changes"
	// notifyQueue is how many pokes wait for Run to publish them; beyond
	// it they are dropped (the hubs' polling covers them).
	notifyQueue = 4096
	// publishTimeout bounds one poke's publication.
	publishTimeout = 2 * time.Second
	feedMinBackoff = 100 * time.Millisecond
	feedMaxBackoff = 5 * time.Second
)

// ErrFeedClosed is the Closed error of subscriptions ended by the feed's
// shutdown (Feed.Close, or the end of the context of Run's owner).
var ErrFeedClosed = errors.New("realtime: the server is shutting down; reconnect and resume from your cursor")

// FeedConfig configures a Feed.
type FeedConfig struct {
	// DB runs the tenants' transactions. Required.
	DB *tenantdb.DB
	// Collections holds the collections' definitions and rules. Required.
	Collections *schema.Store
	// Records is the records service whose writes the feed hears about
	// (through its OnChange). Optional: the feed reads the tables and the
	// change log itself, with records' conversions (records.FromRowJSON,
	// records.MarshalRecord), so that snapshots and changes come out alike.
	Records *records.Service
	// Rules compiles access rules for snapshots; nil means a cache of
	// rules.DefaultCacheSize.
	Rules *rules.Cache
	// Broker carries pokes between the region's nodes (the in-process
	// broker for one node). Required.
	Broker broker.Broker
	// Channel is the broker channel for pokes; every node of a region must
	// use the same. Default DefaultChannel.
	Channel string
	// Retention is how long changes are kept; a cursor older than that is
	// told to resync. Default DefaultRetention (24h); must not be negative.
	Retention time.Duration
	// PollInterval is how often a hub reads its collection's log without a
	// poke: the bound on delivery latency when pokes are lost. Default
	// DefaultPollInterval (1s).
	PollInterval time.Duration
	// PurgeInterval is how often Run purges old changes. Default
	// DefaultPurgeInterval (5m).
	PurgeInterval time.Duration
	// RingSize is how many recent changes a hub keeps. Default
	// DefaultRingSize.
	RingSize int
	// MaxSnapshot is the most records a snapshot may hold. Default
	// DefaultMaxSnapshot.
	MaxSnapshot int
	// Logger for trouble with the broker and the database. Default
	// slog.Default().
	Logger *slog.Logger
}

// Feed is the realtime change feed: it implements ChangeFeed on the change
// log that package schema's capture trigger fills.
//
// Capture is a transactional outbox filled by triggers, not logical
// decoding: logical decoding needs wal_level=logical, a replication slot
// per region and privileges the tenants' roles do not have, whereas a
// trigger sees every write path (REST, Connect, batches, the ON DELETE SET
// NULL of relations) in the same transaction as the write. Each change
// takes the collection's next position in its _change_heads row, whose
// row lock the writer holds until it commits: the writers of one
// collection serialise from their first change to their commit, so
// positions are gapless and in commit order, and a reader that sees
// position n has seen every position below it. Positions are the cursors.
//
// Each node keeps one hub per (tenant, collection) with subscribers. A
// hub reads the log after its last position when poked (Notify, called by
// the records service after each commit, publishes a poke on the broker so
// that every node's hub wakes) and every PollInterval anyway, because
// pokes may be lost (Valkey down, a node dying between commit and
// publish): the database is the truth, pokes are only latency. The hub
// converts each change once, keeps the last RingSize, and hands it to the
// subscriptions whose filter and view rule let it through. Subscriptions
// whose filter has top-level `field == literal` conjuncts are indexed by
// one such value, so a change is evaluated only for the subscriptions
// waiting for its values and those without such a conjunct.
//
// A subscription with a cursor reads the log after it page by page, then
// joins its hub's live stream once it is within the hub's ring, under the
// hub's lock: no change is missed or delivered twice. A snapshot is read
// with the collection's head in one statement (one MVCC snapshot): the
// changes after that head are exactly those the snapshot does not show.
// Run purges changes older than Retention; a cursor before the purged
// position gets ErrResync, as does a subscription to a dropped collection.
type Feed struct {
	db       *tenantdb.DB
	colls    *schema.Store
	rules    *rules.Cache
	broker   broker.Broker
	channel  string
	retain   time.Duration
	poll     time.Duration
	purgeInt time.Duration
	ringSize int
	maxSnap  int
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	hubs   map[hubKey]*changeHub
	closed bool

	ensured sync.Map // tenant ref → struct{}: change log known to exist
	pokes   chan feedPoke
	// node tells this feed's pokes from other nodes': a node has already
	// woken its own hubs, and its own poke coming back over the broker
	// would only make them read the log again for nothing.
	node string
}

// hubKey names a hub: a tenant's collection.
type hubKey struct{ ref, coll string }

// feedPoke is the broker message: the collections of a tenant that have
// new changes.
type feedPoke struct {
	Node        string   `json:"node,omitempty"`
	Ref         string   `json:"ref"`
	Collections []string `json:"collections"`
}

// NewFeed returns a Feed. Start Run in a goroutine for cross-node pokes
// and retention; Close it when done.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("realtime: FeedConfig.DB is required")
	case cfg.Collections == nil:
		return nil, errors.New("realtime: FeedConfig.Collections is required")
	case cfg.Broker == nil:
		return nil, errors.New("realtime: FeedConfig.Broker is required")
	case cfg.Retention < 0 || cfg.PollInterval < 0 || cfg.PurgeInterval < 0:
		return nil, errors.New("realtime: FeedConfig durations must not be negative")
	case cfg.RingSize < 0 || cfg.MaxSnapshot < 0:
		return nil, errors.New("realtime: FeedConfig.RingSize and MaxSnapshot must not be negative")
	}
	if cfg.Rules == nil {
		cfg.Rules = rules.NewCache(0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Feed{
		db:       cfg.DB,
		colls:    cfg.Collections,
		rules:    cfg.Rules,
		broker:   cfg.Broker,
		channel:  cmp.Or(cfg.Channel, DefaultChannel),
		retain:   cmp.Or(cfg.Retention, DefaultRetention),
		poll:     cmp.Or(cfg.PollInterval, DefaultPollInterval),
		purgeInt: cmp.Or(cfg.PurgeInterval, DefaultPurgeInterval),
		ringSize: cmp.Or(cfg.RingSize, DefaultRingSize),
		maxSnap:  cmp.Or(cfg.MaxSnapshot, DefaultMaxSnapshot),
		log:      cmp.Or(cfg.Logger, slog.Default()),
		ctx:      ctx,
		cancel:   cancel,
		hubs:     map[hubKey]*changeHub{},
		pokes:    make(chan feedPoke, notifyQueue),
		node:     strconv.FormatUint(mathrand.Uint64(), 36),
	}, nil
}

// Close ends every subscription with ErrFeedClosed and stops the hubs; it
// waits for their goroutines. Run returns on its own context.
func (f *Feed) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

// Notify says that tenant ref's collections have new committed changes:
// it wakes this node's hubs of them and queues a poke for Run to publish
// to the other nodes. It never blocks: when the queue is full the poke is
// dropped, and the other nodes find the changes by polling.
func (f *Feed) Notify(ref string, collections ...string) {
	if len(collections) == 0 {
		return
	}
	for _, c := range collections {
		f.pokeLocal(ref, c)
	}
	select {
	case f.pokes <- feedPoke{Ref: ref, Collections: collections}:
	default:
	}
}

// pokeLocal wakes the hub of (ref, coll) on this node, if any.
func (f *Feed) pokeLocal(ref, coll string) {
	f.mu.Lock()
	h := f.hubs[hubKey{ref, coll}]
	f.mu.Unlock()
	if h != nil {
		h.poke()
	}
}

// pokeAll wakes every hub of this node (after pokes may have been lost).
func (f *Feed) pokeAll() {
	f.mu.Lock()
	hs := make([]*changeHub, 0, len(f.hubs))
	for _, h := range f.hubs {
		hs = append(hs, h)
	}
	f.mu.Unlock()
	for _, h := range hs {
		h.poke()
	}
}

// Run publishes Notify's pokes, receives the other nodes' pokes (and
// subscribes again, with backoff, when the broker subscription ends), and
// purges changes older than the retention every PurgeInterval, until ctx
// ends. Call it once per Feed, in its own goroutine.
func (f *Feed) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); f.publishLoop(ctx) }()
	go func() { defer wg.Done(); f.receiveLoop(ctx) }()
	go func() { defer wg.Done(); f.purgeLoop(ctx) }()
	wg.Wait()
}

func (f *Feed) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-f.pokes:
			// The pokes queued meanwhile go out with this one, one message
			// per tenant: under load, many writes cost one publication.
			for _, p := range mergePokes(p, f.pokes) {
				p.Node = f.node
				payload, err := json.Marshal(p)
				if err != nil {
					continue
				}
				pctx, cancel := context.WithTimeout(ctx, publishTimeout)
				err = f.broker.Publish(pctx, f.channel, payload)
				cancel()
				if err != nil && ctx.Err() == nil {
					f.log.WarnContext(ctx, "realtime: poke not published; other nodes deliver after their next poll", "tenant", p.Ref, "error", err)
				}
			}
		}
	}
}

// mergePokes merges first with the pokes waiting in queue (as many as are
// there now) into one poke per tenant, each collection once, in the order
// they came.
func mergePokes(first feedPoke, queue <-chan feedPoke) []feedPoke {
	out := []feedPoke{{Ref: first.Ref, Collections: slices.Clone(first.Collections)}}
	for range len(queue) {
		p := <-queue
		i := slices.IndexFunc(out, func(q feedPoke) bool { return q.Ref == p.Ref })
		if i < 0 {
			out = append(out, feedPoke{Ref: p.Ref})
			i = len(out) - 1
		}
		for _, c := range p.Collections {
			if !slices.Contains(out[i].Collections, c) {
				out[i].Collections = append(out[i].Collections, c)
			}
		}
	}
	return out
}

func (f *Feed) receiveLoop(ctx context.Context) {
	broker.Follow(ctx, f.broker, f.channel, broker.Follower{
		Name:       "realtime pokes",
		Meanwhile:  "hubs poll meanwhile",
		Ended:      "subscribing again",
		MinBackoff: feedMinBackoff, MaxBackoff: feedMaxBackoff, Logger: f.log,
		// Pokes published while no subscription was active are lost.
		Up: f.pokeAll,
		Message: func(m broker.Message) {
			var p feedPoke
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.Ref == "" || p.Node == f.node {
				return
			}
			for _, c := range p.Collections {
				f.pokeLocal(p.Ref, c)
			}
		},
	})
}

func (f *Feed) purgeLoop(ctx context.Context) {
	for {
		if err := f.Purge(ctx); err != nil && ctx.Err() == nil {
			f.log.WarnContext(ctx, "realtime: purging old changes failed; retrying later", "error", err)
		}
		if !broker.Sleep(ctx, f.purgeInt) {
			return
		}
	}
}

// Subscribe implements ChangeFeed. It checks p synchronously, then
// delivers to sink from a goroutine the feed owns. ctx bounds the
// subscription's life: when it ends, so does the subscription, with
// Closed(ctx's error). Close may be called from within a Sink method; a
// Sink call already under way on another goroutine may finish after Close
// returns, but none starts after.
func (f *Feed) Subscribe(ctx context.Context, p SubscribeParams, sink Sink) (Subscription, error) {
	if sink == nil {
		return nil, errors.New("realtime: Subscribe needs a Sink")
	}
	id := p.Identity
	c, err := f.colls.Get(ctx, id, p.Collection)
	var ie *schema.InputError
	switch {
	case errors.As(err, &ie):
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("collection: %s", ie.Reason))
	case errors.Is(err, schema.ErrNotFound):
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("collection %q not found", p.Collection))
	case err != nil:
		return nil, fmt.Errorf("realtime: load collection %q: %w", p.Collection, err)
	}
	var prog *filter.Program
	if strings.TrimSpace(p.Filter) != "" {
		env, err := filter.NewEnv(c)
		if err != nil {
			return nil, fmt.Errorf("realtime: filter environment: %w", err)
		}
		if prog, err = env.Program(p.Filter); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("filter: %w", err))
		}
	}
	if id.Role != tenantdb.RoleService {
		if !c.Rules.Any() {
			return nil, connect.NewError(connect.CodePermissionDenied, rules.ErrNotSet)
		}
		if c.Rules.View == nil {
			return nil, connect.NewError(connect.CodePermissionDenied,
				fmt.Errorf("collection %q has no view rule, so only a secret key can watch its changes", c.Name))
		}
	}
	var cursor int64 = -1
	if p.Cursor != "" {
		if p.Snapshot {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("cursor: a snapshot starts at the current records; give either snapshot or cursor, not both"))
		}
		n, err := strconv.ParseInt(p.Cursor, 10, 64)
		if err != nil || n < 0 {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("cursor: want a cursor from a change of this collection (a whole number), got %q", p.Cursor))
		}
		cursor = n
	}
	if err := f.ensureCapture(ctx, id.TenantRef); err != nil {
		return nil, err
	}
	head, purged, err := f.readHead(ctx, id.TenantRef, c.Name)
	if err != nil {
		return nil, err
	}
	if cursor > head {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("cursor: %d is ahead of collection %q's latest change (%d); use a cursor this collection gave", cursor, c.Name, head))
	}
	s := newFeedSub(f, id, c.Name, prog, sink)
	s.filterSrc = p.Filter
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, connect.NewError(connect.CodeUnavailable, ErrFeedClosed)
	}
	f.wg.Add(1)
	f.mu.Unlock()
	s.ctx, s.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { s.cancel(context.Cause(ctx)) })
	stopFeed := context.AfterFunc(f.ctx, func() { s.cancel(ErrFeedClosed) })
	go func() {
		defer f.wg.Done()
		defer stop()
		defer stopFeed()
		s.run(c, cursor, head, purged, p.Snapshot)
	}()
	return s, nil
}

// ensureCapture makes sure tenant ref has a change log (tenants whose last
// schema change predates change capture get it now), once per node.
func (f *Feed) ensureCapture(ctx context.Context, ref string) error {
	if _, ok := f.ensured.Load(ref); ok {
		return nil
	}
	if err := f.colls.EnsureCapture(ctx, ref); err != nil {
		return fmt.Errorf("realtime: change log of tenant %s: %w", ref, err)
	}
	f.ensured.Store(ref, struct{}{})
	return nil
}

// acquireHub returns the hub of (ref, coll), made (starting after
// position start) when there is none, and counts the caller as its user
// until releaseHub.
func (f *Feed) acquireHub(ref, coll string, start int64) *changeHub {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := hubKey{ref, coll}
	h := f.hubs[k]
	if h == nil {
		h = newChangeHub(f, ref, coll, start)
		f.hubs[k] = h
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			h.run()
		}()
	}
	h.users++
	return h
}

// releaseHub ends one use of h; the last stops it.
func (f *Feed) releaseHub(h *changeHub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h.users--
	if h.users == 0 {
		delete(f.hubs, hubKey{h.ref, h.coll})
		h.cancel()
	}
}
