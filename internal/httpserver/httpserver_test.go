package httpserver_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/sovereign-backend/sovereign/internal/httpserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves mux with cfg on a loopback port and returns its base URL and a
// function that shuts it down and returns Serve's error.
func start(t *testing.T, cfg httpserver.Config, mux *http.ServeMux) (string, func() error) {
	t.Helper()
	if cfg.Registry == nil {
		cfg.Registry = httpserver.NewRegistry()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := httpserver.New(cfg, mux)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	var once bool
	var serveErr error
	stop := func() error {
		if !once {
			once = true
			cancel()
			serveErr = <-errc
		}
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
}

func TestRequestIDIsEchoedOrMinted(t *testing.T) {
	var logs bytes.Buffer
	mux := http.NewServeMux()
	var seen string
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		seen = httpserver.RequestID(r.Context())
		httpserver.Logger(r.Context()).Info("inside")
	})
	base, stop := start(t, httpserver.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, mux)
	c := newClient()

	req, _ := http.NewRequest("GET", base+"/x", nil)
	req.Header.Set(httpserver.RequestIDHeader, "abc-123")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(httpserver.RequestIDHeader); got != "abc-123" || seen != "abc-123" {
		t.Fatalf("plain client id: header %q, handler saw %q; want abc-123", got, seen)
	}

	req, _ = http.NewRequest("GET", base+"/x", nil)
	req.Header.Set(httpserver.RequestIDHeader, "evil\"id with spaces")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Get(httpserver.RequestIDHeader)
	if got == "" || strings.Contains(got, " ") || got != seen {
		t.Fatalf("unsafe client id should be replaced by a fresh one: header %q, handler saw %q", got, seen)
	}
	_ = stop()
	if !strings.Contains(logs.String(), `"request_id":"abc-123"`) || !strings.Contains(logs.String(), `"msg":"inside"`) {
		t.Fatalf("logs lack the request id on the handler's line:\n%s", logs.String())
	}
}

func TestMetricsByRoutePatternAndErrors(t *testing.T) {
	reg := httpserver.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "bad" {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	})
	base, _ := start(t, httpserver.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler)}, mux)
	c := newClient()
	for _, id := range []string{"1", "2", "bad"} {
		resp, err := c.Get(base + "/items/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`sovereign_http_requests_total{code="200",method="GET",route="GET /items/{id}"} 2`,
		`sovereign_http_requests_total{code="500",method="GET",route="GET /items/{id}"} 1`,
		`sovereign_http_request_errors_total{method="GET",route="GET /items/{id}"} 1`,
		`sovereign_http_request_duration_seconds_count{method="GET",route="GET /items/{id}"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if n := testutil.CollectAndCount(reg, "sovereign_http_requests_total"); n < 2 {
		t.Errorf("want at least 2 request series, got %d", n)
	}
}

func TestBodyLimit(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("POST /own/echo", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprint(w, n)
	})
	base, _ := start(t, httpserver.Config{MaxBodyBytes: 16, OwnBodyLimits: []string{"/own/"}, Logger: slog.New(slog.DiscardHandler)}, mux)
	c := newClient()
	cases := []struct {
		name, path string
		body       io.Reader
		want       int
	}{
		{"at the limit", "/echo", strings.NewReader(strings.Repeat("a", 16)), 200},
		{"declared length over the limit", "/echo", strings.NewReader(strings.Repeat("a", 17)), 413},
		{"chunked body over the limit", "/echo", io.MultiReader(strings.NewReader(strings.Repeat("a", 17))), 413},
		// Handlers with limits of their own see the whole body.
		{"own limit, declared length", "/own/echo", strings.NewReader(strings.Repeat("a", 1000)), 200},
		{"own limit, chunked", "/own/echo", io.MultiReader(strings.NewReader(strings.Repeat("a", 1000))), 200},
	}
	for _, tc := range cases {
		resp, err := c.Post(base+tc.path, "text/plain", tc.body)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	var logs bytes.Buffer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("handler bug") })
	base, _ := start(t, httpserver.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, mux)
	resp, err := newClient().Get(base + "/panic")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || strings.Contains(string(body), "handler bug") {
		t.Fatalf("status %d body %q: want 500 without the panic value", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "handler bug") {
		t.Fatal("the panic is not logged")
	}
}

// A request in flight when shutdown starts completes; Serve returns nil.
func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	mux.HandleFunc("GET /ping", func(http.ResponseWriter, *http.Request) {})
	base, stop := start(t, httpserver.Config{Logger: slog.New(slog.DiscardHandler)}, mux)
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := newClient().Get(base + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{string(b), err}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := newClient().Get(base + "/ping")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts new requests during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	r := <-done
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: body %q err %v; want it to finish", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve after a clean drain: %v", err)
	}
}
