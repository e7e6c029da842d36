// Package registration announces a data plane's region to the control plane:
// RegisterRegion (name, public URL) at start, retried with backoff until it
// works, then a Heartbeat at a fixed interval, all authenticated with the
// region secret. It runs beside the node, never in front of it: the node
// serves its tenants whether or not the control plane answers.
//
// Heartbeats also carry the API keys used since the previous one (see
// Config.Usage), in as many heartbeats as the control plane's cap per call
// requires; what a failed heartbeat did not deliver goes back to the source
// and travels with the next one. The control plane keeps the latest use per
// key, so delivering a use twice does no harm.
package registration

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Defaults of Config.
const (
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultCallTimeout       = 5 * time.Second
	DefaultMinBackoff        = 500 * time.Millisecond
	DefaultMaxBackoff        = 30 * time.Second
	// DefaultUsagePerHeartbeat is the control plane's cap on key uses in
	// one heartbeat (controlplane/regions.MaxKeyUsagePerHeartbeat).
	DefaultUsagePerHeartbeat = 10_000
)

// UsageSource holds API key usage between heartbeats; *apikeys.Keys is one.
type UsageSource interface {
	// DrainUsage returns the uses recorded since the previous drain and
	// forgets them.
	DrainUsage() []apikeys.Usage
	// RestoreUsage takes back uses that could not be delivered.
	RestoreUsage([]apikeys.Usage)
}

// Config configures a Registrar.
type Config struct {
	// ControlPlaneURL is the control plane's base URL, e.g.
	// "https://api.example.com". Empty turns registration off: Run returns
	// at once.
	ControlPlaneURL string
	// Region is the region's name. Required when ControlPlaneURL is set.
	Region string
	// PublicURL is where the region's clients reach this data plane.
	// Required when ControlPlaneURL is set.
	PublicURL string
	// RegionSecret is sent as `Authorization: Bearer`. Required when
	// ControlPlaneURL is set.
	RegionSecret string
	// HeartbeatInterval is the time between heartbeats. Default 10s. The
	// control plane reports a region healthy for 30s after a heartbeat.
	HeartbeatInterval time.Duration
	// CallTimeout bounds each call to the control plane. Default 5s.
	CallTimeout time.Duration
	// Usage is drained into every heartbeat; nil sends no key usage.
	Usage UsageSource
	// UsagePerHeartbeat is the most key uses one heartbeat carries; more are
	// sent in further heartbeats at once. Default DefaultUsagePerHeartbeat
	// (10,000), the control plane's cap: larger is refused there.
	UsagePerHeartbeat int
	// MinBackoff and MaxBackoff bound the wait between failed
	// registrations; it doubles from MinBackoff up to MaxBackoff, with
	// jitter. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient makes the calls. Default http.DefaultClient.
	HTTPClient connect.HTTPClient
	// Logger for registration progress and trouble. Default
	// slog.Default().
	Logger *slog.Logger
}

// Registrar registers a region and keeps it alive.
type Registrar struct {
	cfg    Config
	client controlplanev1connect.RegionServiceClient
}

