package registration_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.uber.org/goleak"

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
	s.heartbeats++
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
	} {
		cfg := config("http://127.0.0.1:1")
		edit(&cfg)
		if _, err := registration.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
