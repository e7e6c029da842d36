package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// HandleWebSocket serves GET /v1/realtime: it authenticates the request
// (bad credentials answer a plain HTTP error before the upgrade), upgrades
// it, and serves the connection until it ends.
func (s *Server) HandleWebSocket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, err := s.authenticate(ctx, r)
	if err != nil {
		writeHTTPError(w, r, err)
		return
	}
	// API keys and tokens, never cookies, authenticate: any origin may
	// connect, as the REST API's CORS allows.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	id := newConnID()
	ref := sess.keyID.TenantRef
	lim, err := s.connLimits(ctx, ref)
	if err == nil {
		err = s.admit(ctx, ref, id, lim.connections)
	}
	if err != nil {
		code, msg := errorCode(err)
		if code != connect.CodeResourceExhausted {
			logger(ctx, ref).Error("realtime: admit connection", "err", err.Error())
			ws.Close(websocket.StatusInternalError, "internal error")
			return
		}
		ws.Close(CloseLimitExceeded, msg)
		return
	}
	defer s.release(ref, id)
	ws.SetReadLimit(int64(lim.payloadBytes))
	c := newConn(s, ws, id, sess, lim)
	if !s.register(c) {
		ws.Close(websocket.StatusGoingAway, "server shutting down: reconnect")
		return
	}
	defer s.unregister(c)
	c.serve(ctx)
}

// conn is one WebSocket connection: the handler's goroutine reads, one
// goroutine writes from a bounded queue.
type conn struct {
	s   *Server
	ws  *websocket.Conn
	id  string
	ref string
	// lim are the connection's limits, fixed when it opens.
	lim connLimits

	ctx    context.Context
	cancel context.CancelFunc

	// The outbound queue.
	qmu    sync.Mutex
	queue  [][]byte
	qbytes int
	wake   chan struct{}

	failOnce    sync.Once
	closing     chan struct{} // closed by fail
	closeCode   websocket.StatusCode
	closeReason string

	// mu guards what follows.
	mu    sync.Mutex
	sess  *session
	gen   int // token generation; 0 is the key alone
	timer *time.Timer
	subs  map[string]*subEntry
	joins map[string]*joinEntry
	// ended is set when the connection is being torn down.
	ended bool

	// Read by the reader goroutine only.
	bucket  bucket
	refused int
}

// subEntry is one subscription of a connection.
type subEntry struct {
	id  string
	gen int

	mu      sync.Mutex
	sub     Subscription
	started bool
	pending [][]byte
	gone    bool // unsubscribed or ended: send nothing more
}

// joinEntry is one channel a connection joined.
type joinEntry struct {
	id       string
	gen      int
	presence bool
	// pol is the project's rule for the channel as read at the join.
	pol *channelPolicy
}

func newConn(s *Server, ws *websocket.Conn, id string, sess *session, lim connLimits) *conn {
	return &conn{
		s: s, ws: ws, id: id, ref: sess.keyID.TenantRef, sess: sess, lim: lim,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		subs:    map[string]*subEntry{},
		joins:   map[string]*joinEntry{},
		bucket:  newBucket(lim.messagesPerSecond, s.cfg.Now()),
	}
}

func (c *conn) serve(parent context.Context) {
	// The connection outlives nothing of the request but its values.
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(parent))
	defer c.cancel()
	c.mu.Lock()
	if !c.sess.expires.IsZero() {
		c.gen = 1
		c.armExpiry(c.sess.expires, c.gen)
	}
	c.mu.Unlock()
	c.send(marshal(welcomeFrame{Type: FrameWelcome, ConnectionID: c.id, HeartbeatSeconds: int(c.s.cfg.Heartbeat / time.Second),
		Limits: welcomeLimits{Subscriptions: c.lim.subscriptions, MessagesPerSecond: c.lim.messagesPerSecond, PayloadBytes: c.lim.payloadBytes}}))
	var wg sync.WaitGroup
	wg.Go(c.writer)
	c.reader()
	c.endStreams()
	c.cancel()
	wg.Wait()
	c.ws.CloseNow()
}

// endStreams closes the connection's subscriptions and leaves its
// channels; safe to call twice.
func (c *conn) endStreams() {
	c.mu.Lock()
	c.ended = true
	subs := c.subs
	joins := c.joins
	c.subs, c.joins = map[string]*subEntry{}, map[string]*joinEntry{}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	for _, e := range subs {
		e.end()
	}
	for name := range joins {
		c.s.hub.leave(c, name)
	}
}

