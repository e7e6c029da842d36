package sovereign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
)

// Ops of a [Change]. Insert, update and delete are changes to records; the
// others are events of the subscription itself.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
	// OpSnapshot is one record of the current result set, which a
	// subscription with [SubscribeOptions].Snapshot delivers before its
	// changes. Its Cursor is empty.
	OpSnapshot = "snapshot"
	// OpReady says the subscription is live: the changes after Cursor
	// follow (with a snapshot, the snapshot was read at Cursor). It comes
	// once, at the start, and again after each resync that read a new
	// snapshot; reconnections do not repeat it.
	OpReady = "ready"
	// OpResync says changes may have been missed: the cursor to resume
	// from is older than the platform keeps changes for (24 h by default),
	// or the collection was dropped. With Snapshot, the subscription reads
	// the current records again (OpSnapshot events, then OpReady) and
	// carries on; without, the loop ends after this event: read the
	// records again and subscribe anew.
	OpResync = "resync"
)

// Realtime limits the SDK keeps.
const (
	// realtimeQueue is how many frames of one subscription are held for a
	// loop that has not taken them yet. When a loop falls further behind,
	// the SDK drops what it holds, unsubscribes, and subscribes again from
	// the last cursor the loop took once it catches up: nothing is lost,
	// and the connection is never held up by one slow loop.
	realtimeQueue = 1024
	// realtimeReadLimit is the largest frame the SDK reads (snapshot pages
	// may be larger than a client's payload limit).
	realtimeReadLimit = 32 << 20
	// stableConnection is how long a connection must have lived for its
	// loss to count as a fresh start rather than one more failure in a row
	// (which lengthens the backoff before the next dial).
	stableConnection = 10 * time.Second
)

// Change is one event of a [Subscription]: a change to a record (Op
// [OpInsert], [OpUpdate], [OpDelete]), one record of the initial snapshot
// ([OpSnapshot]), the start of live delivery ([OpReady]), or the notice
// that the subscription must read again ([OpResync]).
type Change struct {
	// Op says what happened; see the Op constants.
	Op string `json:"op"`
	// Collection is the collection the record belongs to.
	Collection string `json:"collection,omitempty"`
	// Cursor is the change's position in the collection's change log, in
	// commit order (a decimal number, as text). Keep the last one to resume
	// later with [SubscribeOptions].Cursor. Empty for OpSnapshot and
	// OpResync.
	Cursor string `json:"cursor,omitempty"`
	// Record is the record as the REST API shows it: after the change, or
	// for a delete as it was. Decode it with [Change.Decode].
	Record json.RawMessage `json:"record,omitempty"`
	// Old is the record before an update, when the collection's view rule
	// lets the subscriber see it; nil otherwise.
	Old json.RawMessage `json:"old,omitempty"`
	// At is when the change was written; zero for the subscription's own
	// events.
	At time.Time `json:"at,omitzero"`
	// Message explains an OpResync.
	Message string `json:"message,omitempty"`
}

// Decode decodes the change's Record into v, e.g. a struct that embeds
// [RecordMeta].
func (c Change) Decode(v any) error {
	if len(c.Record) == 0 {
		return fmt.Errorf("decode change: %s event has no record", c.Op)
	}
	if err := json.Unmarshal(c.Record, v); err != nil {
		return fmt.Errorf("decode change: %w", err)
	}
	return nil
}

// SubscribeOptions say what a subscription delivers.
type SubscribeOptions struct {
	// Filter keeps the changes whose record matches it (for an update:
	// whose new record matches, or whose old one did, so that a view can
	// drop a record that no longer matches). The zero Filter keeps all.
	Filter Filter
	// Cursor resumes after that cursor (from [Change].Cursor or
	// [Subscription.Cursor]); "" starts with the changes committed after
	// the subscription starts. Not with Snapshot.
	Cursor string
	// Snapshot delivers the matching records first (OpSnapshot events),
	// then OpReady, then the changes after them, with nothing lost or
	// doubled in between.
	Snapshot bool
}

