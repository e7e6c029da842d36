package realtime

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
)

// Routes of the realtime endpoints.
const (
	RouteWebSocket = "GET /v1/realtime"
	RouteSSE       = "GET /v1/realtime/sse"
)

// KeyAuthenticator checks a project API key; *apikeys.Keys is one.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, key string) (apikeys.Identity, error)
}

// ServerConfig configures a Server. Zero limits take the Default*
// constants; every limit is per connection unless it says otherwise. The
// per-connection limits below are the node's defaults: a tenant whose plan
// sets realtime_subscriptions, realtime_messages_per_second or
// realtime_payload_bytes (above 0) gets the plan's instead.
type ServerConfig struct {
	// Feed delivers record changes. Nil: the server serves channels only,
	// and subscribe frames (and SSE) answer Unavailable.
	Feed ChangeFeed
	// Keys authenticates API keys, at the upgrade and every KeyRecheck.
	// Required.
	Keys KeyAuthenticator
	// Users verifies an end user's access token: given a context carrying
	// the key's identity (keyauth.NewContext) and a header with the key in
	// `apikey` and the token in `Authorization: Bearer`, it returns the
	// context with the user (caller.WithUser), or a *connect.Error; it is
	// auth.Service.AuthenticateUser. Nil: the node serves no end-user auth
	// and access tokens are refused.
	Users func(ctx context.Context, h http.Header) (context.Context, error)
	// Broker carries channel messages and presence between nodes.
	// Required.
	Broker broker.Broker
	// ChannelRules holds the projects' rules for channels outside the
	// fixed prefixes. Nil: such channels are for the service role only.
	ChannelRules *ChannelRules
	// Tenants reads each tenant's plan limits (RealtimeConnections: the
	// most connections open at once over the region, 0 unlimited; and the
	// per-connection limits, 0 taking the defaults below). Nil: no
	// connection limit, and the defaults for everyone.
	Tenants TenantLimits
	// Valkey, when set, counts each tenant's connections over every node
	// sharing it; nil counts this node's only. The server does not close
	// it.
	Valkey valkey.Client
	// ValkeyDial, used when Valkey is nil, opens the Valkey client lazily:
	// at the first connection, and again at most every ValkeyRetry while
	// it fails, so that a node starts while Valkey is down. The server
	// closes the client it dialed in Close. Whenever Valkey cannot be
	// reached, connections are counted on this node alone (the limit then
	// holds per node) rather than refused.
	ValkeyDial func() (valkey.Client, error)
	// ValkeyRetry is the time between two dials of ValkeyDial. Default
	// DefaultValkeyRetry.
	ValkeyRetry time.Duration
	// KeyPrefix starts the Valkey keys of the connection counts.
	KeyPrefix string

	// MaxSubscriptions per connection; default DefaultMaxSubscriptions.
	MaxSubscriptions int
	// MaxChannels joined per connection; default DefaultMaxChannels.
	MaxChannels int
	// MessagesPerSecond a connection may send (token bucket, burst the
	// same); default DefaultMessagesPerSecond. A frame over it is refused
	// (error resource_exhausted); once more frames in a row are refused
	// than this number, the connection is closed with 4008.
	MessagesPerSecond int
	// PayloadBytes is the largest client frame, in bytes; a larger one
	// closes the connection with 1009. Default DefaultPayloadBytes.
	PayloadBytes int
	// QueueFrames and QueueBytes bound the frames waiting to be written to
	// one connection; past either it is closed with 4009. Defaults
	// DefaultQueueFrames and DefaultQueueBytes.
	QueueFrames, QueueBytes int
	// Heartbeat is the time between WebSocket pings; a client that answers
	// none within it is closed. Default DefaultHeartbeat.
	Heartbeat time.Duration
	// KeyRecheck is how often an open connection's key is authenticated
	// again. Default DefaultKeyRecheck.
	KeyRecheck time.Duration
	// SSEPing is the time between SSE ping comments. Default
	// DefaultSSEPing.
	SSEPing time.Duration
	// LimitCacheTTL is how long a tenant's limits are cached.
	// Default DefaultLimitCacheTTL.
	LimitCacheTTL time.Duration
	// PresenceRefresh and PresenceTimeout: how often a node republishes
	// its presence members, and how long a member of another node lives
	// without being refreshed. Defaults DefaultPresenceRefresh and
	// DefaultPresenceTimeout.
	PresenceRefresh, PresenceTimeout time.Duration
	// Now is the clock of rate limits and token expiry. Default time.Now.
	Now func() time.Time
	// Logger for the server's own trouble. Default slog.Default().
	Logger *slog.Logger
}

