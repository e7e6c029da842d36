package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
)

// Channel rules. Who may join a channel and send on it:
//
//   - the service role (a secret key without a user token) may use any
//     channel;
//   - "public:…" channels: anyone with the project's key, signed in or not;
//   - "authenticated:…" channels: any signed-in user of the project;
//   - "user:<uid>" and "user:<uid>:…" channels: only the user whose id is
//     <uid> (a private inbox, or one user's devices);
//   - any other name: the project's channel rule with the longest prefix
//     of the name (ChannelRules), and with none the service role only.
const (
	PrefixPublic        = "public:"
	PrefixAuthenticated = "authenticated:"
	PrefixUser          = "user:"
)

type action string

const (
	actionJoin action = "join"
	actionSend action = "send"
)

// channelAllowed returns nil when id may do act on channel name, else a
// PermissionDenied refusal that says which channels it may use. pol is the
// project's rule for name (nil: none, or a fixed prefix).
func channelAllowed(id tenantdb.Identity, name string, act action, pol *channelPolicy) error {
	if id.Role == tenantdb.RoleService {
		return nil
	}
	switch {
	case strings.HasPrefix(name, PrefixPublic):
		return nil
	case strings.HasPrefix(name, PrefixAuthenticated):
		if id.UserID != "" {
			return nil
		}
		return refuse(connect.CodePermissionDenied, fmt.Sprintf("%s: channels authenticated:… need a signed-in user", act))
	case strings.HasPrefix(name, PrefixUser):
		rest := strings.TrimPrefix(name, PrefixUser)
		uid, _, _ := strings.Cut(rest, ":")
		if id.UserID != "" && uid == id.UserID {
			return nil
		}
		return refuse(connect.CodePermissionDenied, fmt.Sprintf("%s: channel %s belongs to another user: user:<uid> channels are for the user <uid> alone", act, name))
	}
	if pol != nil {
		return pol.allows(id, name, act)
	}
	return refuse(connect.CodePermissionDenied, fmt.Sprintf("%s: only the project's secret key may use channel %s: no channel rule of the project covers it; apps use public:…, authenticated:… or user:<uid>… channels, or channels a rule allows", act, name))
}

// busChannel is the broker channel of a tenant's channel.
func busChannel(ref, name string) string { return "realtime:ch:" + ref + ":" + name }

// busMsg is what nodes publish on a channel's broker channel.
type busMsg struct {
	// K is the kind: "broadcast", "join", "leave", "state" (a member's new
	// state), "sync" (a node's full member list) or "hello" (a node asks
	// the others for their members).
	K       string           `json:"k"`
	Node    string           `json:"node"`
	From    string           `json:"from,omitempty"`
	Event   string           `json:"event,omitempty"`
	Payload json.RawMessage  `json:"payload,omitempty"`
	Members []PresenceMember `json:"members,omitempty"`
}

// hub keeps the channels joined on this node: their local members, the
// presence members of other nodes, and one broker subscription each.
type channelHub struct {
	b       broker.Broker
	node    string
	refresh time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	chans map[string]*channel
}

// channel is one channel joined on this node.
type channel struct {
	ref, name, key string
	// members are this node's connections in the channel.
	members map[*conn]*localMember
	// remote are other nodes' presence members, by node and key.
	remote map[string]map[string]remoteMember
	stop   context.CancelFunc
}

type localMember struct {
	presence bool
	m        PresenceMember
}

type remoteMember struct {
	m    PresenceMember
	seen time.Time
}

func newChannelHub(b broker.Broker, refresh, timeout time.Duration, log *slog.Logger) *channelHub {
	return &channelHub{b: b, node: newConnID(), refresh: refresh, timeout: timeout, log: log, chans: map[string]*channel{}}
}

// join adds c to channel name of its tenant; with presence, as a presence
// member with that state. first is called with the presence members known
// now, before any other frame of the channel can reach c.
func (h *channelHub) join(c *conn, name string, userID string, presence json.RawMessage, first func([]PresenceMember)) error {
	key := busChannel(c.ref, name)
	h.mu.Lock()
	ch := h.chans[key]
	fresh := ch == nil
	if fresh {
		ctx, stop := context.WithCancel(context.Background())
		sub, err := h.b.Subscribe(ctx, key)
		if err != nil {
			h.mu.Unlock()
			stop()
			return fmt.Errorf("subscribe to channel: %w", err)
		}
		ch = &channel{ref: c.ref, name: name, key: key, members: map[*conn]*localMember{}, remote: map[string]map[string]remoteMember{}, stop: stop}
		h.chans[key] = ch
		go h.loop(ctx, ch, sub)
	}
	lm := &localMember{presence: presence != nil, m: PresenceMember{Key: c.id, UserID: userID, State: presence}}
	ch.members[c] = lm
	first(ch.presence())
	var others []*conn
	if lm.presence {
		others = ch.others(c)
	}
	h.mu.Unlock()
	if fresh {
		h.publish(key, busMsg{K: "hello", Node: h.node})
	}
	if lm.presence {
		h.localDiff(name, others, []PresenceMember{lm.m}, nil)
		h.publish(key, busMsg{K: "join", Node: h.node, Members: []PresenceMember{lm.m}})
	}
	return nil
}