// Subscription is a live view of one collection's changes; get one with
// [Client.Subscribe] or [Realtime.Subscribe] and range over [Subscription.All].
//
// It reconnects by itself, with jittered exponential backoff (about 0.25 s
// doubling up to 5 s), and resumes after the last cursor it delivered, so
// that the loop sees every change once and in commit order. The one case
// where records are delivered twice is a snapshot cut short (by a lost
// connection before its OpReady): the snapshot is read again from its
// start.
type Subscription struct {
	rt         *Realtime
	ctx        context.Context
	collection string
	opts       SubscribeOptions

	mu     sync.Mutex
	cursor string
}

// Cursor returns the cursor of the last change (or OpReady) the loop
// received: persist it to resume with [SubscribeOptions].Cursor after a
// restart. "" before the first.
func (s *Subscription) Cursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor
}

func (s *Subscription) setCursor(c string) {
	s.mu.Lock()
	s.cursor = c
	s.mu.Unlock()
}

// Subscribe starts a subscription to collection's changes on a connection
// of its own (use a [Realtime] to share one connection among many
// subscriptions and channels). Nothing is sent until the loop over
// [Subscription.All] starts.
//
// The connection authenticates with the client's API key and, when an end
// user is signed in, the user's access token, so that the collection's view
// rule decides which changes the user sees; the SDK sends the refreshed
// token on the open connection before the old one expires.
func (c *Client) Subscribe(ctx context.Context, collection string, opts SubscribeOptions) *Subscription {
	return c.Realtime().Subscribe(ctx, collection, opts)
}

// All returns an iterator over the subscription's events. A failure that
// reconnecting cannot cure ends the loop with a zero Change and the error
// (an *[Error]: NotFound for an unknown collection, InvalidArgument for a
// bad filter or cursor, PermissionDenied, Unauthenticated for a revoked
// key…). The loop ends without an error when the subscription's context
// ends, and after an OpResync when Snapshot was not asked for.
//
// Only one loop may run at a time. A loop started after another ended
// resumes after [Subscription.Cursor].
func (s *Subscription) All() iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		if err := s.opts.Filter.Err(); err != nil {
			yield(Change{}, err)
			return
		}
		if s.opts.Snapshot && s.opts.Cursor != "" {
			yield(Change{}, invalidArgument("subscribe: Cursor and Snapshot do not go together: a snapshot starts from the current records"))
			return
		}
		if s.collection == "" {
			yield(Change{}, invalidArgument("subscribe: no collection"))
			return
		}
		s.rt.hold()
		defer s.rt.release()
		st := subState{snapshot: s.opts.Snapshot && s.Cursor() == "", announceReady: true}
		if s.Cursor() != "" {
			st.announceReady = false
		}
		for s.ctx.Err() == nil {
			conn, err := s.rt.acquire(s.ctx)
			if err != nil {
				if s.ctx.Err() == nil {
					yield(Change{}, err)
				}
				return
			}
			if !s.run(conn, &st, yield) {
				return
			}
			if st.wait > 0 {
				if !sleepCtx(s.ctx, st.wait) {
					return
				}
				st.wait = 0
			}
		}
	}
}

// subState is what a subscription's loop carries across its
// (re)subscriptions.
type subState struct {
	// snapshot: the next subscribe asks for a snapshot.
	snapshot bool
	// announceReady: the next ready is shown to the loop.
	announceReady bool
	// reauthed: an expired token was replaced once since the last ready.
	reauthed bool
	// retries counts subscriptions the server ended for a passing reason
	// since the last ready; wait is the pause before the next.
	retries int
	wait    time.Duration
}

