package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valkey-io/valkey-go"
)

const (
	// DefaultDialTimeout is ValkeyConfig.DialTimeout when it is zero.
	DefaultDialTimeout = 5 * time.Second

	// PingTimeout bounds Ping when its context allows longer.
	PingTimeout = time.Second

	// unsubscribeTimeout bounds the UNSUBSCRIBE sent when a channel loses its
	// last local subscriber; on failure it is retried at the next change.
	unsubscribeTimeout = 5 * time.Second
)

// ValkeyConfig configures NewValkey.
type ValkeyConfig struct {
	// URL names the server: redis://[user:password@]host:port[/db], or the
	// rediss:// (TLS), valkey:// and valkeys:// schemes, with the query
	// options valkey-go's ParseURL understands. Required. Pub/sub channels
	// are not scoped by the db number; use Prefix to keep tenants and tests
	// apart.
	URL string

	// Prefix is prepended to every channel name on the server, for tenant and
	// test isolation; brokers with different prefixes never see each other's
	// messages. Message.Channel never includes it. Empty means none.
	Prefix string

	// DialTimeout bounds connecting (TCP, TLS and the handshake) to the
	// server, for NewValkey and for every reconnection. Zero means the URL's
	// dial_timeout, or DefaultDialTimeout (5s) without one.
	DialTimeout time.Duration

	// Logger receives warnings about the pub/sub connection. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// valkeyBroker fans messages out through a Valkey server.
//
// Publish and Ping go through valkey-go's shared, auto-pipelined client,
// which reconnects by itself on the next command after a failure. All
// subscriptions of the broker share one dedicated pub/sub connection: the
// server's messages are handed to the local hub, which fans them out to the
// subscriptions. A channel is SUBSCRIBEd when its first local subscription
// needs it and UNSUBSCRIBEd (by the janitor goroutine) after its last one
// ends. When the pub/sub connection breaks, every subscription ends with
// ErrDisconnected and the next Subscribe opens a new connection.
type valkeyBroker struct {
	client valkey.Client
	prefix string
	addr   string
	log    *slog.Logger
	hub    *hub

	dirty     chan struct{} // wakes the janitor; capacity 1
	stop      context.CancelFunc
	stopped   context.Context // done once Close begins
	janitorWG sync.WaitGroup

	// mu serialises changes to the server-side subscription set: Subscribe,
	// the janitor and Close hold it across their commands on ps.
	mu         sync.Mutex
	closed     bool
	ps         *pubsubConn         // nil until needed and after it broke
	subscribed map[string]struct{} // channels (unprefixed) possibly SUBSCRIBEd on ps
}

// pubsubConn is a dedicated connection in pub/sub mode.
type pubsubConn struct {
	dc     valkey.DedicatedClient // Close closes the connection and releases it
	broken <-chan error           // yields or closes when the connection is gone
}

// NewValkey connects to the Valkey (or Redis 7) server at cfg.URL and returns
// a Broker publishing through it. It fails, with an error naming the server's
// address but never its password, when the server does not answer within
// DialTimeout. ctx is checked before connecting; the connection attempt
// itself is bounded by DialTimeout, not by ctx.
//
// After that the broker survives server restarts: Ping and Publish fail while
// the server is away and work again once it is back, without a new Broker.
func NewValkey(ctx context.Context, cfg ValkeyConfig) (Broker, error) {
	opt, addr, err := parseValkeyURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	opt.Dialer.Timeout = cmp.Or(cfg.DialTimeout, opt.Dialer.Timeout, DefaultDialTimeout)
	// The broker never uses client-side caching; not asking for it keeps
	// servers without CLIENT TRACKING (Redis 6 with RESP2, look-alikes) usable.
	opt.DisableCache = true
	opt.ClientName = cmp.Or(opt.ClientName, "sovereign-broker")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to valkey at %s: %w", addr, err)
	}
	client, err := valkey.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connect to valkey at %s: %w", addr, err)
	}
	b := &valkeyBroker{
		client:     client,
		prefix:     cfg.Prefix,
		addr:       addr,
		log:        cmp.Or(cfg.Logger, slog.Default()),
		dirty:      make(chan struct{}, 1),
		subscribed: make(map[string]struct{}),
	}
	b.hub = newHub(b.wake)
	b.stopped, b.stop = context.WithCancel(context.Background())
	b.janitorWG.Add(1)
	go b.janitor()
	return b, nil
}

