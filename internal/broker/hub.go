package broker

import (
	"bytes"
	"context"
	"sync"
)

// hub is the in-process fan-out both brokers deliver through: it holds the
// local subscriptions by channel and hands each message to their buffers
// without ever waiting for a reader.
//
// Every send on and close of a subscription's channel happens under mu, so a
// send never meets a closed channel.
type hub struct {
	// onIdle, if set, is called (with mu held, so it must not block or call
	// back into the hub) when a channel loses its last subscriber.
	onIdle func()

	mu     sync.Mutex
	closed bool
	byChan map[string]map[*subscription]struct{}
}

func newHub(onIdle func()) *hub {
	return &hub{onIdle: onIdle, byChan: make(map[string]map[*subscription]struct{})}
}

// subscribe registers a new active subscription to channels, which must be
// valid and free of duplicates.
func (h *hub) subscribe(channels []string) (*subscription, error) {
	s := &subscription{hub: h, channels: channels, ch: make(chan Message, SubscriptionBuffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	for _, c := range channels {
		set := h.byChan[c]
		if set == nil {
			set = make(map[*subscription]struct{})
			h.byChan[c] = set
		}
		set[s] = struct{}{}
	}
	return s, nil
}

// watch ends s with ctx.Err() when ctx ends.
func (s *subscription) watch(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.hub.end(s, ctx.Err()) })
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if s.err != nil {
		stop()
		return
	}
	s.stopWatch = stop
}

// deliver hands a copy of payload to every subscription of channel. It
// reports ErrClosed after close.
func (h *hub) deliver(channel string, payload []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	for s := range h.byChan[channel] {
		select {
		case s.ch <- Message{Channel: channel, Payload: bytes.Clone(payload)}:
		default:
			h.endLocked(s, ErrSlowConsumer)
		}
	}
	return nil
}

// active reports whether channel has a subscriber.
func (h *hub) active(channel string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byChan[channel]) > 0
}

// end ends s with err unless it has ended already.
func (h *hub) end(s *subscription, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endLocked(s, err)
}

func (h *hub) endLocked(s *subscription, err error) {
	if s.err != nil {
		return
	}
	s.err = err
	if s.stopWatch != nil {
		s.stopWatch()
	}
	idle := false
	for _, c := range s.channels {
		set := h.byChan[c]
		delete(set, s)
		if len(set) == 0 {
			delete(h.byChan, c)
			idle = true
		}
	}
	close(s.ch)
	if idle && h.onIdle != nil {
		h.onIdle()
	}
}

// endAll ends every subscription with err; with closing set, the hub also
// refuses new subscriptions and deliveries from then on.
func (h *hub) endAll(err error, closing bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if closing {
		h.closed = true
	}
	for _, set := range h.byChan {
		for s := range set {
			h.endLocked(s, err)
		}
	}
}

func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// subscription implements Subscription for both brokers.
type subscription struct {
	hub      *hub
	channels []string
	ch       chan Message

	// Guarded by hub.mu.
	err       error       // why it ended; nil while active
	stopWatch func() bool // unregisters the context watch
}

func (s *subscription) C() <-chan Message { return s.ch }

func (s *subscription) Close() error {
	s.hub.end(s, ErrUnsubscribed)
	return nil
}

func (s *subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}