// run subscribes once on conn and delivers until the subscription or the
// connection ends. It returns false when the loop must end.
func (s *Subscription) run(conn *rtConn, st *subState, yield func(Change, error) bool) bool {
	id := s.rt.newID("s")
	route := conn.addSub(id)
	defer conn.removeSub(id)
	f := clientFrame{Type: "subscribe", ID: id, Collection: s.collection, Filter: s.opts.Filter.String()}
	if st.snapshot {
		f.Snapshot = true
	} else {
		f.Cursor = cmpOr(s.Cursor(), s.opts.Cursor)
	}
	if err := conn.send(s.ctx, f); err != nil {
		return true // the connection is failing: the next acquire dials again
	}
	stop := func() bool {
		_ = conn.send(context.WithoutCancel(s.ctx), clientFrame{Type: "unsubscribe", ID: id})
		return false
	}
	for {
		var fr serverFrame
		var ok bool
		select {
		case fr, ok = <-route: // frames already received go first
		default:
			select {
			case <-s.ctx.Done():
				return stop()
			case <-conn.done:
				if len(route) > 0 {
					continue
				}
				if err := conn.fatal(); err != nil {
					yield(Change{}, err)
					return false
				}
				return true
			case fr, ok = <-route:
			}
		}
		if !ok { // the loop fell behind: resubscribe from the cursor
			_ = conn.send(s.ctx, clientFrame{Type: "unsubscribe", ID: id})
			return true
		}
		switch fr.Type {
		case "snapshot":
			for _, r := range fr.Records {
				if !yield(Change{Op: OpSnapshot, Collection: s.collection, Record: r}, nil) {
					return stop()
				}
			}
		case "ready":
			s.setCursor(fr.Cursor)
			st.snapshot, st.reauthed, st.retries = false, false, 0
			if st.announceReady {
				st.announceReady = false
				if !yield(Change{Op: OpReady, Collection: s.collection, Cursor: fr.Cursor}, nil) {
					return stop()
				}
			}
		case "change":
			if !after(fr.Cursor, s.Cursor()) {
				continue // already delivered before a reconnection
			}
			s.setCursor(fr.Cursor)
			ch := Change{Op: fr.Op, Collection: cmpOr(fr.Collection, s.collection), Cursor: fr.Cursor,
				Record: fr.Record, Old: fr.Old, At: fr.At}
			if !yield(ch, nil) {
				return stop()
			}
		case "resync":
			if !yield(Change{Op: OpResync, Collection: s.collection, Message: fr.Message}, nil) || !s.opts.Snapshot {
				return false
			}
			s.setCursor("")
			st.snapshot, st.announceReady = true, true
			return true
		case "closed", "error":
			err := &Error{Code: parseCode(fr.Code), Message: fr.Message}
			switch {
			case fr.Type == "closed" && err.Code == CodeUnauthenticated && !st.reauthed && s.rt.c.session != nil:
				// The access token in force expired: send a fresh one and
				// resume.
				st.reauthed = true
				if rerr := s.rt.reauth(s.ctx, conn); rerr != nil {
					yield(Change{}, rerr)
					return false
				}
				return true
			case fr.Type == "closed" && passing(err.Code):
				st.wait = s.rt.c.pub.backoff(st.retries)
				st.retries++
				return true
			}
			yield(Change{}, err)
			return false
		}
	}
}

// passing reports whether a subscription the server ended with code may be
// resumed after a pause (it was too slow, or the server was busy).
func passing(code Code) bool {
	return code == CodeResourceExhausted || code == CodeUnavailable || code == CodeAborted
}

// after reports whether cursor a comes after b ("" is before every
// cursor). Cursors that are not numbers are taken as new.
func after(a, b string) bool {
	if b == "" {
		return true
	}
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return true
	}
	return x > y
}

