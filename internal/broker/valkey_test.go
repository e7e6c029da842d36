package broker_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/broker/brokertest"
	"github.com/sovereign-backend/sovereign/internal/freeport"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// waitFor bounds waiting for something that should happen; reaching it is a
// failure. It asserts nothing about speed.
const waitFor = 20 * time.Second

func newValkey(t *testing.T, url, prefix string) broker.Broker {
	t.Helper()
	b, err := broker.NewValkey(t.Context(), broker.ValkeyConfig{
		URL:    url,
		Prefix: prefix,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("NewValkey: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestValkey(t *testing.T) {
	url := testenv.ValkeyURL(t)
	leakCheck(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newValkey(t, url, testenv.KeyPrefix(t))
	})
}

// Brokers sharing a prefix are nodes of one data plane: what one publishes,
// subscribers on every node receive.
func TestValkeyFanOutAcrossNodes(t *testing.T) {
	url := testenv.ValkeyURL(t)
	leakCheck(t)
	prefix := testenv.KeyPrefix(t)
	node1, node2 := newValkey(t, url, prefix), newValkey(t, url, prefix)
	ctx := t.Context()
	var subs []broker.Subscription
	for _, b := range []broker.Broker{node1, node2} {
		sub, err := b.Subscribe(ctx, "posts")
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		defer sub.Close()
		subs = append(subs, sub)
	}
	if err := node1.Publish(ctx, "posts", []byte("hi")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for i, sub := range subs {
		m := recv(t, sub)
		if m.Channel != "posts" || string(m.Payload) != "hi" {
			t.Fatalf("node %d got %q on %q, want %q on %q", i+1, m.Payload, m.Channel, "hi", "posts")
		}
	}
}

// The server is subscribed to a channel while some local subscription needs
// it, once per broker, and unsubscribed after the last one ends.
func TestValkeyServerSubscriptions(t *testing.T) {
	url := testenv.ValkeyURL(t)
	leakCheck(t)
	prefix := testenv.KeyPrefix(t)
	b := newValkey(t, url, prefix)
	admin := adminClient(t, url)
	ctx := t.Context()
	numsub := func() int64 {
		t.Helper()
		m, err := admin.Do(ctx, admin.B().PubsubNumsub().Channel(prefix+"a").Build()).AsIntMap()
		if err != nil {
			t.Fatalf("PUBSUB NUMSUB: %v", err)
		}
		return m[prefix+"a"]
	}

	s1, err := b.Subscribe(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.Subscribe(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if n := numsub(); n != 1 {
		t.Fatalf("server counts %d subscribers of the channel, want 1 (one connection per broker)", n)
	}
	s1.Close()
	if err := b.Publish(ctx, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s2); string(m.Payload) != "x" {
		t.Fatalf("got %q", m.Payload)
	}
	if n := numsub(); n != 1 {
		t.Fatalf("after one of two subscriptions ended the server counts %d subscribers, want 1", n)
	}
	s2.Close()
	deadline := time.Now().Add(waitFor)
	for numsub() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("server still subscribed %v after the last subscription ended", waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestValkeyBadURL(t *testing.T) {
	leakCheck(t)
	for _, url := range []string{
		"",
		"http://user:s3cret@127.0.0.1:6379",
		"redis://user:s3cret@127.0.0.1:notaport",
		"redis://user:s3cret@127.0.0.1:6379/notadb",
		"redis://user:s3cret@[::1",
		"unix://user:s3cret@/tmp/valkey.sock",
	} {
		_, err := broker.NewValkey(t.Context(), broker.ValkeyConfig{URL: url})
		if err == nil {
			t.Errorf("NewValkey(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NewValkey(%q): error shows the password: %v", url, err)
		}
	}
}

// A server that is not there makes NewValkey fail, naming the address but
// not the password.
func TestValkeyServerDown(t *testing.T) {
	leakCheck(t)
	port, err := freeport.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	_, err = broker.NewValkey(t.Context(), broker.ValkeyConfig{URL: "redis://user:s3cret@" + addr})
	checkConnectErr(t, err, addr)
}

// A server that accepts connections but never answers must not hold
// NewValkey past DialTimeout.
func TestValkeyServerHung(t *testing.T) {
	leakCheck(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range held {
			c.Close()
		}
	})
	addr := l.Addr().String()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := broker.NewValkey(context.Background(), broker.ValkeyConfig{
			URL:         "redis://:s3cret@" + addr,
			DialTimeout: 200 * time.Millisecond,
		})
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("NewValkey gave up after %v: %v", time.Since(start), err)
		checkConnectErr(t, err, addr)
	case <-time.After(waitFor):
		t.Fatalf("NewValkey still waiting for a silent server after %v", waitFor)
	}
}

func checkConnectErr(t *testing.T, err error, addr string) {
	t.Helper()
	if err == nil {
		t.Fatal("NewValkey succeeded without a server")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error does not name the address %s: %v", addr, err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
}

// The broker outlives a restart of its server: Ping fails while the server
// is gone and succeeds again once it is back, subscriptions that were cut off
// say so, and new ones work.
func TestValkeyServerRestart(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	b := newValkey(t, srv.url(), "restart:")
	ctx := t.Context()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping with the server up: %v", err)
	}
	cut, err := b.Subscribe(ctx, "a")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	srv.stop(t)
	start := time.Now()
	if err := b.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the server stopped")
	} else if !strings.Contains(err.Error(), srv.addr) {
		t.Errorf("Ping error does not name the address %s: %v", srv.addr, err)
	} else {
		t.Logf("Ping with the server stopped failed after %v: %v", time.Since(start), err)
	}
	if err := b.Publish(ctx, "a", []byte("lost")); err == nil {
		t.Error("Publish succeeded with the server stopped")
	}
	for {
		if _, ok := recvOrClosed(t, cut); !ok {
			break
		}
	}
	if err := cut.Err(); !errors.Is(err, broker.ErrDisconnected) {
		t.Fatalf("Err of a subscription cut off by the restart = %v, want ErrDisconnected", err)
	}
	if _, err := b.Subscribe(ctx, "a"); err == nil {
		t.Error("Subscribe succeeded with the server stopped")
	} else if !strings.Contains(err.Error(), srv.addr) {
		t.Errorf("Subscribe error does not name the address %s: %v", srv.addr, err)
	}

	srv.start(t)
	deadline := time.Now().Add(waitFor)
	for {
		err := b.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping still failing %v after the server came back: %v", waitFor, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sub, err := b.Subscribe(ctx, "a")
	if err != nil {
		t.Fatalf("Subscribe after the restart: %v", err)
	}
	defer sub.Close()
	if err := b.Publish(ctx, "a", []byte("back")); err != nil {
		t.Fatalf("Publish after the restart: %v", err)
	}
	if m := recv(t, sub); string(m.Payload) != "back" {
		t.Fatalf("got %q after the restart", m.Payload)
	}
}

// server is a private redis-server (or valkey-server) for tests that stop
// and start it.
type server struct {
	bin  string
	dir  string
	addr string
	port int
	cmd  *exec.Cmd
}

func startServer(t *testing.T) *server {
	t.Helper()
	var bin string
	for _, name := range []string{"valkey-server", "redis-server"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("this test starts its own server and needs valkey-server or redis-server on PATH; install valkey or redis")
	}
	port, err := freeport.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{bin: bin, dir: t.TempDir(), port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.start(t)
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop(t)
		}
	})
	return s
}

func (s *server) url() string { return "redis://" + s.addr }

func (s *server) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.bin, err)
	}
	// Read the log until the server is ready, then keep draining it.
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent && strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			s.cmd.Wait()
			t.Fatalf("%s on port %d exited before it was ready", s.bin, s.port)
		}
	case <-time.After(waitFor):
		t.Fatalf("%s on port %d not ready after %v", s.bin, s.port, waitFor)
	}
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", s.bin, err)
	}
	_ = s.cmd.Wait() // also ends the log reader
	s.cmd = nil
}

func adminClient(t *testing.T, url string) valkey.Client {
	t.Helper()
	opt, err := valkey.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := valkey.NewClient(opt)
	if err != nil {
		t.Fatalf("connect admin client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func recv(t *testing.T, sub broker.Subscription) broker.Message {
	t.Helper()
	m, ok := recvOrClosed(t, sub)
	if !ok {
		t.Fatalf("subscription ended (Err %v), want a message", sub.Err())
	}
	return m
}

func recvOrClosed(t *testing.T, sub broker.Subscription) (broker.Message, bool) {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		return m, ok
	case <-time.After(waitFor):
		t.Fatalf("nothing received within %v", waitFor)
		return broker.Message{}, false
	}
}