// leave removes c from channel name; its presence leaves with it.
func (h *channelHub) leave(c *conn, name string) {
	key := busChannel(c.ref, name)
	h.mu.Lock()
	ch := h.chans[key]
	if ch == nil {
		h.mu.Unlock()
		return
	}
	lm, ok := ch.members[c]
	delete(ch.members, c)
	others := ch.others(nil)
	if len(ch.members) == 0 {
		delete(h.chans, key)
		ch.stop()
	}
	h.mu.Unlock()
	if ok && lm.presence {
		h.localDiff(name, others, nil, []PresenceMember{lm.m})
		h.publish(key, busMsg{K: "leave", Node: h.node, Members: []PresenceMember{lm.m}})
	}
}

// setState makes c a presence member of name with state.
func (h *channelHub) setState(c *conn, name string, state json.RawMessage) error {
	key := busChannel(c.ref, name)
	h.mu.Lock()
	ch := h.chans[key]
	var lm *localMember
	if ch != nil {
		lm = ch.members[c]
	}
	if lm == nil {
		h.mu.Unlock()
		return refuse(connect.CodeFailedPrecondition, "presence: join the channel first")
	}
	lm.presence = true
	lm.m.State = state
	m := lm.m
	others := ch.others(c)
	h.mu.Unlock()
	h.localDiff(name, others, []PresenceMember{m}, nil)
	h.publish(key, busMsg{K: "state", Node: h.node, Members: []PresenceMember{m}})
	return nil
}

// broadcast sends a message to every other member of the channel, on
// every node.
func (h *channelHub) broadcast(ctx context.Context, c *conn, name, event string, payload json.RawMessage) error {
	b, err := json.Marshal(busMsg{K: "broadcast", Node: h.node, From: c.id, Event: event, Payload: payload})
	if err != nil {
		return fmt.Errorf("encode broadcast: %w", err)
	}
	if err := h.b.Publish(ctx, busChannel(c.ref, name), b); err != nil {
		return fmt.Errorf("publish broadcast: %w", err)
	}
	return nil
}

func (h *channelHub) publish(key string, m busMsg) {
	b, err := json.Marshal(m)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = h.b.Publish(ctx, key, b)
		cancel()
	}
	if err != nil {
		h.log.Warn("realtime: publish presence", "kind", m.K, "err", err.Error())
	}
}

// loop delivers the channel's broker messages until ctx ends (the last
// local member left), subscribing again when the broker drops the
// subscription.
func (h *channelHub) loop(ctx context.Context, ch *channel, sub broker.Subscription) {
	for {
		for msg := range sub.C() {
			var m busMsg
			if err := json.Unmarshal(msg.Payload, &m); err != nil {
				continue
			}
			h.dispatch(ch, &m)
		}
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("realtime: channel subscription lost; subscribing again", "err", fmt.Sprint(sub.Err()))
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			var err error
			if sub, err = h.b.Subscribe(ctx, ch.key); err == nil {
				break
			}
		}
		// Members may have come and gone meanwhile: ask for them again.
		h.publish(ch.key, busMsg{K: "hello", Node: h.node})
		h.sync(ch)
	}
}

func (h *channelHub) dispatch(ch *channel, m *busMsg) {
	if m.K == "broadcast" {
		frame := marshal(broadcastFrame{Type: FrameBroadcast, Channel: ch.name, Event: m.Event, Payload: m.Payload, From: m.From})
		h.mu.Lock()
		var to []*conn
		for c := range ch.members {
			if c.id != m.From {
				to = append(to, c)
			}
		}
		h.mu.Unlock()
		for _, c := range to {
			c.send(frame)
		}
		return
	}
	if m.Node == h.node {
		// This node's own presence was delivered locally.
		return
	}
	if m.K == "hello" {
		h.sync(ch)
		return
	}
	h.remote(ch, m)
}

// others are the channel's local connections but except. h.mu is held.
func (ch *channel) others(except *conn) []*conn {
	out := make([]*conn, 0, len(ch.members))
	for c := range ch.members {
		if c != except {
			out = append(out, c)
		}
	}
	return out
}