func parseCode(s string) Code {
	var c connect.Code
	if err := c.UnmarshalText([]byte(s)); err != nil {
		return connect.CodeUnknown
	}
	return c
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Realtime is one WebSocket connection to the data plane's realtime
// endpoint, shared by any number of subscriptions and channels. It dials
// when the first of them starts, redials (with backoff) when the connection
// drops, and closes when the last one ends; it needs no Close of its own.
// It is safe for concurrent use.
//
// [Client.Subscribe] and [Client.Channel] each use a Realtime of their own;
// make one with [Client.Realtime] to carry many on one connection, which
// also counts once against the project's connection limit.
type Realtime struct {
	c *Client

	// dialing is held (a token in it) by the goroutine that dials.
	dialing chan struct{}
	ids     atomic.Uint64

	mu    sync.Mutex // guards the fields below
	cur   *rtConn
	users int // subscriptions and channels using the connection
	fails int // connections in a row that failed or did not last
}

// Realtime returns a new, unconnected [Realtime] of the client.
func (c *Client) Realtime() *Realtime {
	return &Realtime{c: c, dialing: make(chan struct{}, 1)}
}

func (rt *Realtime) newID(prefix string) string {
	return prefix + strconv.FormatUint(rt.ids.Add(1), 10)
}

func (rt *Realtime) hold() {
	rt.mu.Lock()
	rt.users++
	rt.mu.Unlock()
}

// release gives back a hold; the last one closes the connection.
func (rt *Realtime) release() {
	rt.mu.Lock()
	rt.users--
	var conn *rtConn
	if rt.users == 0 {
		conn, rt.cur = rt.cur, nil
	}
	rt.mu.Unlock()
	if conn != nil {
		conn.close(websocket.StatusNormalClosure, "")
	}
}

// acquire returns the live connection, dialling one (after a backoff when
// the last ones failed) when there is none. It returns an error only when
// ctx ends or dialling again cannot help (the key refused).
func (rt *Realtime) acquire(ctx context.Context) (*rtConn, error) {
	for {
		rt.mu.Lock()
		cur := rt.cur
		rt.mu.Unlock()
		if cur != nil && !cur.isDone() {
			return cur, nil
		}
		select {
		case rt.dialing <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		conn, err := rt.dialLocked(ctx, cur)
		<-rt.dialing
		if err != nil {
			return nil, err
		}
		if conn != nil {
			return conn, nil
		}
	}
}

// dialLocked dials a connection to replace old, unless another goroutine
// did while this one waited (then it returns nil, nil).
func (rt *Realtime) dialLocked(ctx context.Context, old *rtConn) (*rtConn, error) {
	rt.mu.Lock()
	if rt.cur != old && rt.cur != nil && !rt.cur.isDone() {
		rt.mu.Unlock()
		return nil, nil
	}
	if old != nil && old == rt.cur {
		if time.Since(old.started) >= stableConnection {
			rt.fails = 0
		} else {
			rt.fails++
		}
		rt.cur = nil
	}
	rt.mu.Unlock()
	for {
		rt.mu.Lock()
		fails := rt.fails
		rt.mu.Unlock()
		if old != nil || fails > 0 {
			if !sleepCtx(ctx, rt.c.pub.backoff(fails)) {
				return nil, ctx.Err()
			}
		}
		conn, err := rt.dial(ctx)
		if err == nil {
			rt.mu.Lock()
			rt.cur = conn
			rt.mu.Unlock()
			return conn, nil
		}
		var e *Error
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.As(err, &e) && e.Code != CodeUnavailable && e.Code != CodeResourceExhausted {
			return nil, err
		}
		rt.mu.Lock()
		rt.fails++
		rt.mu.Unlock()
		old = nil
	}
}

// realtimeURL is the WebSocket URL of the data plane at base.
func realtimeURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", invalidArgument("realtime: data plane URL %q: %v", base, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", invalidArgument("realtime: data plane URL %q: want http or https", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/v1/realtime"
	return u.String(), nil
}

// dial opens a connection and reads its welcome.
func (rt *Realtime) dial(ctx context.Context) (*rtConn, error) {
	o := rt.c.pub.opts
	u, err := realtimeURL(rt.c.baseURL)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if o.apiKey != "" {
		h.Set("apikey", o.apiKey)
	}
	token := ""
	if rt.c.session != nil {
		if token, err = rt.c.session.accessToken(ctx); err != nil {
			return nil, err
		}
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: o.client(), HTTPHeader: h})
	if err != nil {
		return nil, dialError(resp, err)
	}
	ws.SetReadLimit(realtimeReadLimit)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var w serverFrame
	_, b, err := ws.Read(wctx)
	if err == nil {
		err = json.Unmarshal(b, &w)
	}
	if err != nil || w.Type != "welcome" {
		ws.CloseNow()
		if err == nil {
			err = fmt.Errorf("first frame is %q, not welcome", w.Type)
		}
		return nil, &Error{Code: CodeUnavailable, Message: "realtime: no welcome: " + err.Error(), err: err}
	}
	conn := &rtConn{
		ws: ws, done: make(chan struct{}), started: time.Now(), token: token,
		heartbeat:    time.Duration(max(w.HeartbeatSeconds, 1)) * time.Second,
		payloadBytes: w.Limits.PayloadBytes, connectionID: w.ConnectionID,
		subs: map[string]chan serverFrame{}, chans: map[string]*Channel{}, acks: map[string]chan error{},
	}
	go conn.readLoop()
	go conn.keepAlive(rt)
	return conn, nil
}

// dialError turns a failed upgrade into an *Error: the platform's answer
// (its JSON error body) when it gave one, else Unavailable.
func dialError(resp *http.Response, err error) error {
	if resp == nil || resp.StatusCode < 400 {
		return &Error{Code: CodeUnavailable, Message: "realtime: " + err.Error(), err: err}
	}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if resp.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = json.Unmarshal(b, &body)
	}
	code := codeOfStatus(resp.StatusCode)
	if body.Code != "" {
		code = parseCode(body.Code)
	}
	msg := cmpOr(body.Message, fmt.Sprintf("realtime: %s", resp.Status))
	return &Error{Code: code, Message: msg, err: err}
}

