package freeport_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/sovereign-backend/sovereign/internal/freeport"
)

func TestPickAssigned(t *testing.T) {
	t.Parallel()
	port, err := freeport.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("Pick(0) = %d, want a port in 1-65535", port)
	}
	// The port must really be free for the caller.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listen on picked port %d: %v", port, err)
	}
	l.Close()
}

func TestPickPreferredFree(t *testing.T) {
	t.Parallel()
	// Find a port that is free, then ask for it by name.
	want, err := freeport.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := freeport.Pick(want)
	if err != nil {
		t.Fatal(err)
	}
	// Another test process could take the port in between; that is the only
	// way got can differ, and then it must still be a usable port.
	if got != want {
		t.Logf("preferred port %d was taken meanwhile; got %d", want, got)
	}
}

func TestPickPreferredBusy(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port

	got, err := freeport.Pick(busy)
	if err != nil {
		t.Fatal(err)
	}
	if got == busy {
		t.Fatalf("Pick(%d) returned the port a listener holds", busy)
	}
	if got <= 0 || got > 65535 {
		t.Fatalf("Pick(%d) = %d, want a port in 1-65535", busy, got)
	}
}

func TestPickOutOfRange(t *testing.T) {
	t.Parallel()
	for _, preferred := range []int{-1, 70000} {
		got, err := freeport.Pick(preferred)
		if err != nil {
			t.Fatal(err)
		}
		if got <= 0 || got > 65535 {
			t.Fatalf("Pick(%d) = %d, want a port in 1-65535", preferred, got)
		}
	}
}