// Server serves the realtime endpoints of one data plane node. Mount
// HandleWebSocket and HandleSSE, and run Run until the node stops.
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	counter connCounter
	// closeCounter closes what the counter opened; nil when nothing.
	closeCounter func()
	limits       *limitCache
	hub          *channelHub

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
}

// NewServer validates cfg and returns a server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Keys == nil {
		return nil, errors.New("realtime: server config has no Keys")
	}
	if cfg.Broker == nil {
		return nil, errors.New("realtime: server config has no Broker")
	}
	cfg.MaxSubscriptions = cmp.Or(cfg.MaxSubscriptions, DefaultMaxSubscriptions)
	cfg.MaxChannels = cmp.Or(cfg.MaxChannels, DefaultMaxChannels)
	cfg.MessagesPerSecond = cmp.Or(cfg.MessagesPerSecond, DefaultMessagesPerSecond)
	cfg.PayloadBytes = cmp.Or(cfg.PayloadBytes, DefaultPayloadBytes)
	cfg.QueueFrames = cmp.Or(cfg.QueueFrames, DefaultQueueFrames)
	cfg.QueueBytes = cmp.Or(cfg.QueueBytes, DefaultQueueBytes)
	cfg.Heartbeat = cmp.Or(cfg.Heartbeat, DefaultHeartbeat)
	cfg.KeyRecheck = cmp.Or(cfg.KeyRecheck, DefaultKeyRecheck)
	cfg.SSEPing = cmp.Or(cfg.SSEPing, DefaultSSEPing)
	cfg.LimitCacheTTL = cmp.Or(cfg.LimitCacheTTL, DefaultLimitCacheTTL)
	cfg.ValkeyRetry = cmp.Or(cfg.ValkeyRetry, DefaultValkeyRetry)
	cfg.PresenceRefresh = cmp.Or(cfg.PresenceRefresh, DefaultPresenceRefresh)
	cfg.PresenceTimeout = cmp.Or(cfg.PresenceTimeout, DefaultPresenceTimeout)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for name, v := range map[string]int{
		"MaxSubscriptions": cfg.MaxSubscriptions, "MaxChannels": cfg.MaxChannels,
		"MessagesPerSecond": cfg.MessagesPerSecond, "PayloadBytes": cfg.PayloadBytes,
		"QueueFrames": cfg.QueueFrames, "QueueBytes": cfg.QueueBytes,
	} {
		if v < 0 {
			return nil, fmt.Errorf("realtime: %s %d is negative", name, v)
		}
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		limits: &limitCache{src: cfg.Tenants, ttl: cfg.LimitCacheTTL, m: map[string]cachedLimit{}},
		conns:  map[*conn]struct{}{},
	}
	if cfg.Valkey != nil || cfg.ValkeyDial != nil {
		// Entries outlive two missed refreshes, then a crashed node's
		// connections stop counting.
		fc := newFallbackCounter(cfg.Valkey, cfg.ValkeyDial, cfg.ValkeyRetry, cfg.KeyPrefix, 2*cfg.Heartbeat+5*time.Second, cfg.Logger)
		s.counter, s.closeCounter = fc, fc.close
	} else {
		s.counter = newMemoryCounter()
	}
	s.hub = newChannelHub(cfg.Broker, cfg.PresenceRefresh, cfg.PresenceTimeout, cfg.Logger)
	return s, nil
}

// Run republishes presence until ctx ends, then closes every open
// connection with 1001 (going away) so that clients reconnect elsewhere.
func (s *Server) Run(ctx context.Context) {
	s.hub.run(ctx)
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.fail(websocket.StatusGoingAway, "server shutting down: reconnect")
		c.endStreams()
	}
}

// Close releases what the server opened itself (a Valkey client from
// ValkeyDial). Call it after Run has returned and the handlers are done.
func (s *Server) Close() {
	if s.closeCounter != nil {
		s.closeCounter()
	}
}

func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// session is who a connection is: its key and, with a token, its user.
type session struct {
	key   string
	keyID apikeys.Identity
	// base is the identity of the key alone; id the identity in force.
	base, id tenantdb.Identity
	// expires is when the user's token expires; zero without a token.
	expires time.Time
}

