package registration_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.uber.org/goleak"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/registration"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds waiting for something that must happen; reaching it fails
// the test. It asserts nothing about speed.
const waitFor = 10 * time.Second

const secret = "region-secret-for-tests"

// regions is a stand-in for the control plane's RegionService that records
// what it is told and fails on demand. The real control plane cannot be
// imported by the data plane.
type regions struct {
	controlplanev1connect.UnimplementedRegionServiceHandler

	mu            sync.Mutex
	registers     []*controlplanev1.RegisterRegionRequest
	heartbeats    int
	badAuth       int
	failRegisters int  // fail this many RegisterRegion calls with Unavailable
	forget        bool // answer the next heartbeat NotFound
	down          bool // answer every call Unavailable
	// failBeats says, by the heartbeat's number from 0, which heartbeats
	// fail with Unavailable.
	failBeats []bool
	beats     int                          // heartbeats received, failed or not
	usage     [][]*controlplanev1.KeyUsage // key usage of each successful heartbeat
}

func (s *regions) auth(h http.Header) error {
	if h.Get("Authorization") != "Bearer "+secret {
		s.badAuth++
		return connect.NewError(connect.CodeUnauthenticated, errors.New("wrong region secret"))
	}
	return nil
}

func (s *regions) RegisterRegion(_ context.Context, req *connect.Request[controlplanev1.RegisterRegionRequest]) (*connect.Response[controlplanev1.RegisterRegionResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.auth(req.Header()); err != nil {
		return nil, err
	}
	s.registers = append(s.registers, req.Msg)
	if s.down {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("down"))
	}
	if s.failRegisters > 0 {
		s.failRegisters--
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("control plane starting"))
	}
	return connect.NewResponse(&controlplanev1.RegisterRegionResponse{Region: &controlplanev1.Region{Name: req.Msg.Name, PublicUrl: req.Msg.PublicUrl}}), nil
}

func (s *regions) Heartbeat(_ context.Context, req *connect.Request[controlplanev1.HeartbeatRequest]) (*connect.Response[controlplanev1.HeartbeatResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.auth(req.Header()); err != nil {
		return nil, err
	}
	if s.down {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("down"))
	}
	if req.Msg.Name != "eu-test" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("wrong region"))
	}
	if s.forget {
		s.forget = false
		return nil, connect.NewError(connect.CodeNotFound, errors.New("unknown region"))
	}
	n := s.beats
	s.beats++
	if n < len(s.failBeats) && s.failBeats[n] {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("heartbeat lost"))
	}
	s.heartbeats++
	s.usage = append(s.usage, req.Msg.KeyUsage)
	return connect.NewResponse(&controlplanev1.HeartbeatResponse{}), nil
}

func (s *regions) snapshot() (registers, successfulHeartbeats, badAuth int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.registers), s.heartbeats, s.badAuth
}

func (s *regions) set(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

func startControlPlane(t *testing.T, s *regions) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewRegionServiceHandler(s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// start runs r until the test ends.
func start(t *testing.T, r *registration.Registrar) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Error("Run did not return after its context ended")
		}
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func config(url string) registration.Config {
	return registration.Config{
		ControlPlaneURL:   url,
		Region:            "eu-test",
		PublicURL:         "https://eu-test.example.com",
		RegionSecret:      secret,
		HeartbeatInterval: 10 * time.Millisecond,
		MinBackoff:        time.Millisecond,
		MaxBackoff:        20 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	}
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	scenarios := []struct {
		name  string
		setup func(*regions)
		// during runs after the region registered; it may change the
		// control plane's behaviour and wait for the effect.
		during        func(t *testing.T, s *regions)
		minRegisters  int
		minHeartbeats int
	}{
		{name: "registers then heartbeats", minRegisters: 1, minHeartbeats: 3},
		{name: "retries until the control plane answers",
			setup:        func(s *regions) { s.failRegisters = 4 },
			minRegisters: 5, minHeartbeats: 2},
		{name: "registers again when the control plane forgets the region",
			during: func(t *testing.T, s *regions) {
				s.set(func() { s.forget = true })
				eventually(t, "a second registration", func() bool { r, _, _ := s.snapshot(); return r >= 2 })
			},
			minRegisters: 2, minHeartbeats: 2},
		{name: "keeps heartbeating through an outage",
			during: func(t *testing.T, s *regions) {
				_, before, _ := s.snapshot()
				s.set(func() { s.down = true })
				time.Sleep(50 * time.Millisecond)
				s.set(func() { s.down = false })
				eventually(t, "heartbeats after the outage", func() bool { _, h, _ := s.snapshot(); return h >= before+2 })
			},
			minRegisters: 1, minHeartbeats: 2},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			s := &regions{}
			if sc.setup != nil {
				sc.setup(s)
			}
			r, err := registration.New(config(startControlPlane(t, s)))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Enabled() {
				t.Fatal("registration is off with a control plane URL")
			}
			start(t, r)
			eventually(t, "registered and heartbeating", func() bool { _, h, _ := s.snapshot(); return h >= 1 })
			if sc.during != nil {
				sc.during(t, s)
			}
			eventually(t, "enough heartbeats", func() bool {
				reg, h, _ := s.snapshot()
				return reg >= sc.minRegisters && h >= sc.minHeartbeats
			})
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, req := range s.registers {
				if req.Name != "eu-test" || req.PublicUrl != "https://eu-test.example.com" {
					t.Errorf("registered %v", req)
				}
			}
			if s.badAuth != 0 {
				t.Errorf("%d calls without the region secret", s.badAuth)
			}
		})
	}
}