// fail closes the connection with code and reason; the first call wins.
// The writer sends the close frame once the frame it is writing is out
// (a slow consumer's reader thus still learns why); a client that reads
// nothing for a heartbeat more is cut off without it.
func (c *conn) fail(code websocket.StatusCode, reason string) {
	c.failOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		close(c.closing)
		time.AfterFunc(c.s.cfg.Heartbeat, func() { c.ws.CloseNow() })
	})
}

// send queues a frame; false when the queue is full (the connection is
// then closed as a slow consumer) or the connection is ending.
func (c *conn) send(b []byte) bool {
	c.qmu.Lock()
	if len(c.queue) >= c.s.cfg.QueueFrames || c.qbytes+len(b) > c.s.cfg.QueueBytes {
		n := len(c.queue)
		c.qmu.Unlock()
		c.fail(CloseSlowConsumer, fmt.Sprintf("slow consumer: %d frames queued", n))
		return false
	}
	c.queue = append(c.queue, b)
	c.qbytes += len(b)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

func (c *conn) writer() {
	heartbeat := time.NewTicker(c.s.cfg.Heartbeat)
	defer heartbeat.Stop()
	recheck := time.NewTicker(c.s.cfg.KeyRecheck)
	defer recheck.Stop()
	var batch [][]byte
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.closing:
			// Close waits for the client's answer (or its own timeout);
			// the reader ends when the connection does.
			c.ws.Close(c.closeCode, c.closeReason)
			return
		case <-heartbeat.C:
			go c.heartbeat()
		case <-recheck.C:
			go c.recheckKey()
		case <-c.wake:
			c.qmu.Lock()
			batch, c.queue = c.queue, batch[:0]
			c.qbytes = 0
			c.qmu.Unlock()
			for i, b := range batch {
				select {
				case <-c.closing:
					c.ws.Close(c.closeCode, c.closeReason)
					return
				default:
				}
				if err := c.ws.Write(c.ctx, websocket.MessageText, b); err != nil {
					return
				}
				batch[i] = nil
			}
		}
	}
}

// heartbeat pings the client and closes a connection that does not answer
// within the heartbeat; it also keeps the connection counted.
func (c *conn) heartbeat() {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.Heartbeat)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		if c.ctx.Err() == nil {
			c.fail(websocket.StatusPolicyViolation, "no answer to ping")
		}
		return
	}
	if err := c.s.counter.refresh(ctx, c.ref, c.id); err != nil {
		c.s.log.Warn("realtime: refresh connection count", "tenant", c.ref, "err", err.Error())
	}
}

// recheckKey authenticates the connection's key again: a revoked or
// expired key, or a paused or deleted project, closes it with 4001.
func (c *conn) recheckKey() {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	_, err := c.s.cfg.Keys.Authenticate(ctx, c.sess.key)
	switch {
	case err == nil:
	case keyProblem(err) != nil:
		c.fail(CloseUnauthenticated, keyProblem(err).Error())
	default:
		// The database is down: keep serving what was allowed.
		c.s.log.Warn("realtime: recheck API key", "tenant", c.ref, "err", err.Error())
	}
}

// keyProblem returns the apikeys error that says what is wrong with a key
// or its project, or nil when err is another failure (the database).
func keyProblem(err error) error {
	for _, e := range []error{apikeys.ErrRevoked, apikeys.ErrExpired, apikeys.ErrUnknown, apikeys.ErrMalformed,
		apikeys.ErrProjectPaused, apikeys.ErrProjectDeleting, apikeys.ErrProjectNotReady} {
		if errors.Is(err, e) {
			return e
		}
	}
	return nil
}

func (c *conn) reader() {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		if !c.allow() {
			continue
		}
		if typ != websocket.MessageText {
			c.refuse("", "", refuse(connect.CodeInvalidArgument, "binary frames are not supported: send JSON text frames"))
			continue
		}
		var f inFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.refuse("", "", refuse(connect.CodeInvalidArgument, "malformed frame: "+err.Error()))
			continue
		}
		if err := c.handle(&f); err != nil {
			c.refuse(f.ID, f.Channel, err)
		}
	}
}

// allow applies the messages-per-second limit to one client frame.
func (c *conn) allow() bool {
	if c.bucket.take(c.s.cfg.Now()) {
		c.refused = 0
		return true
	}
	c.refused++
	if c.refused > c.lim.messagesPerSecond {
		c.fail(CloseLimitExceeded, fmt.Sprintf("messages per second over the limit (%d)", c.lim.messagesPerSecond))
		return false
	}
	c.refuse("", "", refuse(connect.CodeResourceExhausted, fmt.Sprintf("messages per second over the limit (%d): frame dropped", c.lim.messagesPerSecond)))
	return false
}

