package sovereign

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Channel limits the SDK keeps.
const (
	// channelQueue is how many received broadcast messages a [Channel]
	// holds for Receive. A channel whose messages are not received faster
	// than they come ends with ResourceExhausted rather than holding up the
	// connection or dropping messages unseen.
	channelQueue = 1024
	// MaxPresenceBytes is the largest presence state, in bytes of JSON.
	MaxPresenceBytes = 1024
)

// ChannelOptions say how to join a channel.
type ChannelOptions struct {
	// Presence makes the connection a presence member of the channel with
	// this state (any value that encodes as a JSON object of at most
	// [MaxPresenceBytes]); nil joins without presence.
	Presence any
}

// Message is a broadcast message received on a [Channel].
type Message struct {
	// Event names the message's kind, as the sender chose it.
	Event string `json:"event"`
	// Payload is the message's JSON payload; decode it with
	// [Message.Decode].
	Payload json.RawMessage `json:"payload,omitempty"`
	// From is the connection id of the sender.
	From string `json:"from"`
}

// Decode decodes the message's payload into v.
func (m Message) Decode(v any) error {
	if err := json.Unmarshal(m.Payload, v); err != nil {
		return fmt.Errorf("decode message %q: %w", m.Event, err)
	}
	return nil
}

// PresenceMember is a connection present in a channel.
type PresenceMember struct {
	// Key is the member's connection id.
	Key string `json:"key"`
	// UserID is the end user the connection acts for; "" for an API key.
	UserID string `json:"user_id,omitempty"`
	// State is the member's presence state, as it last set it.
	State json.RawMessage `json:"state,omitempty"`
}

// Channel is a joined broadcast channel: clients send each other messages
// through it (across the data plane's nodes), and see who is present. Get
// one with [Client.Channel] or [Realtime.Channel]; end it with
// [Channel.Leave]. It is safe for concurrent use.
//
// When the connection drops, the channel joins again by itself on the next
// one, with its last presence state; broadcast messages sent meanwhile are
// not delivered (broadcast is not stored), and the presence list is
// replaced by the server's.
type Channel struct {
	rt   *Realtime
	name string

	stop     chan struct{} // closed by Leave
	stopOnce sync.Once
	msgs     chan channelItem
	joinRes  chan error // the answer to the pending join
	leftRes  chan struct{}
	loopDone chan struct{}

	mu       sync.Mutex // guards the fields below
	conn     *rtConn
	curJoin  string
	presence json.RawMessage
	members  []PresenceMember
	pending  []string // refs of sends waiting for an answer, oldest first
	err      error    // why the channel ended
	dead     chan struct{}
	deadOnce sync.Once
}

type channelItem struct {
	msg Message
	err error
}

// Channel joins the channel name on a connection of its own (use a
// [Realtime] to share one connection). The channel's join rule decides
// whether the caller (the API key, or the signed-in end user) may join;
// errors are *[Error] values (PermissionDenied, InvalidArgument for a bad
// name or presence state, ResourceExhausted…).
func (c *Client) Channel(ctx context.Context, name string, opts ChannelOptions) (*Channel, error) {
	return c.Realtime().Channel(ctx, name, opts)
}

// Channel joins the channel name on the shared connection; see
// [Client.Channel].
func (rt *Realtime) Channel(ctx context.Context, name string, opts ChannelOptions) (*Channel, error) {
	if name == "" {
		return nil, invalidArgument("channel: empty name")
	}
	ch := &Channel{
		rt: rt, name: name, stop: make(chan struct{}), msgs: make(chan channelItem, channelQueue),
		joinRes: make(chan error, 1), leftRes: make(chan struct{}, 1), dead: make(chan struct{}), loopDone: make(chan struct{}),
	}
	if opts.Presence != nil {
		b, err := presenceJSON(opts.Presence)
		if err != nil {
			return nil, err
		}
		ch.presence = b
	}
	rt.hold()
	conn, err := ch.join(ctx)
	if err != nil {
		rt.release()
		return nil, err
	}
	go ch.keep(conn)
	return ch, nil
}

// Subscribe starts a subscription on the shared connection; see
// [Client.Subscribe].
func (rt *Realtime) Subscribe(ctx context.Context, collection string, opts SubscribeOptions) *Subscription {
	return &Subscription{rt: rt, ctx: ctx, collection: collection, opts: opts}
}

func presenceJSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, invalidArgument("channel: presence state: %v", err)
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, invalidArgument("channel: presence state must be a JSON object")
	}
	if len(b) > MaxPresenceBytes {
		return nil, invalidArgument("channel: presence state is %d bytes of JSON, over the limit of %d", len(b), MaxPresenceBytes)
	}
	return b, nil
}

// Name returns the channel's name.
func (ch *Channel) Name() string { return ch.name }

func (ch *Channel) joinID() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.curJoin
}

// join joins on the live connection and waits for the answer.
func (ch *Channel) join(ctx context.Context) (*rtConn, error) {
	for {
		conn, err := ch.rt.acquire(ctx)
		if err != nil {
			return nil, err
		}
		id := ch.rt.newID("j")
		ch.mu.Lock()
		ch.conn, ch.curJoin = conn, id
		presence := ch.presence
		ch.mu.Unlock()
		select { // a stale answer of an earlier join
		case <-ch.joinRes:
		default:
		}
		conn.mu.Lock()
		conn.chans[ch.name] = ch
		conn.mu.Unlock()
		if err := conn.send(ctx, clientFrame{Type: "join", ID: id, Channel: ch.name, Presence: presence}); err != nil {
			continue
		}
		select {
		case err := <-ch.joinRes:
			if err != nil {
				conn.mu.Lock()
				delete(conn.chans, ch.name)
				conn.mu.Unlock()
				return nil, err
			}
			return conn, nil
		case <-conn.done:
			if err := conn.fatal(); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// keep joins again after each lost connection, until Leave.
func (ch *Channel) keep(conn *rtConn) {
	defer close(ch.loopDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ch.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-ch.stop:
			return
		case <-conn.done:
		}
		if err := conn.fatal(); err != nil {
			ch.fail(err)
			return
		}
		next, err := ch.join(ctx)
		if err != nil {
			if ctx.Err() == nil {
				ch.fail(err)
			}
			return
		}
		conn = next
	}
}

// fail ends the channel with err: Receive returns it from then on.
func (ch *Channel) fail(err error) {
	ch.deadOnce.Do(func() {
		ch.mu.Lock()
		ch.err = err
		ch.mu.Unlock()
		close(ch.dead)
	})
}

// connLost is called by the connection's reader when it ends.
func (ch *Channel) connLost(conn *rtConn) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.conn == conn {
		ch.members = nil
	}
}

// handle takes one frame routed to the channel.
func (ch *Channel) handle(conn *rtConn, f serverFrame) {
	switch f.Type {
	case "left":
		select {
		case ch.leftRes <- struct{}{}:
		default:
		}
	case "presence_state":
		// It follows joined, which it completes: the channel is joined with
		// its presence list known.
		ch.mu.Lock()
		ch.members = slices.Clone(f.Members)
		ch.mu.Unlock()
		select {
		case ch.joinRes <- nil:
		default:
		}
	case "presence_diff":
		ch.mu.Lock()
		for _, l := range f.Leaves {
			ch.members = slices.DeleteFunc(ch.members, func(m PresenceMember) bool { return m.Key == l.Key })
		}
		for _, j := range f.Joins {
			ch.members = slices.DeleteFunc(ch.members, func(m PresenceMember) bool { return m.Key == j.Key })
			ch.members = append(ch.members, j)
		}
		ch.mu.Unlock()
	case "broadcast":
		select {
		case ch.msgs <- channelItem{msg: Message{Event: f.Event, Payload: f.Payload, From: f.From}}:
		default:
			ch.fail(&Error{Code: CodeResourceExhausted, Message: fmt.Sprintf(
				"channel %s: %d messages were not received: call Receive faster", ch.name, channelQueue)})
		}
	case "error":
		err := &Error{Code: parseCode(f.Code), Message: f.Message}
		ch.mu.Lock()
		joining := f.ID != "" && f.ID == ch.curJoin
		var ref string
		if !joining && len(ch.pending) > 0 {
			ref, ch.pending = ch.pending[0], ch.pending[1:]
		}
		ch.mu.Unlock()
		switch {
		case joining:
			select {
			case ch.joinRes <- err:
			default:
			}
		case ref != "":
			conn.mu.Lock()
			w, ok := conn.acks[ref]
			delete(conn.acks, ref)
			conn.mu.Unlock()
			if ok {
				w <- err
			}
		default:
			select {
			case ch.msgs <- channelItem{err: err}:
			default:
			}
		}
	}
}

// Presence returns the channel's presence members, as last told by the
// server (empty while reconnecting).
func (ch *Channel) Presence() []PresenceMember {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return slices.Clone(ch.members)
}

// Receive returns the next broadcast message of another member. An error
// that refused one of this client's frames without an answer of its own
// (a presence update the server refused) comes as an *[Error] without
// ending the channel; after the channel ended ([Channel.Leave], a revoked
// key, a queue of unreceived messages over its limit), Receive returns why.
func (ch *Channel) Receive(ctx context.Context) (Message, error) {
	select {
	case it := <-ch.msgs:
		return it.msg, it.err
	case <-ch.dead:
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return Message{}, ch.err
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

func (ch *Channel) live() (*rtConn, error) {
	select {
	case <-ch.dead:
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return nil, ch.err
	default:
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.conn, nil
}

// Send broadcasts a message to every other member of the channel, on every
// node, and waits until the server accepted it. payload is any value that
// encodes as JSON (nil for none), within the project's payload limit.
// Errors: PermissionDenied (the channel's send rule), ResourceExhausted
// (messages per second over the limit), InvalidArgument (too big),
// Unavailable (the connection dropped: the message may or may not have been
// delivered).
func (ch *Channel) Send(ctx context.Context, event string, payload any) error {
	if event == "" {
		return invalidArgument("channel %s: send: empty event name", ch.name)
	}
	var raw json.RawMessage
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return invalidArgument("channel %s: send %s: payload: %v", ch.name, event, err)
		}
		raw = b
	}
	conn, err := ch.live()
	if err != nil {
		return err
	}
	if conn.payloadBytes > 0 && len(raw) > conn.payloadBytes {
		return invalidArgument("channel %s: send %s: payload is %d bytes, over the project's limit of %d", ch.name, event, len(raw), conn.payloadBytes)
	}
	ref := ch.rt.newID("a")
	w := make(chan error, 1)
	conn.mu.Lock()
	conn.acks[ref] = w
	conn.mu.Unlock()
	ch.mu.Lock()
	ch.pending = append(ch.pending, ref)
	ch.mu.Unlock()
	defer func() {
		conn.mu.Lock()
		delete(conn.acks, ref)
		conn.mu.Unlock()
		ch.mu.Lock()
		ch.pending = slices.DeleteFunc(ch.pending, func(r string) bool { return r == ref })
		ch.mu.Unlock()
	}()
	if err := conn.send(ctx, clientFrame{Type: "broadcast", Channel: ch.name, Event: event, Payload: raw, Ack: ref}); err != nil {
		return err
	}
	select {
	case err := <-w:
		return err
	case <-conn.done:
		return &Error{Code: CodeUnavailable, Message: fmt.Sprintf("channel %s: connection lost before the server acknowledged %s: it may not have been delivered", ch.name, event)}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Track sets the connection's presence state in the channel (making it a
// member if it was not), and keeps it for the joins after a reconnection.
// state encodes as a JSON object of at most [MaxPresenceBytes].
func (ch *Channel) Track(ctx context.Context, state any) error {
	b, err := presenceJSON(state)
	if err != nil {
		return err
	}
	conn, err := ch.live()
	if err != nil {
		return err
	}
	ch.mu.Lock()
	ch.presence = b
	ch.mu.Unlock()
	return conn.send(ctx, clientFrame{Type: "presence", Channel: ch.name, State: b})
}

// Leave leaves the channel and waits (until ctx ends) for the server to
// confirm; the channel's connection closes when nothing else uses it.
// Calling it again does nothing.
func (ch *Channel) Leave(ctx context.Context) error {
	first := false
	ch.stopOnce.Do(func() { first = true; close(ch.stop) })
	if !first {
		return nil
	}
	<-ch.loopDone
	defer ch.rt.release()
	defer ch.fail(&Error{Code: CodeFailedPrecondition, Message: fmt.Sprintf("channel %s: left", ch.name)})
	conn, err := ch.live()
	if err != nil || conn == nil || conn.isDone() {
		return nil
	}
	defer func() {
		conn.mu.Lock()
		if conn.chans[ch.name] == ch {
			delete(conn.chans, ch.name)
		}
		conn.mu.Unlock()
	}()
	if err := conn.send(ctx, clientFrame{Type: "leave", Channel: ch.name}); err != nil {
		return nil // the connection is gone, and the membership with it
	}
	select {
	case <-ch.leftRes:
		return nil
	case <-conn.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