// Run does not hold up the node: it returns as soon as its context ends,
// even while the control plane is unreachable and it is backing off.
func TestRunStopsWhileUnreachable(t *testing.T) {
	t.Parallel()
	s := &regions{down: true}
	cfg := config(startControlPlane(t, s))
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	r, err := registration.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	eventually(t, "a first attempt", func() bool { reg, _, _ := s.snapshot(); return reg == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Run kept backing off after its context ended")
	}
}

func TestOffWithoutControlPlaneURL(t *testing.T) {
	t.Parallel()
	r, err := registration.New(registration.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Enabled() {
		t.Fatal("enabled without a URL")
	}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(t.Context()) }()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Run blocked with registration off")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*registration.Config){
		"URL without scheme": func(c *registration.Config) { c.ControlPlaneURL = "controlplane:7070" },
		"ftp URL":            func(c *registration.Config) { c.ControlPlaneURL = "ftp://controlplane" },
		"no region":          func(c *registration.Config) { c.Region = "" },
		"no public URL":      func(c *registration.Config) { c.PublicURL = "" },
		"no secret":          func(c *registration.Config) { c.RegionSecret = "" },
		"negative interval":  func(c *registration.Config) { c.HeartbeatInterval = -time.Second },
		"negative usage cap": func(c *registration.Config) { c.UsagePerHeartbeat = -1 },
	} {
		cfg := config("http://127.0.0.1:1")
		edit(&cfg)
		if _, err := registration.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// source is a registration.UsageSource in memory, as apikeys.Keys is one.
type source struct {
	mu       sync.Mutex
	m        map[string]time.Time
	restores int
}

func (u *source) add(list ...apikeys.Usage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]time.Time{}
	}
	for _, x := range list {
		if t, ok := u.m[x.KeyID]; !ok || x.LastUsedAt.After(t) {
			u.m[x.KeyID] = x.LastUsedAt
		}
	}
}

func (u *source) DrainUsage() []apikeys.Usage {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []apikeys.Usage
	for id, t := range u.m {
		out = append(out, apikeys.Usage{KeyID: id, LastUsedAt: t})
	}
	clear(u.m)
	return out
}

func (u *source) RestoreUsage(list []apikeys.Usage) {
	u.mu.Lock()
	u.restores++
	u.mu.Unlock()
	u.add(list...)
}

func (u *source) pending() (n, restores int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.m), u.restores
}

// Heartbeats carry the key usage drained from Config.Usage, at most
// UsagePerHeartbeat entries each; what a failed heartbeat carried goes back
// to the source and arrives later, once.
func TestHeartbeatsCarryKeyUsage(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	var all []apikeys.Usage
	for i := range 25 {
		all = append(all, apikeys.Usage{KeyID: fmt.Sprintf("key-%02d", i), LastUsedAt: base.Add(time.Duration(i) * time.Second)})
	}
	for _, sc := range []struct {
		name      string
		failBeats []bool
		restores  int // at least
	}{
		{name: "delivered in chunks"},
		// The first heartbeat of a tick gets through; the rest of that
		// tick's usage is restored, and so is the next tick's.
		{name: "restored after failed heartbeats", failBeats: []bool{false, true, true}, restores: 2},
		{name: "restored after an outage", failBeats: []bool{true, true, true, true, true}, restores: 5},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			s := &regions{failBeats: sc.failBeats}
			src := &source{}
			src.add(all...)
			cfg := config(startControlPlane(t, s))
			cfg.Usage, cfg.UsagePerHeartbeat = src, 10
			r, err := registration.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			start(t, r)
			eventually(t, "all usage delivered", func() bool {
				n, restores := src.pending()
				s.mu.Lock()
				defer s.mu.Unlock()
				got := 0
				for _, u := range s.usage {
					got += len(u)
				}
				return n == 0 && restores >= sc.restores && got >= len(all)
			})
			s.mu.Lock()
			defer s.mu.Unlock()
			got := map[string]time.Time{}
			for _, beat := range s.usage {
				if len(beat) > 10 {
					t.Errorf("a heartbeat carried %d key uses, over UsagePerHeartbeat", len(beat))
				}
				for _, u := range beat {
					if _, dup := got[u.GetKeyId()]; dup {
						t.Errorf("%s delivered twice", u.GetKeyId())
					}
					got[u.GetKeyId()] = u.GetLastUsedAt().AsTime()
				}
			}
			if len(got) != len(all) {
				t.Errorf("delivered %d keys' usage, want %d", len(got), len(all))
			}
			for _, u := range all {
				if at, ok := got[u.KeyID]; !ok || !at.Equal(u.LastUsedAt) {
					t.Errorf("%s: delivered %v, want %v", u.KeyID, at, u.LastUsedAt)
				}
			}
		})
	}
}
