// Package brokertest is the conformance suite every broker.Broker
// implementation passes; each implementation's tests call Run.
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/broker"
)

// waitFor bounds how long a test waits for something that should happen;
// reaching it is a failure, never a pass. It is generous on purpose: the
// suite asserts what happens, not how fast.
const waitFor = 20 * time.Second

// Run runs the suite. newBroker must return a broker isolated from every
// other one it returns (for Valkey: a fresh Prefix) and close it when t ends;
// tests call it from parallel subtests.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	t.Helper()

	t.Run("PublishSubscribe", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		sub := subscribe(t, b, "a")
		payloads := [][]byte{[]byte("hello"), {0, 0xff, '\n', 0}, {}}
		for _, p := range payloads {
			publish(t, b, "a", p)
		}
		for _, p := range payloads {
			m := recv(t, sub)
			if m.Channel != "a" || !bytes.Equal(m.Payload, p) {
				t.Fatalf("got %q on %q, want %q on %q", m.Payload, m.Channel, p, "a")
			}
		}
	})

	t.Run("OrderPerPublisher", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		sub := subscribe(t, b, "a")
		const n = 200 // below SubscriptionBuffer: nobody reads until the end
		for i := range n {
			publish(t, b, "a", fmt.Appendf(nil, "%d", i))
		}
		for i := range n {
			if got, want := string(recv(t, sub).Payload), fmt.Sprint(i); got != want {
				t.Fatalf("message %d: got %q, want %q", i, got, want)
			}
		}
	})

	t.Run("MultipleSubscribers", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		subs := []broker.Subscription{subscribe(t, b, "a"), subscribe(t, b, "a"), subscribe(t, b, "a", "b")}
		publish(t, b, "a", []byte("x"))
		for i, sub := range subs {
			if m := recv(t, sub); string(m.Payload) != "x" {
				t.Fatalf("subscriber %d got %q, want x", i, m.Payload)
			}
		}
	})

	t.Run("MultipleChannels", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		sub := subscribe(t, b, "a", "b", "a") // duplicate: delivered once
		publish(t, b, "a", []byte("1"))
		publish(t, b, "b", []byte("2"))
		publish(t, b, "a", []byte("3"))
		for _, want := range []broker.Message{{Channel: "a", Payload: []byte("1")}, {Channel: "b", Payload: []byte("2")}, {Channel: "a", Payload: []byte("3")}} {
			if m := recv(t, sub); m.Channel != want.Channel || !bytes.Equal(m.Payload, want.Payload) {
				t.Fatalf("got %q on %q, want %q on %q", m.Payload, m.Channel, want.Payload, want.Channel)
			}
		}
	})

	t.Run("NoDeliveryAcrossChannels", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		sub := subscribe(t, b, "a")
		other := subscribe(t, b, "ab")
		publish(t, b, "b", []byte("wrong"))
		publish(t, b, "ab", []byte("wrong"))
		publish(t, b, "A", []byte("wrong"))
		// Delivery follows publish order, so had anything above leaked it
		// would arrive before this marker.
		publish(t, b, "a", []byte("marker"))
		if m := recv(t, sub); string(m.Payload) != "marker" {
			t.Fatalf("subscriber of a got %q on %q, want the marker", m.Payload, m.Channel)
		}
		if m := recv(t, other); m.Channel != "ab" {
			t.Fatalf("subscriber of ab got a message on %q", m.Channel)
		}
	})

	t.Run("NoDeliveryAcrossBrokers", func(t *testing.T) {
		t.Parallel()
		b1, b2 := newBroker(t), newBroker(t)
		sub := subscribe(t, b2, "a")
		publish(t, b1, "a", []byte("wrong"))
		publish(t, b2, "a", []byte("marker"))
		if m := recv(t, sub); string(m.Payload) != "marker" {
			t.Fatalf("got %q from another broker", m.Payload)
		}
	})

	t.Run("PayloadIsCopied", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		s1, s2 := subscribe(t, b, "a"), subscribe(t, b, "a")
		buf := []byte("original")
		publish(t, b, "a", buf)
		copy(buf, "XXXXXXXX")
		m1 := recv(t, s1)
		if string(m1.Payload) != "original" {
			t.Fatalf("got %q after the publisher reused its buffer", m1.Payload)
		}
		copy(m1.Payload, "YYYYYYYY")
		if m2 := recv(t, s2); string(m2.Payload) != "original" {
			t.Fatalf("second subscriber got %q after the first changed its copy", m2.Payload)
		}
	})

	t.Run("UnsubscribeByClose", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		gone, stays := subscribe(t, b, "a"), subscribe(t, b, "a")
		publish(t, b, "a", []byte("1"))
		if err := gone.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := gone.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if n := drain(t, gone); n > 1 {
			t.Fatalf("closed subscription delivered %d messages, want at most the 1 buffered", n)
		}
		if err := gone.Err(); !errors.Is(err, broker.ErrUnsubscribed) {
			t.Fatalf("Err = %v, want ErrUnsubscribed", err)
		}
		publish(t, b, "a", []byte("2"))
		if stays.Err() != nil {
			t.Fatalf("other subscription ended: %v", stays.Err())
		}
		for _, want := range []string{"1", "2"} {
			if m := recv(t, stays); string(m.Payload) != want {
				t.Fatalf("remaining subscriber got %q, want %q", m.Payload, want)
			}
		}
	})

	t.Run("UnsubscribeByContext", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		ctx, cancel := context.WithCancel(t.Context())
		gone, err := b.Subscribe(ctx, "a")
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		stays := subscribe(t, b, "a")
		cancel()
		drain(t, gone)
		if err := gone.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err = %v, want context.Canceled", err)
		}
		if err := gone.Close(); err != nil {
			t.Fatalf("Close after the context ended: %v", err)
		}
		if err := gone.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err after Close = %v, want still context.Canceled", err)
		}
		publish(t, b, "a", []byte("x"))
		if m := recv(t, stays); string(m.Payload) != "x" {
			t.Fatalf("remaining subscriber got %q", m.Payload)
		}
	})

	t.Run("ResubscribeAfterUnsubscribe", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		// Ending the last subscription of a channel and subscribing to it
		// again at once must leave the new subscription working, however
		// the implementation's unsubscribe bookkeeping interleaves.
		for i := range 20 {
			old := subscribe(t, b, "a")
			if err := old.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			sub := subscribe(t, b, "a")
			publish(t, b, "a", fmt.Appendf(nil, "%d", i))
			if m := recv(t, sub); string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("round %d: got %q", i, m.Payload)
			}
			if err := sub.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	})

	t.Run("BadArguments", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		ctx := t.Context()
		if _, err := b.Subscribe(ctx); err == nil {
			t.Error("Subscribe with no channels succeeded")
		}
		if _, err := b.Subscribe(ctx, "a", ""); err == nil {
			t.Error("Subscribe to an empty channel name succeeded")
		}
		if err := b.Publish(ctx, "", []byte("x")); err == nil {
			t.Error("Publish to an empty channel name succeeded")
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.Subscribe(done, "a"); !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe with an ended context: err = %v, want context.Canceled", err)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		if err := b.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})

	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		sub := subscribe(t, b, "a")
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		drain(t, sub)
		if err := sub.Err(); !errors.Is(err, broker.ErrClosed) {
			t.Fatalf("subscription Err = %v, want ErrClosed", err)
		}
		ctx := t.Context()
		if err := b.Ping(ctx); !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Ping after Close: %v, want ErrClosed", err)
		}
		if err := b.Publish(ctx, "a", nil); !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Publish after Close: %v, want ErrClosed", err)
		}
		if _, err := b.Subscribe(ctx, "a"); !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
		}
	})

	t.Run("SlowConsumer", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		slow := subscribe(t, b, "a")
		fast := subscribe(t, b, "a")
		// Publish in rounds the fast reader keeps up with, until the slow
		// one, which reads nothing, has been sent more than its buffer.
		const round = broker.SubscriptionBuffer / 2
		total := 0
		for total <= broker.SubscriptionBuffer {
			for i := range round {
				publish(t, b, "a", fmt.Appendf(nil, "%d", total+i))
			}
			for i := range round {
				if got, want := string(recv(t, fast).Payload), fmt.Sprint(total+i); got != want {
					t.Fatalf("fast subscriber: got %q, want %q", got, want)
				}
			}
			total += round
		}
		// The slow subscriber keeps what fitted, in order, then ends.
		for i := range broker.SubscriptionBuffer {
			m, ok := recvOrClosed(t, slow)
			if !ok {
				t.Fatalf("slow subscriber's channel closed after %d messages, want %d", i, broker.SubscriptionBuffer)
			}
			if got, want := string(m.Payload), fmt.Sprint(i); got != want {
				t.Fatalf("slow subscriber: got %q, want %q", got, want)
			}
		}
		if m, ok := recvOrClosed(t, slow); ok {
			t.Fatalf("slow subscriber got %q beyond its buffer", m.Payload)
		}
		if err := slow.Err(); !errors.Is(err, broker.ErrSlowConsumer) {
			t.Fatalf("slow subscriber Err = %v, want ErrSlowConsumer", err)
		}
		// Everyone else carries on.
		if err := fast.Err(); err != nil {
			t.Fatalf("fast subscriber ended: %v", err)
		}
		if err := b.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		again := subscribe(t, b, "a")
		publish(t, b, "a", []byte("after"))
		for _, sub := range []broker.Subscription{fast, again} {
			if m := recv(t, sub); string(m.Payload) != "after" {
				t.Fatalf("got %q, want after", m.Payload)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t)
		const publishers, each, readers = 4, 50, 3 // total stays below SubscriptionBuffer
		var subs []broker.Subscription
		for range readers {
			subs = append(subs, subscribe(t, b, "a"))
		}
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, publishers+readers+1)
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					if err := b.Publish(ctx, "a", fmt.Appendf(nil, "%d/%d", p, i)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		// Churn on another channel meanwhile.
		wg.Go(func() {
			for range 20 {
				s, err := b.Subscribe(ctx, "churn", "a")
				if err != nil {
					errs <- err
					return
				}
				_ = b.Ping(ctx)
				s.Close()
			}
		})
		for r, sub := range subs {
			wg.Go(func() {
				next := make([]int, publishers)
				for range publishers * each {
					var m broker.Message
					select {
					case m = <-sub.C():
					case <-time.After(waitFor):
						errs <- fmt.Errorf("reader %d: nothing received within %v (Err %v)", r, waitFor, sub.Err())
						return
					}
					var p, i int
					if _, err := fmt.Sscanf(string(m.Payload), "%d/%d", &p, &i); err != nil || p >= publishers || i != next[p] {
						errs <- fmt.Errorf("reader %d: got %q out of order (want %d from publisher %d)", r, m.Payload, next[min(p, publishers-1)], p)
						return
					}
					next[p]++
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func subscribe(t *testing.T, b broker.Broker, channels ...string) broker.Subscription {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), channels...)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", channels, err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func publish(t *testing.T, b broker.Broker, channel string, payload []byte) {
	t.Helper()
	if err := b.Publish(t.Context(), channel, payload); err != nil {
		t.Fatalf("Publish(%q): %v", channel, err)
	}
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

// drain reads sub until its channel is closed and returns how many messages
// were left in it.
func drain(t *testing.T, sub broker.Subscription) int {
	t.Helper()
	n := 0
	for {
		if _, ok := recvOrClosed(t, sub); !ok {
			return n
		}
		n++
	}
}