// parseValkeyURL parses raw with valkey-go and returns the server address(es)
// for messages. Errors never quote the URL, which may hold a password.
func parseValkeyURL(raw string) (valkey.ClientOption, string, error) {
	if raw == "" {
		return valkey.ClientOption{}, "", errors.New("valkey: URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return valkey.ClientOption{}, "", fmt.Errorf("valkey: invalid URL: %w", err)
	}
	if u.Scheme == "unix" {
		return valkey.ClientOption{}, "", fmt.Errorf("valkey: URL scheme %q is not supported", u.Scheme)
	}
	opt, err := valkey.ParseURL(raw)
	if err != nil {
		// valkey-go's messages name the scheme, db or query values, not the
		// user information.
		return valkey.ClientOption{}, "", fmt.Errorf("valkey: invalid URL %s: %w", u.Redacted(), err)
	}
	return opt, strings.Join(opt.InitAddress, ","), nil
}

func (b *valkeyBroker) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if b.stopped.Err() != nil {
		return ErrClosed
	}
	cmd := b.client.B().Publish().Channel(b.prefix + channel).Message(string(payload)).Build()
	if err := b.client.Do(ctx, cmd).Error(); err != nil {
		return b.closedOr(fmt.Errorf("publish to %q via valkey at %s: %w", channel, b.addr, err))
	}
	return nil
}

func (b *valkeyBroker) Subscribe(ctx context.Context, channels ...string) (Subscription, error) {
	chans, err := channelSet(channels)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	ps, err := b.pubsubLocked()
	if err != nil {
		return nil, fmt.Errorf("subscribe via valkey at %s: %w", b.addr, err)
	}
	// Register locally first, so nothing the server sends after confirming
	// the SUBSCRIBE can miss the subscription.
	s, err := b.hub.subscribe(chans)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, c := range chans {
		if _, ok := b.subscribed[c]; !ok {
			missing = append(missing, b.prefix+c)
			// Even a failed SUBSCRIBE may have reached the server; the
			// janitor unsubscribes what nobody needs.
			b.subscribed[c] = struct{}{}
		}
	}
	if len(missing) > 0 {
		// The reply to the first channel comes after the server subscribed
		// them all, so once Do returns every later PUBLISH reaches us.
		if err := ps.dc.Do(ctx, ps.dc.B().Subscribe().Channel(missing...).Build()).Error(); err != nil {
			b.hub.end(s, err)
			return nil, fmt.Errorf("subscribe via valkey at %s: %w", b.addr, err)
		}
	}
	s.watch(ctx)
	return s, nil
}

// pubsubLocked returns the pub/sub connection, opening it if needed.
func (b *valkeyBroker) pubsubLocked() (*pubsubConn, error) {
	if b.ps != nil {
		return b.ps, nil
	}
	// Dedicate on one node's client works for a single server and for a
	// cluster alike (there PUBLISH reaches subscribers on every node).
	nodes := b.client.Nodes()
	addrs := slices.Sorted(func(yield func(string) bool) {
		for a := range nodes {
			if !yield(a) {
				return
			}
		}
	})
	if len(addrs) == 0 {
		return nil, errors.New("no server known")
	}
	dc, _ := nodes[addrs[0]].Dedicate()
	broken := dc.SetPubSubHooks(valkey.PubSubHooks{
		OnMessage: b.onMessage,
		// A hook for subscription events keeps valkey-go from treating the
		// hooks as empty; the events themselves carry nothing we need.
		OnSubscription: func(valkey.PubSubSubscription) {},
	})
	select {
	case err := <-broken:
		dc.Close()
		return nil, cmp.Or(err, valkey.ErrClosing)
	default:
	}
	b.ps = &pubsubConn{dc: dc, broken: broken}
	clear(b.subscribed)
	b.wake() // the janitor watches the new connection
	return b.ps, nil
}

