package sovereign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// RefreshMargin is how long before its expiry an end user's access token is
// replaced: a call that would send a token expiring sooner refreshes the
// session first, so that the token does not expire on the way.
const RefreshMargin = 30 * time.Second

// SessionStore keeps an end user's session across runs of a program, e.g. in
// a file ([NewFileSessionStore]) or the system keychain. Give it to
// [NewClient] with [WithSessionStore].
//
// The client calls Load once, before the first call that needs the session,
// and Save after every change: sign-in, refresh (the old refresh token stops
// working then, so the new session must be kept at once), sign-out (with
// nil). Calls come one at a time.
type SessionStore interface {
	// Load returns the stored session, or nil when there is none.
	Load(ctx context.Context) (*AuthSession, error)
	// Save stores s, replacing what was stored; nil forgets it.
	Save(ctx context.Context, s *AuthSession) error
}

// WithSessionStore makes a [Client] load the end user's session from store
// when it first needs it and save every new session there. A Save that
// fails fails the call that changed the session (the new session is still
// used by the client's next calls), so that a program never carries on
// unknowingly with a stored refresh token that no longer works.
func WithSessionStore(store SessionStore) Option { return func(o *options) { o.sessionStore = store } }

// NewFileSessionStore returns a [SessionStore] that keeps the session as
// JSON in the file at path, readable by the owner only (0600). Save writes
// a temporary file beside it and renames it over path, so that a crash never
// leaves half a session. A missing file is no session.
func NewFileSessionStore(path string) SessionStore { return fileStore{path: path} }

type fileStore struct{ path string }

func (f fileStore) Load(context.Context) (*AuthSession, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	var s AuthSession
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("load session: %s: %w", f.path, err)
	}
	return &s, nil
}

func (f fileStore) Save(_ context.Context, s *AuthSession) error {
	if s == nil {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("forget session: %w", err)
		}
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".*")
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// sessionState is a [Client]'s signed-in end user. Every change of the
// session (sign-in, refresh, sign-out, loading from the store) happens while
// holding turn, one at a time: a refresh token is single use, and two
// callers refreshing the same one would present it twice, which the platform
// takes for theft.
type sessionState struct {
	// pub calls Token without a user's access token.
	pub   *caller
	token func(context.Context, *connect.Request[dataplanev1.TokenRequest]) (*connect.Response[dataplanev1.TokenResponse], error)
	store SessionStore
	now   func() time.Time

	// turn is held (a token in the channel) by whoever changes the
	// session; a channel rather than a mutex so that waiting ends with the
	// context.
	turn chan struct{}

	mu      sync.Mutex // guards the fields below
	session *AuthSession
	loaded  bool // the store has been read, or there is none
	hooks   []func(*AuthSession)
}

func newSessionState(pub *caller, token func(context.Context, *connect.Request[dataplanev1.TokenRequest]) (*connect.Response[dataplanev1.TokenResponse], error)) *sessionState {
	return &sessionState{
		pub: pub, token: token, store: pub.opts.sessionStore, now: time.Now,
		turn: make(chan struct{}, 1), loaded: pub.opts.sessionStore == nil,
	}
}

// lock takes the turn to change the session; unlock gives it back.
func (s *sessionState) lock(ctx context.Context) error {
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sessionState) unlock() { <-s.turn }

func (s *sessionState) current() (*AuthSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session, s.loaded
}