func (c *conn) refuse(id, channel string, err error) {
	code, msg := errorCode(err)
	if code == connect.CodeInternal {
		c.s.log.Error("realtime: frame", "tenant", c.ref, "err", err.Error())
	}
	c.send(marshal(codeFrame{Type: FrameError, ID: id, Channel: channel, Code: codeName(code), Message: msg}))
}

func (c *conn) handle(f *inFrame) error {
	switch f.Type {
	case FramePing:
		c.send(marshal(idFrame{Type: FramePong, Ref: f.Ref}))
		return nil
	case FrameAuth:
		return c.auth(f)
	case FrameSubscribe:
		return c.subscribe(f)
	case FrameUnsubscribe:
		return c.unsubscribe(f)
	case FrameJoin:
		return c.join(f)
	case FrameLeave:
		return c.leave(f)
	case FrameBroadcast:
		return c.broadcast(f)
	case FramePresence:
		return c.presence(f)
	case "":
		return refuse(connect.CodeInvalidArgument, "frame has no type")
	}
	return refuse(connect.CodeInvalidArgument, fmt.Sprintf("unknown frame type %q", f.Type))
}

func (c *conn) auth(f *inFrame) error {
	if f.AccessToken == "" {
		return refuse(connect.CodeInvalidArgument, "auth: access_token is required")
	}
	id, exp, err := c.s.user(c.ctx, c.sess, f.AccessToken)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sess.id, c.sess.expires = id, exp
	c.gen++
	gen := c.gen
	var subs []*subEntry
	for _, e := range c.subs {
		e.gen = gen
		subs = append(subs, e)
	}
	var denied []string
	for name, j := range c.joins {
		if channelAllowed(id, name, actionJoin, j.pol) != nil {
			denied = append(denied, name)
			delete(c.joins, name)
			continue
		}
		j.gen = gen
	}
	c.armExpiry(exp, gen)
	c.mu.Unlock()
	for _, e := range subs {
		e.setIdentity(id)
	}
	for _, name := range denied {
		c.s.hub.leave(c, name)
		c.send(marshal(codeFrame{Type: FrameClosed, Channel: name, Code: codeName(connect.CodePermissionDenied), Message: "the new access token may not join this channel"}))
	}
	c.send(marshal(authOKFrame{Type: FrameAuthOK, ExpiresAt: exp.UTC().Format(time.RFC3339)}))
	return nil
}

// armExpiry ends what token generation gen allowed when exp passes. c.mu
// is held.
func (c *conn) armExpiry(exp time.Time, gen int) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(exp.Sub(c.s.cfg.Now()), func() { c.expire(gen) })
}

// expire ends the subscriptions and joins made under token generation gen
// and falls back to the key's identity.
func (c *conn) expire(gen int) {
	c.mu.Lock()
	if c.gen != gen || c.ended {
		c.mu.Unlock()
		return
	}
	c.gen++
	c.sess.id, c.sess.expires = c.sess.base, time.Time{}
	var subs []*subEntry
	for id, e := range c.subs {
		if e.gen == gen {
			subs = append(subs, e)
			delete(c.subs, id)
		}
	}
	var joins []string
	for name, j := range c.joins {
		if j.gen != gen {
			continue
		}
		if channelAllowed(c.sess.base, name, actionJoin, j.pol) == nil {
			j.gen = c.gen // the key alone may stay
			continue
		}
		joins = append(joins, name)
		delete(c.joins, name)
	}
	c.mu.Unlock()
	msg := "access token expired"
	for _, e := range subs {
		e.end()
		c.send(marshal(codeFrame{Type: FrameClosed, ID: e.id, Code: codeName(connect.CodeUnauthenticated), Message: msg}))
	}
	for _, name := range joins {
		c.s.hub.leave(c, name)
		c.send(marshal(codeFrame{Type: FrameClosed, Channel: name, Code: codeName(connect.CodeUnauthenticated), Message: msg}))
	}
}