func codeOfStatus(status int) Code {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalidArgument
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodePermissionDenied
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusTooManyRequests:
		return CodeResourceExhausted
	case http.StatusPreconditionFailed:
		return CodeFailedPrecondition
	}
	if status >= 500 {
		return CodeUnavailable
	}
	return connect.CodeUnknown
}

// reauth sends the signed-in user's current access token on conn,
// refreshing the session first when conn already carries that token.
func (rt *Realtime) reauth(ctx context.Context, conn *rtConn) error {
	tok, err := rt.c.session.accessToken(ctx)
	if err != nil {
		return err
	}
	if tok != "" && tok == conn.currentToken() {
		next, err := rt.c.session.refresh(ctx, tok)
		if err != nil {
			return err
		}
		tok = next.AccessToken
	}
	if tok == "" {
		return &Error{Code: CodeUnauthenticated, Message: "realtime: the access token expired and no user is signed in"}
	}
	conn.setToken(tok)
	return conn.send(ctx, clientFrame{Type: "auth", AccessToken: tok})
}

// rtConn is one open WebSocket and its routes.
type rtConn struct {
	ws           *websocket.Conn
	started      time.Time
	heartbeat    time.Duration
	payloadBytes int
	connectionID string

	done    chan struct{} // closed when the connection ends
	endOnce sync.Once
	err     error // why it ended: fatal when an *Error; set before done

	mu    sync.Mutex // guards the fields below
	token string
	subs  map[string]chan serverFrame
	chans map[string]*Channel
	acks  map[string]chan error
}

func (c *rtConn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// fatal returns the error that ended the connection when redialling cannot
// cure it (the key revoked, the project paused); nil otherwise.
func (c *rtConn) fatal() error {
	var e *Error
	if errors.As(c.err, &e) {
		return e
	}
	return nil
}

func (c *rtConn) end(err error) {
	c.endOnce.Do(func() {
		c.err = err
		close(c.done)
	})
}

func (c *rtConn) close(code websocket.StatusCode, reason string) {
	c.end(nil)
	_ = c.ws.Close(code, reason)
}

func (c *rtConn) currentToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *rtConn) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

func (c *rtConn) addSub(id string) <-chan serverFrame {
	q := make(chan serverFrame, realtimeQueue)
	c.mu.Lock()
	c.subs[id] = q
	c.mu.Unlock()
	return q
}

func (c *rtConn) removeSub(id string) {
	c.mu.Lock()
	delete(c.subs, id)
	c.mu.Unlock()
}

// send writes one frame.
func (c *rtConn) send(ctx context.Context, f clientFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("realtime: encode %s frame: %w", f.Type, err)
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.end(err)
		return &Error{Code: CodeUnavailable, Message: "realtime: connection lost: " + err.Error(), err: err}
	}
	return nil
}

// readLoop routes the server's frames until the connection ends.
func (c *rtConn) readLoop() {
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.end(closeError(err))
			_ = c.ws.CloseNow()
			c.mu.Lock()
			chans := make([]*Channel, 0, len(c.chans))
			for _, ch := range c.chans {
				chans = append(chans, ch)
			}
			c.mu.Unlock()
			for _, ch := range chans {
				ch.connLost(c)
			}
			return
		}
		var f serverFrame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		c.route(f)
	}
}