// New validates cfg and returns a Registrar. With no ControlPlaneURL it
// returns one whose Run does nothing.
func New(cfg Config) (*Registrar, error) {
	cfg.HeartbeatInterval = cmp.Or(cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	cfg.CallTimeout = cmp.Or(cfg.CallTimeout, DefaultCallTimeout)
	cfg.UsagePerHeartbeat = cmp.Or(cfg.UsagePerHeartbeat, DefaultUsagePerHeartbeat)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	r := &Registrar{cfg: cfg}
	if cfg.ControlPlaneURL == "" {
		return r, nil
	}
	if u, err := url.Parse(cfg.ControlPlaneURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registration: control plane URL %q: want http(s)://host[:port]", cfg.ControlPlaneURL)
	}
	switch {
	case cfg.Region == "":
		return nil, errors.New("registration: no region name")
	case cfg.PublicURL == "":
		return nil, errors.New("registration: no public URL for the region")
	case cfg.RegionSecret == "":
		return nil, errors.New("registration: no region secret")
	}
	if cfg.HeartbeatInterval < 0 || cfg.CallTimeout < 0 || cfg.MinBackoff < 0 {
		return nil, errors.New("registration: intervals must not be negative")
	}
	if cfg.UsagePerHeartbeat < 0 {
		return nil, fmt.Errorf("registration: UsagePerHeartbeat %d is negative", cfg.UsagePerHeartbeat)
	}
	r.client = controlplanev1connect.NewRegionServiceClient(cfg.HTTPClient, cfg.ControlPlaneURL,
		connect.WithInterceptors(bearer(cfg.RegionSecret)))
	return r, nil
}

// Enabled reports whether a control plane URL is configured.
func (r *Registrar) Enabled() bool { return r.client != nil }

// Run registers the region, retrying with backoff until it works, then sends
// heartbeats until ctx ends. A heartbeat the control plane answers NotFound
// (it forgot the region) registers again. Run blocks: start it in its own
// goroutine and cancel ctx to stop it. With registration off it returns at
// once.
func (r *Registrar) Run(ctx context.Context) {
	if r.client == nil {
		return
	}
	log := r.cfg.Logger.With("region", r.cfg.Region, "control_plane", r.cfg.ControlPlaneURL)
	for ctx.Err() == nil {
		if !r.register(ctx, log) {
			return
		}
		if !r.heartbeat(ctx, log) {
			return
		}
	}
}

// register calls RegisterRegion until it succeeds (true) or ctx ends.
func (r *Registrar) register(ctx context.Context, log *slog.Logger) bool {
	backoff := r.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		_, err := r.client.RegisterRegion(cctx, connect.NewRequest(&controlplanev1.RegisterRegionRequest{
			Name: r.cfg.Region, PublicUrl: r.cfg.PublicURL,
		}))
		cancel()
		if err == nil {
			log.InfoContext(ctx, "region registered with the control plane", "public_url", r.cfg.PublicURL, "attempts", attempt)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.WarnContext(ctx, "registering the region failed; the data plane serves meanwhile",
			"error", err, "attempt", attempt, "retry_in", backoff)
		if !sleep(ctx, jitter(backoff)) {
			return false
		}
		backoff = min(backoff*2, r.cfg.MaxBackoff)
	}
}

// heartbeat sends heartbeats until ctx ends (false) or the control plane no
// longer knows the region (true: register again).
func (r *Registrar) heartbeat(ctx context.Context, log *slog.Logger) bool {
	t := time.NewTicker(r.cfg.HeartbeatInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		err := r.beat(ctx)
		switch {
		case err == nil:
			if failing {
				log.InfoContext(ctx, "heartbeats reach the control plane again")
				failing = false
			}
		case ctx.Err() != nil:
			return false
		case connect.CodeOf(err) == connect.CodeNotFound:
			log.WarnContext(ctx, "the control plane does not know the region; registering again", "error", err)
			return true
		case !failing:
			// Logged once per outage, not every interval.
			log.WarnContext(ctx, "heartbeat failed; the data plane serves meanwhile", "error", err)
			failing = true
		}
	}
}

// beat sends one heartbeat carrying the drained key usage, or as many as
// the usage needs at UsagePerHeartbeat each, stopping at the first failure.
// What was not delivered goes back to the source.
func (r *Registrar) beat(ctx context.Context) error {
	var used []apikeys.Usage
	if r.cfg.Usage != nil {
		used = r.cfg.Usage.DrainUsage()
	}
	for first := true; first || len(used) > 0; first = false {
		n := min(len(used), r.cfg.UsagePerHeartbeat)
		req := &controlplanev1.HeartbeatRequest{Name: r.cfg.Region, KeyUsage: make([]*controlplanev1.KeyUsage, n)}
		for i, u := range used[:n] {
			req.KeyUsage[i] = &controlplanev1.KeyUsage{KeyId: u.KeyID, LastUsedAt: timestamppb.New(u.LastUsedAt)}
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		_, err := r.client.Heartbeat(cctx, connect.NewRequest(req))
		cancel()
		if err != nil {
			if len(used) > 0 {
				r.cfg.Usage.RestoreUsage(used)
			}
			return err
		}
		used = used[n:]
	}
	return nil
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// bearer adds the region secret to every call.
func bearer(secret string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+secret)
			return next(ctx, req)
		}
	}
}