// onMessage runs on valkey-go's reading goroutine for the pub/sub
// connection; hub delivery never blocks, so the connection keeps draining.
func (b *valkeyBroker) onMessage(m valkey.PubSubMessage) {
	channel, ok := strings.CutPrefix(m.Channel, b.prefix)
	if !ok {
		return
	}
	_ = b.hub.deliver(channel, []byte(m.Message))
}

// wake asks the janitor to look again; it never blocks.
func (b *valkeyBroker) wake() {
	select {
	case b.dirty <- struct{}{}:
	default:
	}
}

// janitor unsubscribes channels nobody needs any more and notices when the
// pub/sub connection breaks. It runs until Close.
func (b *valkeyBroker) janitor() {
	defer b.janitorWG.Done()
	for {
		b.mu.Lock()
		ps := b.ps
		b.mu.Unlock()
		var broken <-chan error
		if ps != nil {
			broken = ps.broken
		}
		select {
		case <-b.stopped.Done():
			return
		case <-b.dirty:
			b.unsubscribeIdle()
		case err := <-broken:
			b.lost(ps, err)
		}
	}
}

// unsubscribeIdle sends UNSUBSCRIBE for the channels that no local
// subscription needs.
func (b *valkeyBroker) unsubscribeIdle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ps == nil || b.closed {
		return
	}
	var idle []string
	for c := range b.subscribed {
		if !b.hub.active(c) {
			idle = append(idle, c)
		}
	}
	if len(idle) == 0 {
		return
	}
	full := make([]string, len(idle))
	for i, c := range idle {
		full[i] = b.prefix + c
	}
	ctx, cancel := context.WithTimeout(b.stopped, unsubscribeTimeout)
	defer cancel()
	if err := b.ps.dc.Do(ctx, b.ps.dc.B().Unsubscribe().Channel(full...).Build()).Error(); err != nil {
		// Messages for these channels are dropped on arrival meanwhile.
		b.log.Warn("broker: valkey unsubscribe failed; will retry", "addr", b.addr, "channels", len(idle), "err", err)
		return
	}
	for _, c := range idle {
		delete(b.subscribed, c)
	}
}

// lost tears down ps after its connection broke, ending every subscription.
func (b *valkeyBroker) lost(ps *pubsubConn, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ps != ps {
		return
	}
	b.ps = nil
	clear(b.subscribed)
	ps.dc.Close()
	cause := ErrDisconnected
	if err != nil {
		cause = fmt.Errorf("%w (valkey at %s): %w", ErrDisconnected, b.addr, err)
	}
	b.log.Warn("broker: valkey pub/sub connection lost; subscriptions ended", "addr", b.addr, "err", err)
	b.hub.endAll(cause, false)
}

func (b *valkeyBroker) Ping(ctx context.Context) error {
	if b.stopped.Err() != nil {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := b.client.Do(ctx, b.client.B().Ping().Build()).Error(); err != nil {
		return b.closedOr(fmt.Errorf("ping valkey at %s: %w", b.addr, err))
	}
	return nil
}

// closedOr returns ErrClosed if the broker was closed meanwhile, else err.
func (b *valkeyBroker) closedOr(err error) error {
	if b.stopped.Err() != nil {
		return ErrClosed
	}
	return err
}

func (b *valkeyBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()

	b.stop()
	b.janitorWG.Wait()

	b.mu.Lock()
	b.hub.endAll(ErrClosed, true)
	if b.ps != nil {
		// Closing rather than returning the connection to the pool skips
		// the UNSUBSCRIBE round trip; the client closes next anyway.
		b.ps.dc.Close()
		b.ps = nil
	}
	b.mu.Unlock()
	b.client.Close()
	return nil
}
