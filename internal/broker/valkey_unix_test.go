//go:build unix

package broker_test

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// A server that stops answering without closing its connections (here:
// stopped with SIGSTOP) makes Ping fail within PingTimeout rather than hang,
// however long the caller's context allows; it answers again once the server
// resumes.
func TestValkeyServerUnresponsive(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	b := newValkey(t, srv.url(), "unresponsive:")
	if err := b.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with the server up: %v", err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	defer resume()

	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- b.Ping(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Ping succeeded with the server stopped")
		}
		t.Logf("Ping failed after %v: %v", time.Since(start), err)
	case <-time.After(waitFor):
		t.Fatalf("Ping still waiting for an unresponsive server after %v", waitFor)
	}

	resume()
	deadline := time.Now().Add(waitFor)
	for {
		err := b.Ping(t.Context())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping still failing %v after the server resumed: %v", waitFor, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