// credentials reads the API key and the access token of r: the key from
// the apikey header, else Authorization: Bearer, else ?apikey=; the token
// from ?access_token=, else Authorization: Bearer when the key is in the
// apikey header (or the query).
func credentials(r *http.Request) (key, token string) {
	q := r.URL.Query()
	bearer := ""
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "Bearer") {
		bearer = strings.TrimSpace(tok)
	}
	key = strings.TrimSpace(r.Header.Get(keyauth.Header))
	if key == "" {
		key = strings.TrimSpace(q.Get("apikey"))
		if key == "" {
			key, bearer = bearer, ""
		}
	}
	token = strings.TrimSpace(q.Get("access_token"))
	if token == "" && bearer != key {
		token = bearer
	}
	return key, token
}

// authenticate checks the key and token of r.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (*session, error) {
	key, token := credentials(r)
	if key == "" {
		return nil, rpcerr.New(connect.CodeUnauthenticated, "missing API key: send it in the apikey header, Authorization: Bearer or the apikey query parameter")
	}
	kid, err := s.cfg.Keys.Authenticate(ctx, key)
	if err != nil {
		return nil, keyauth.Error(ctx, err)
	}
	base, err := caller.Identity(keyauth.NewContext(ctx, kid))
	if err != nil {
		return nil, err
	}
	sess := &session{key: key, keyID: kid, base: base, id: base}
	if token != "" {
		id, exp, err := s.user(ctx, sess, token)
		if err != nil {
			return nil, err
		}
		sess.id, sess.expires = id, exp
	}
	return sess, nil
}

// user verifies an access token for the session's project and returns the
// user's identity and the token's expiry.
func (s *Server) user(ctx context.Context, sess *session, token string) (tenantdb.Identity, time.Time, error) {
	if s.cfg.Users == nil {
		return tenantdb.Identity{}, time.Time{}, rpcerr.New(connect.CodeUnauthenticated, "this data plane serves no end-user auth: connect with the API key alone")
	}
	if token == sess.key {
		return tenantdb.Identity{}, time.Time{}, rpcerr.New(connect.CodeUnauthenticated, "access_token holds the API key, not a user's access token")
	}
	h := http.Header{}
	h.Set(keyauth.Header, sess.key)
	h.Set("Authorization", "Bearer "+token)
	uctx, err := s.cfg.Users(keyauth.NewContext(ctx, sess.keyID), h)
	if err != nil {
		return tenantdb.Identity{}, time.Time{}, err
	}
	u, ok := caller.UserFromContext(uctx)
	if !ok {
		return tenantdb.Identity{}, time.Time{}, rpcerr.New(connect.CodeUnauthenticated, "access_token is not a user's access token")
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal([]byte(u.Claims), &claims); err != nil || claims.Exp == 0 {
		return tenantdb.Identity{}, time.Time{}, rpcerr.New(connect.CodeUnauthenticated, "access token has no expiry")
	}
	id, err := caller.Identity(uctx)
	if err != nil {
		return tenantdb.Identity{}, time.Time{}, err
	}
	return id, time.Unix(claims.Exp, 0), nil
}

// admit counts a new connection against its tenant's limit (0:
// unlimited); the error is a ResourceExhausted naming the limit.
func (s *Server) admit(ctx context.Context, ref, id string, limit int) error {
	ok, err := s.counter.acquire(ctx, ref, id, limit)
	if err != nil {
		return err
	}
	if !ok {
		return rpcerr.New(connect.CodeResourceExhausted, fmt.Sprintf("too many connections for this project (limit %d)", limit))
	}
	return nil
}

func (s *Server) release(ref, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.counter.release(ctx, ref, id); err != nil {
		s.log.Warn("realtime: release connection count", "tenant", ref, "err", err.Error())
	}
}

// writeHTTPError answers err as the REST API does: Connect's JSON error
// with the code's HTTP status; internal errors are logged, not shown.
func writeHTTPError(w http.ResponseWriter, r *http.Request, err error) {
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok {
		ce, _ = errors.AsType[*connect.Error](rpcerr.Internal(r.Context(), err))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{ce.Code().String(), ce.Message()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rest.HTTPStatus(ce.Code()))
	_, _ = w.Write(buf.Bytes())
}

// newConnID is a connection's random id.
func newConnID() string { return "c_" + strings.ToLower(rand.Text()[:20]) }

func logger(ctx context.Context, ref string) *slog.Logger {
	return httpserver.Logger(ctx).With("tenant", ref)
}