// closeError says why a connection ended: an *Error when redialling will
// not help, the plain error otherwise.
func closeError(err error) error {
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Code {
	case 4001:
		return &Error{Code: CodeUnauthenticated, Message: cmpOr(ce.Reason, "realtime: unauthenticated"), err: err}
	case websocket.StatusPolicyViolation:
		return &Error{Code: CodePermissionDenied, Message: cmpOr(ce.Reason, "realtime: policy violation"), err: err}
	}
	return err
}

func (c *rtConn) route(f serverFrame) {
	c.mu.Lock()
	if q, ok := c.subs[f.ID]; ok && f.Channel == "" {
		select {
		case q <- f:
		default:
			// The loop fell behind: close its queue, which tells it to
			// resubscribe from its cursor, and route nothing more to it.
			delete(c.subs, f.ID)
			close(q)
		}
		c.mu.Unlock()
		return
	}
	if f.Type == "ack" {
		w, ok := c.acks[f.Ref]
		delete(c.acks, f.Ref)
		c.mu.Unlock()
		if ok {
			w <- nil
		}
		return
	}
	name := f.Channel
	if name == "" {
		name = f.ID
	}
	ch := c.chans[name]
	if ch == nil && f.ID != "" {
		for _, x := range c.chans {
			if x.joinID() == f.ID {
				ch = x
				break
			}
		}
	}
	c.mu.Unlock()
	if ch != nil {
		ch.handle(c, f)
	}
}

// keepAlive pings the server every heartbeat (closing a connection that
// does not answer within one) and sends the signed-in user's refreshed
// access token before the one in force expires.
func (c *rtConn) keepAlive(rt *Realtime) {
	every := min(c.heartbeat, 15*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.heartbeat)
		err := c.ws.Ping(ctx)
		if err == nil && rt.c.session != nil {
			if tok, terr := rt.c.session.accessToken(ctx); terr == nil && tok != "" && tok != c.currentToken() {
				c.setToken(tok)
				err = c.send(ctx, clientFrame{Type: "auth", AccessToken: tok})
			}
		}
		cancel()
		if err != nil && !c.isDone() {
			c.end(err)
			_ = c.ws.CloseNow()
			return
		}
	}
}

// clientFrame is a frame the SDK sends.
type clientFrame struct {
	Type        string          `json:"type"`
	ID          string          `json:"id,omitempty"`
	AccessToken string          `json:"access_token,omitempty"`
	Collection  string          `json:"collection,omitempty"`
	Filter      string          `json:"filter,omitempty"`
	Cursor      string          `json:"cursor,omitempty"`
	Snapshot    bool            `json:"snapshot,omitempty"`
	Channel     string          `json:"channel,omitempty"`
	Presence    json.RawMessage `json:"presence,omitempty"`
	State       json.RawMessage `json:"state,omitempty"`
	Event       string          `json:"event,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Ack         string          `json:"ack,omitempty"`
	Ref         string          `json:"ref,omitempty"`
}

// serverFrame is any frame the server sends.
type serverFrame struct {
	Type             string            `json:"type"`
	ID               string            `json:"id"`
	Channel          string            `json:"channel"`
	Ref              string            `json:"ref"`
	Code             string            `json:"code"`
	Message          string            `json:"message"`
	Collection       string            `json:"collection"`
	Op               string            `json:"op"`
	Cursor           string            `json:"cursor"`
	Record           json.RawMessage   `json:"record"`
	Old              json.RawMessage   `json:"old"`
	At               time.Time         `json:"at"`
	Records          []json.RawMessage `json:"records"`
	Event            string            `json:"event"`
	Payload          json.RawMessage   `json:"payload"`
	From             string            `json:"from"`
	Members          []PresenceMember  `json:"members"`
	Joins            []PresenceMember  `json:"joins"`
	Leaves           []PresenceMember  `json:"leaves"`
	ConnectionID     string            `json:"connection_id"`
	HeartbeatSeconds int               `json:"heartbeat_seconds"`
	Limits           struct {
		Subscriptions     int `json:"subscriptions"`
		MessagesPerSecond int `json:"messages_per_second"`
		PayloadBytes      int `json:"payload_bytes"`
	} `json:"limits"`
}
