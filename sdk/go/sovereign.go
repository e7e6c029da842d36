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
package sovereign

import (
	"cmp"
	"net/http"
	"strings"
	"time"
)

// Option configures a client.
type Option func(*options)

type options struct {
	httpClient *http.Client
	userAgent  string
}

// WithHTTPClient makes the client send its requests through c. The default is
// an http.Client with a 60 s timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.httpClient = cmp.Or(o.httpClient, &http.Client{Timeout: 60 * time.Second})
	o.userAgent = cmp.Or(o.userAgent, "sovereign-go")
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
