// Package sovereign is the Go SDK for Sovereign, a multi-tenant backend
// platform. It reaches both of the platform's planes:
//
//   - the control plane (accounts, organizations, projects, API keys), through
//     [ManagementClient];
//   - a region's data plane (a project's data, auth, files, realtime), through
//     [Client].
//
// Every call takes a context; errors the platform answered with are
// [*Error] values that carry a [Code] and work with errors.As.
//
// # Retries and idempotency
//
// The clients retry only calls that are safe to repeat: reads (procedures
// declared free of side effects), creates, and every write of records
// (insert, update, replace, delete, upsert, batch). Creates and record writes
// always carry an Idempotency-Key header so that the platform answers a
// repeated write with the first answer instead of applying it twice. A
// retried write sends the same key on every attempt; [WithIdempotencyKey]
// chooses the key, e.g. to resume after a crash. Other writes (pause,
// revoke, login, altering or dropping a collection, …) run once.
//
// A call is retried when the platform could not be reached or answered
// [CodeUnavailable], and when it answered [CodeResourceExhausted] with a
// Retry-After header of at most 30 seconds (a throttle that says when to come
// back; a throttle that does not is returned at once). Attempts are spaced by
// exponential backoff with jitter (about 0.25 s, 0.5 s, 1 s, … up to 5 s) and
// stop when the context ends, in which case the last attempt's error is
// returned. [WithRetries] sets how many retries follow the first attempt.
//
// # Lists
//
// Lists are iterators ([iter.Seq2]) that fetch pages as the loop needs them.
// A failure ends the loop with a nil item and the error:
//
//	for p, err := range mc.Projects(ctx, sovereign.ListProjectsParams{OrganizationID: org.ID}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(p.Name, p.State)
//	}
//
// [Collect] gathers an iterator into a slice.
//
// # Data
//
// A project's collections are typed tables. [Client.Collections] creates and
// changes them; [Collection] reads and writes one collection's records as
// your own Go type, with [RecordMeta] embedded for the system fields:
//
//	posts := sovereign.Collection[Post](client, "posts")
//	p, err := posts.Insert(ctx, Post{Title: "hello", N: 1})
//	p, err = posts.Update(ctx, p.ID, map[string]any{"n": 2}, sovereign.ExpectVersion(p.Version))
//	for p, err := range posts.Query(ctx, sovereign.Query{Filter: sovereign.Where("n").Gt(1)}) { … }
//
// [Where] builds filters in the platform's expression language with every
// value escaped; [Client.Batch] runs up to 1,000 writes in one transaction.
// [IsNotFound], [IsConflict] (a stale [ExpectVersion]) and
// [IsInvalidArgument] classify what the platform refused.
//
// # End users and access rules
//
// An app makes its [Client] with the project's publishable key and signs
// its users in through [Client.Auth]; from then on the client sends the
// user's access token with every call and refreshes it before it expires,
// one refresh at a time however many goroutines call:
//
//	app := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishableKey),
//		sovereign.WithSessionStore(sovereign.NewFileSessionStore(path)))
//	if _, err := app.Auth().SignInWithPassword(ctx, email, password); err != nil { … }
//	todos := sovereign.Collection[Todo](app, "todos") // as the user
//
// What each user may do is decided by the collection's [Rules], set by a
// backend holding the secret key ([Collections.SetRules]); a missing rule
// denies. [Client.AuthAdmin] manages users, OAuth providers and signing
// keys.
package sovereign

import (
	"cmp"
	"context"
	"net/http"
	"strings"
	"time"
)

// Option configures a client.
type Option func(*options)

type options struct {
	httpClient *http.Client
	userAgent  string
	token      func(context.Context) (string, error)
	apiKey     string
	retries    int
	// sessionStore keeps a data plane client's end-user session.
	sessionStore SessionStore
	// backoffBase and backoffMax bound the delay between attempts; tests
	// shorten them.
	backoffBase, backoffMax time.Duration
}

// WithHTTPClient makes the client send its requests through c. The default is
// an http.Client with a 60 s timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithToken makes a [ManagementClient] authenticate as an account: token is
// an access token from a [Session] (sov_at_…, valid 15 minutes) or a
// personal access token (sov_pat_…). It is sent as `Authorization: Bearer`.
// Signup, Login, Refresh and the email verification and password reset calls
// need no token.
func WithToken(token string) Option {
	return WithTokenFunc(func(context.Context) (string, error) { return token, nil })
}

// WithTokenFunc is [WithToken] for a token that changes: f is called before
// every request and its result sent as `Authorization: Bearer` (nothing when
// it returns ""). Use it to refresh an expiring access token with
// [ManagementClient.Refresh]. An error from f ends the call with that error.
// f may be called from several goroutines at once.
func WithTokenFunc(f func(ctx context.Context) (string, error)) Option {
	return func(o *options) { o.token = f }
}

// WithAPIKey makes a [Client] act for the project the key belongs to. key is
// a publishable (sov_pk_…) or secret (sov_sk_…) key made with
// [ManagementClient.CreateAPIKey]; it is sent in the `apikey` header.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithRetries sets how many times a call that is safe to repeat is retried
// after its first attempt fails with a retryable error (see the package
// documentation). The default is 3; 0 turns retries off.
func WithRetries(n int) Option { return func(o *options) { o.retries = max(n, 0) } }

func buildOptions(opts []Option) options {
	o := options{retries: 3}
	for _, opt := range opts {
		opt(&o)
	}
	o.httpClient = cmp.Or(o.httpClient, &http.Client{Timeout: 60 * time.Second})
	o.userAgent = cmp.Or(o.userAgent, "sovereign-go")
	o.backoffBase = cmp.Or(o.backoffBase, 250*time.Millisecond)
	o.backoffMax = cmp.Or(o.backoffMax, 5*time.Second)
	return o
}

// userAgentTransport sets the User-Agent on requests it forwards.
type userAgentTransport struct {
	base http.RoundTripper
	ua   string
}

func (t userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return cmp.Or[http.RoundTripper](t.base, http.DefaultTransport).RoundTrip(r)
}

func (o options) client() *http.Client {
	c := *o.httpClient
	c.Transport = userAgentTransport{base: c.Transport, ua: o.userAgent}
	return &c
}

func trimURL(u string) string { return strings.TrimRight(u, "/") }

// Check is the state of one dependency of a server, as its readiness check
// saw it.
type Check struct {
	// Name of the dependency: "postgres" or "valkey".
	Name string
	// OK is true when the dependency answered in time.
	OK bool
	// Reason says why the check failed; empty when OK.
	Reason string
	// Latency of the probe.
	Latency time.Duration
}