func (c *conn) join(f *inFrame) error {
	if !validChannel.MatchString(f.Channel) {
		return refuse(connect.CodeInvalidArgument, fmt.Sprintf("join: channel must be 1 to %d characters of A-Z a-z 0-9 : _ . -", MaxChannelLen))
	}
	if f.ID != "" && !validID.MatchString(f.ID) {
		return refuse(connect.CodeInvalidArgument, fmt.Sprintf("join: id must be 1 to %d characters of A-Z a-z 0-9 : _ . -", MaxIDLen))
	}
	if string(f.Presence) == "null" {
		f.Presence = nil
	}
	if f.Presence != nil {
		if err := checkObject(f.Presence, MaxPresenceBytes, "join: presence"); err != nil {
			return err
		}
	}
	// The project's rule is read once, here, and kept with the
	// membership for its sends, presence and new tokens.
	pol, err := c.s.cfg.ChannelRules.policy(c.ctx, c.ref, f.Channel)
	if err != nil {
		c.s.log.ErrorContext(c.ctx, "realtime: channel rule", "tenant", c.ref, "channel", f.Channel, "error", err)
		return refuse(connect.CodeUnavailable, "join: the channel rules cannot be read now; try again")
	}
	id, admitted, err := c.admitJoin(f, pol)
	if err != nil || !admitted {
		return err
	}
	// joined and presence_state go first, ahead of what the hub sends.
	err = c.s.hub.join(c, f.Channel, id.UserID, f.Presence, func(state []PresenceMember) {
		c.send(marshal(idFrame{Type: FrameJoined, Channel: f.Channel, ID: f.ID}))
		c.send(marshal(presenceStateFrame{Type: FramePresenceState, Channel: f.Channel, Members: state}))
	})
	if err != nil {
		c.mu.Lock()
		delete(c.joins, f.Channel)
		c.mu.Unlock()
		return err
	}
	return nil
}

// admitJoin checks, under c.mu, that the session may join f's channel
// under pol (and send, with a presence state) and that the connection has
// room for it, and records the membership. It returns the identity that
// joined; admitted is false, without an error, when the connection has
// ended.
func (c *conn) admitJoin(f *inFrame, pol *channelPolicy) (id tenantdb.Identity, admitted bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id = c.sess.id
	if err := channelAllowed(id, f.Channel, actionJoin, pol); err != nil {
		return id, false, err
	}
	if f.Presence != nil {
		if err := channelAllowed(id, f.Channel, actionSend, pol); err != nil {
			return id, false, err
		}
	}
	if _, dup := c.joins[f.Channel]; dup {
		return id, false, refuse(connect.CodeAlreadyExists, fmt.Sprintf("join: already joined %s", f.Channel))
	}
	if len(c.joins) >= c.lim.channels {
		return id, false, refuse(connect.CodeResourceExhausted, fmt.Sprintf("too many channels joined on this connection (limit %d)", c.lim.channels))
	}
	if c.ended {
		return id, false, nil
	}
	c.joins[f.Channel] = &joinEntry{id: f.ID, gen: c.gen, presence: f.Presence != nil, pol: pol}
	return id, true, nil
}

func (c *conn) leave(f *inFrame) error {
	c.mu.Lock()
	_, ok := c.joins[f.Channel]
	delete(c.joins, f.Channel)
	c.mu.Unlock()
	if !ok {
		return refuse(connect.CodeNotFound, fmt.Sprintf("leave: channel %q is not joined on this connection", f.Channel))
	}
	c.s.hub.leave(c, f.Channel)
	c.send(marshal(idFrame{Type: FrameLeft, Channel: f.Channel}))
	return nil
}

func (c *conn) broadcast(f *inFrame) error {
	c.mu.Lock()
	j, joined := c.joins[f.Channel]
	id := c.sess.id
	c.mu.Unlock()
	if !joined {
		return refuse(connect.CodeFailedPrecondition, fmt.Sprintf("broadcast: join channel %q first", f.Channel))
	}
	if err := channelAllowed(id, f.Channel, actionSend, j.pol); err != nil {
		return err
	}
	if f.Event == "" || len(f.Event) > MaxEventLen {
		return refuse(connect.CodeInvalidArgument, fmt.Sprintf("broadcast: event must be 1 to %d bytes", MaxEventLen))
	}
	if err := c.s.hub.broadcast(c.ctx, c, f.Channel, f.Event, f.Payload); err != nil {
		return err
	}
	if f.Ack != "" {
		c.send(marshal(idFrame{Type: FrameAck, Ref: f.Ack}))
	}
	return nil
}

func (c *conn) presence(f *inFrame) error {
	if err := checkObject(f.State, MaxPresenceBytes, "presence: state"); err != nil {
		return err
	}
	c.mu.Lock()
	j, joined := c.joins[f.Channel]
	var denied error
	if joined {
		if denied = channelAllowed(c.sess.id, f.Channel, actionSend, j.pol); denied == nil {
			j.presence = true
		}
	}
	c.mu.Unlock()
	if !joined {
		return refuse(connect.CodeFailedPrecondition, fmt.Sprintf("presence: join channel %q first", f.Channel))
	}
	if denied != nil {
		return denied
	}
	return c.s.hub.setState(c, f.Channel, f.State)
}