// get returns the current session (nil when signed out), loading it from the
// store the first time.
func (s *sessionState) get(ctx context.Context) (*AuthSession, error) {
	if sess, loaded := s.current(); loaded {
		return sess, nil
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.unlock()
	if sess, loaded := s.current(); loaded {
		return sess, nil
	}
	sess, err := s.store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	s.mu.Lock()
	s.session, s.loaded = sess.clone(), true
	s.mu.Unlock()
	return sess, nil
}

// fresh reports whether sess's access token has more than RefreshMargin to
// live (or no known expiry).
func (s *sessionState) fresh(sess *AuthSession) bool {
	return sess.AccessExpiresAt.IsZero() || s.now().Add(RefreshMargin).Before(sess.AccessExpiresAt)
}

// accessToken returns the access token to send, refreshing the session
// first when the token expires within RefreshMargin; "" when signed out.
// When that refresh fails for a reason other than the session having ended
// (the platform unreachable, say) and the token has not expired yet, the
// token is sent anyway: the call may still succeed.
func (s *sessionState) accessToken(ctx context.Context) (string, error) {
	sess, err := s.get(ctx)
	if err != nil || sess == nil || sess.AccessToken == "" {
		return "", err
	}
	if s.fresh(sess) {
		return sess.AccessToken, nil
	}
	next, err := s.refresh(ctx, sess.AccessToken)
	if err != nil {
		if !IsUnauthenticated(err) && s.now().Before(sess.AccessExpiresAt) {
			return sess.AccessToken, nil
		}
		return "", err
	}
	return next.AccessToken, nil
}

// refresh replaces the session whose access token is stale with a new one
// from its refresh token, and returns the session to use. When another
// caller refreshed (or signed in or out) while this one waited for its turn,
// it returns that session without asking the platform again. A refresh the
// platform refuses as Unauthenticated (the refresh token revoked, reused or
// expired) ends the session: the client is signed out.
func (s *sessionState) refresh(ctx context.Context, stale string) (*AuthSession, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.unlock()
	cur, _ := s.current()
	if cur == nil {
		return nil, &Error{Code: CodeUnauthenticated, Message: "signed out: sign in again"}
	}
	if stale != "" && cur.AccessToken != stale {
		return cur, nil
	}
	m, err := unary(ctx, s.pub, dataplanev1connect.AuthServiceTokenProcedure, callOnce, s.token,
		&dataplanev1.TokenRequest{GrantType: "refresh_token", RefreshToken: cur.RefreshToken})
	if err != nil {
		if IsUnauthenticated(err) {
			if serr := s.setLocked(ctx, nil); serr != nil {
				return nil, errors.Join(err, serr)
			}
		}
		return nil, err
	}
	next := authSessionOf(m.GetSession(), m.GetMfaRequired())
	if next.User == nil && cur.User != nil {
		u := *cur.User
		next.User = &u
	}
	if err := s.setLocked(ctx, next); err != nil {
		return nil, err
	}
	return next, nil
}

// set makes sess (nil: signed out) the session, saves it and calls the
// hooks.
func (s *sessionState) set(ctx context.Context, sess *AuthSession) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	return s.setLocked(ctx, sess)
}

// setLocked is set for a caller holding the turn.
func (s *sessionState) setLocked(ctx context.Context, sess *AuthSession) error {
	sess = sess.clone()
	s.mu.Lock()
	s.session, s.loaded = sess, true
	hooks := s.hooks
	s.mu.Unlock()
	if s.store != nil {
		if err := s.store.Save(ctx, sess.clone()); err != nil {
			return fmt.Errorf("save session: %w", err)
		}
	}
	for _, h := range hooks {
		h(sess.clone())
	}
	return nil
}

// restore makes sess the session without saving it or calling the hooks.
func (s *sessionState) restore(sess *AuthSession) {
	s.turn <- struct{}{}
	defer s.unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session, s.loaded = sess.clone(), true
}

func (s *sessionState) onChange(f func(*AuthSession)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks[:len(s.hooks):len(s.hooks)], f)
}

// tokenExpired reports whether err is the platform refusing an access token
// because it has expired: Unauthenticated, with a message that speaks of an
// expired token ("token is expired", "access token expired"). Other
// Unauthenticated answers (a revoked session, a bad API key) are not cured
// by a refresh.
func tokenExpired(err error) bool {
	ce, ok := asConnectError(err)
	if !ok || ce.Code() != connect.CodeUnauthenticated {
		return false
	}
	m := strings.ToLower(ce.Message())
	return strings.Contains(m, "expired") && strings.Contains(m, "token")
}
