package broker_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/broker"
)

// A subscription that ends (here: its reader fell behind) is followed by
// Down, then a new subscription and Up, and later messages arrive again.
func TestFollowSubscribesAgain(t *testing.T) {
	b := broker.NewMemory()
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu       sync.Mutex
		ups      int
		downs    int
		got      []string
		gate     = make(chan struct{})
		upped    = make(chan struct{}, 8)
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		broker.Follow(ctx, b, "c", broker.Follower{
			Name: "test", MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler),
			Up: func() {
				mu.Lock()
				ups++
				mu.Unlock()
				upped <- struct{}{}
			},
			Down: func() { mu.Lock(); downs++; mu.Unlock() },
			Message: func(m broker.Message) {
				if string(m.Payload) == "first" {
					<-gate
				}
				mu.Lock()
				got = append(got, string(m.Payload))
				mu.Unlock()
			},
		})
	}()
	<-upped
	publish := func(s string) {
		if err := b.Publish(ctx, "c", []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	publish("first")
	for range broker.SubscriptionBuffer + 10 {
		publish("flood")
	}
	close(gate)
	select {
	case <-upped:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not subscribe again after its subscription ended")
	}
	publish("after")
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		last := ""
		if len(got) > 0 {
			last = got[len(got)-1]
		}
		mu.Unlock()
		if last == "after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a message published after resubscribing never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-finished
	mu.Lock()
	defer mu.Unlock()
	if ups != 2 || downs != 2 {
		t.Fatalf("Up ran %d times and Down %d times, want 2 and 2 (the second Down when ctx ended)", ups, downs)
	}
}