func (c *conn) subscribe(f *inFrame) error {
	if !validID.MatchString(f.ID) {
		return refuse(connect.CodeInvalidArgument, fmt.Sprintf("subscribe: id must be 1 to %d characters of A-Z a-z 0-9 : _ . -", MaxIDLen))
	}
	if f.Collection == "" {
		return refuse(connect.CodeInvalidArgument, "subscribe: collection is required")
	}
	if f.Cursor != "" && f.Snapshot {
		return refuse(connect.CodeInvalidArgument, "subscribe: cursor and snapshot cannot be used together")
	}
	if c.s.cfg.Feed == nil {
		return refuse(connect.CodeUnavailable, "record changes are not served by this node")
	}
	c.mu.Lock()
	if _, dup := c.subs[f.ID]; dup {
		c.mu.Unlock()
		return refuse(connect.CodeAlreadyExists, fmt.Sprintf("subscribe: id %q is in use on this connection", f.ID))
	}
	if len(c.subs) >= c.lim.subscriptions {
		c.mu.Unlock()
		return refuse(connect.CodeResourceExhausted, fmt.Sprintf("too many subscriptions on this connection (limit %d)", c.lim.subscriptions))
	}
	e := &subEntry{id: f.ID, gen: c.gen}
	c.subs[f.ID] = e
	ident := c.sess.id
	c.mu.Unlock()

	sub, err := c.s.cfg.Feed.Subscribe(c.ctx, SubscribeParams{
		Identity: ident, Collection: f.Collection, Filter: f.Filter, Cursor: f.Cursor, Snapshot: f.Snapshot,
	}, &wsSink{c: c, e: e})
	if err != nil {
		c.mu.Lock()
		if c.subs[f.ID] == e {
			delete(c.subs, f.ID)
		}
		c.mu.Unlock()
		e.mu.Lock()
		e.gone, e.pending = true, nil
		e.mu.Unlock()
		return err
	}
	e.mu.Lock()
	e.sub = sub
	if e.gone {
		// Ended (the connection, or the token) while subscribing.
		e.mu.Unlock()
		sub.Close()
		return nil
	}
	ok := c.send(marshal(idFrame{Type: FrameSubscribed, ID: f.ID}))
	for _, b := range e.pending {
		ok = ok && c.send(b)
	}
	e.pending, e.started = nil, true
	e.mu.Unlock()
	return nil
}

// end stops the subscription; nothing more is sent for it.
func (e *subEntry) end() {
	e.mu.Lock()
	e.gone = true
	e.pending = nil
	sub := e.sub
	e.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
}

func (e *subEntry) setIdentity(id tenantdb.Identity) {
	e.mu.Lock()
	sub := e.sub
	e.mu.Unlock()
	if sub != nil {
		sub.SetIdentity(id)
	}
}

func (c *conn) unsubscribe(f *inFrame) error {
	c.mu.Lock()
	e, ok := c.subs[f.ID]
	delete(c.subs, f.ID)
	c.mu.Unlock()
	if !ok {
		return refuse(connect.CodeNotFound, fmt.Sprintf("unsubscribe: no subscription %q on this connection", f.ID))
	}
	e.end()
	c.send(marshal(idFrame{Type: FrameUnsubscribed, ID: f.ID}))
	return nil
}

// wsSink is a subscription's Sink: frames go to the connection's queue,
// held back until "subscribed" is sent.
type wsSink struct {
	c *conn
	e *subEntry
}

func (s *wsSink) emit(b []byte) bool {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	switch {
	case s.e.gone:
		return true
	case !s.e.started:
		if len(s.e.pending) >= s.c.s.cfg.QueueFrames {
			s.c.fail(CloseSlowConsumer, fmt.Sprintf("slow consumer: %d frames queued", len(s.e.pending)))
			return false
		}
		s.e.pending = append(s.e.pending, b)
		return true
	}
	return s.c.send(b)
}

func (s *wsSink) Snapshot(records []json.RawMessage) bool {
	return s.emit(marshal(snapshotFrame{Type: FrameSnapshot, ID: s.e.id, Records: records}))
}

func (s *wsSink) Ready(cursor string) bool {
	return s.emit(marshal(readyFrame{Type: FrameReady, ID: s.e.id, Cursor: cursor}))
}

func (s *wsSink) Change(ch Change) bool {
	return s.emit(marshal(newChangeFrame(s.e.id, ch)))
}

func (s *wsSink) Closed(err error) {
	c := s.c
	c.mu.Lock()
	if c.subs[s.e.id] == s.e {
		delete(c.subs, s.e.id)
	}
	c.mu.Unlock()
	var b []byte
	if errors.Is(err, ErrResync) {
		b = marshal(codeFrame{Type: FrameResync, ID: s.e.id, Message: err.Error()})
	} else {
		b = marshal(closedFrame(s.e.id, err))
	}
	s.emit(b)
	s.e.mu.Lock()
	s.e.gone = true
	s.e.mu.Unlock()
}

// closedFrame says why the feed ended a subscription.
func closedFrame(id string, err error) codeFrame {
	f := codeFrame{Type: FrameClosed, ID: id}
	switch {
	case errors.Is(err, ErrSlowConsumer):
		f.Code, f.Message = codeName(connect.CodeResourceExhausted), "slow subscription: it fell too far behind"
	default:
		if _, ok := errors.AsType[*connect.Error](err); ok {
			code, msg := errorCode(err)
			f.Code, f.Message = codeName(code), msg
		} else {
			f.Code, f.Message = codeName(connect.CodeUnavailable), "the subscription ended: subscribe again"
		}
	}
	return f
}
