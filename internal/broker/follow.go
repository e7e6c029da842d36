package broker

import (
	"cmp"
	"context"
	"log/slog"
	mathrand "math/rand/v2"
	"time"
)

// Follower says what Follow does with a channel's messages and its
// subscription's ups and downs.
type Follower struct {
	// Name starts the log lines, e.g. "API key invalidations".
	Name string
	// Meanwhile ends the warning of a failed subscribe: what happens while
	// there is no subscription ("keys are looked up in the database
	// meanwhile").
	Meanwhile string
	// Ended ends the warning of a subscription that ended: what Down did
	// and that Follow subscribes again ("cache flushed, subscribing
	// again").
	Ended string
	// Up runs when a subscription has become active, before its first
	// message. Optional.
	Up func()
	// Message handles one message. Required.
	Message func(Message)
	// Down runs when an active subscription has ended (also when ctx
	// ended it), before Follow subscribes again. Optional.
	Down func()
	// MinBackoff and MaxBackoff bound the wait before subscribing again:
	// it starts at MinBackoff, doubles after each failure up to
	// MaxBackoff, and starts over after a subscription that lasted longer
	// than MaxBackoff; each wait is jittered ±20%. Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Logger gets the warnings. Default slog.Default().
	Logger *slog.Logger
}

// Follow subscribes to channel on b and hands every message to f.Message
// until ctx ends. When subscribing fails or the subscription ends (see
// the package's Delivery: a subscription that can no longer promise every
// message ends), it calls f.Down, waits with backoff and subscribes again,
// calling f.Up once the new subscription is active: consumers that cache
// use Up and Down to trust their cache only while they hear every
// invalidation. Call it in its own goroutine.
func Follow(ctx context.Context, b Broker, channel string, f Follower) {
	minBack := cmp.Or(f.MinBackoff, 100*time.Millisecond)
	maxBack := cmp.Or(f.MaxBackoff, 5*time.Second)
	log := cmp.Or(f.Logger, slog.Default())
	backoff := minBack
	for ctx.Err() == nil {
		sub, err := b.Subscribe(ctx, channel)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.WarnContext(ctx, f.Name+": subscribe failed; "+f.Meanwhile, "error", err, "retry_in", backoff)
			if !Sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, maxBack)
			continue
		}
		if f.Up != nil {
			f.Up()
		}
		started := time.Now()
		for m := range sub.C() {
			f.Message(m)
		}
		if f.Down != nil {
			f.Down()
		}
		_ = sub.Close()
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, f.Name+": subscription ended; "+f.Ended, "error", sub.Err())
		if time.Since(started) > maxBack {
			backoff = minBack
		}
		if !Sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, maxBack)
	}
}

// Sleep waits d with ±20% jitter, or until ctx ends (false).
func Sleep(ctx context.Context, d time.Duration) bool {
	d = time.Duration(float64(d) * (0.8 + 0.4*mathrand.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
