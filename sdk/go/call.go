package sovereign

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"iter"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
)

// IdempotencyKeyHeader is the request header that carries a create's or a
// record write's idempotency key.
const IdempotencyKeyHeader = "Idempotency-Key"

// maxRetryAfter is the longest Retry-After a throttled call waits out; a
// longer one is returned to the caller at once.
const maxRetryAfter = 30 * time.Second

// callKind says whether a call may be repeated.
type callKind int

const (
	// callOnce is a call with side effects and no idempotency key.
	callOnce callKind = iota
	// callRead is a call without side effects (NO_SIDE_EFFECTS).
	callRead
	// callCreate is a create, or a record write, that carries an
	// idempotency key: the platform answers a repeat with the first answer,
	// so it is safe to retry.
	callCreate
	// callIdempotent is a write that sets state outright (replace a
	// collection's rules, set a provider, disable a user): repeating it
	// leaves the same state, so it is retried, without a key.
	callIdempotent
)

type idempotencyKeyCtx struct{}

// WithIdempotencyKey returns a context whose create calls and record writes
// (Insert, Update, Replace, Delete, Upsert, Batch) send key as their
// Idempotency-Key instead of a fresh random one. Reuse a key only to repeat
// the same write with the same arguments: the platform answers it with the
// first call's answer (for 24 hours), and refuses the key with other
// arguments.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

// newIdempotencyKey returns a random UUID (version 4).
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// caller holds what every call of a client needs besides its RPC stub.
type caller struct {
	opts options
	// session, when set, is the signed-in end user whose access token goes
	// in `Authorization: Bearer` (a data plane [Client]'s calls but those
	// that must not carry it: sign-in, admin, rules).
	session *sessionState
}

// setHeaders puts the credentials on h and returns the end user's access
// token it sent ("" for none).
func (c *caller) setHeaders(ctx context.Context, h http.Header) (string, error) {
	var userToken string
	if c.session != nil {
		tok, err := c.session.accessToken(ctx)
		if err != nil {
			return "", err
		}
		userToken = tok
	}
	switch {
	case userToken != "":
		h.Set("Authorization", "Bearer "+userToken)
	case c.opts.token != nil:
		tok, err := c.opts.token(ctx)
		if err != nil {
			return "", err
		}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
	}
	if c.opts.apiKey != "" {
		h.Set("apikey", c.opts.apiKey)
	}
	return userToken, nil
}

// unary sends msg through fn, with credentials, an idempotency key for
// creates, and retries for calls that are safe to repeat.
func unary[Req, Res any](ctx context.Context, c *caller, procedure string, kind callKind,
	fn func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), msg *Req) (*Res, error) {
	var key string
	if kind == callCreate {
		key, _ = ctx.Value(idempotencyKeyCtx{}).(string)
		if key == "" {
			key = newIdempotencyKey()
		}
	}
	refreshed := false
	for attempt := 0; ; {
		req := connect.NewRequest(msg)
		userToken, err := c.setHeaders(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		if key != "" {
			req.Header().Set(IdempotencyKeyHeader, key)
		}
		resp, err := fn(ctx, req)
		if err == nil {
			return resp.Msg, nil
		}
		// An access token the platform calls expired, although the clock
		// here thought it fresh: refresh once and send the call again. The
		// platform refused it before doing anything, so this is safe for
		// every kind of call, and does not count as a retry.
		if userToken != "" && !refreshed && tokenExpired(err) {
			refreshed = true
			if _, rerr := c.session.refresh(ctx, userToken); rerr != nil {
				return nil, rerr
			}
			continue
		}
		wait, ok := c.retryDelay(kind, attempt, err)
		attempt++
		if !ok || ctx.Err() != nil {
			return nil, wrapErr(procedure, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, wrapErr(procedure, err)
		case <-t.C:
		}
	}
}

// retryDelay says whether a call of kind that failed with err on attempt
// (counting from 0) is tried again, and after how long.
func (c *caller) retryDelay(kind callKind, attempt int, err error) (time.Duration, bool) {
	if kind == callOnce || attempt >= c.opts.retries {
		return 0, false
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return c.backoff(attempt), true
	case connect.CodeResourceExhausted:
		d, ok := retryAfter(err)
		if !ok || d > maxRetryAfter {
			return 0, false
		}
		return max(d, c.backoff(attempt)), true
	default:
		return 0, false
	}
}

// backoff is the delay before retry number attempt+1: exponential, capped,
// with jitter over its upper half so that clients failing together do not
// retry together.
func (c *caller) backoff(attempt int) time.Duration {
	d := c.opts.backoffMax
	if attempt < 30 {
		d = min(c.opts.backoffBase<<attempt, c.opts.backoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads the Retry-After header (seconds or an HTTP date) of an
// error's response.
func retryAfter(err error) (time.Duration, bool) {
	ce, ok := asConnectError(err)
	if !ok {
		return 0, false
	}
	v := ce.Meta().Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// pages iterates over a paged list: fetch returns one page and the token of
// the next ("" on the last page).
func pages[T any](ctx context.Context, fetch func(ctx context.Context, pageToken string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		token := ""
		for {
			items, next, err := fetch(ctx, token)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}

// Collect runs seq to its end and returns its items, or the first error.
//
//	orgs, err := sovereign.Collect(mc.Organizations(ctx))
func Collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}
