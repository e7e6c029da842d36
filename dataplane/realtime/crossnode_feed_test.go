package realtime_test

import (
	"context"
	"log/slog"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/valkeyproc"
)

// Two nodes share one private Valkey: a write on node A reaches a
// subscriber on node B through a poke (the hubs' polling is set to an
// hour, so nothing else could carry it). Valkey killed and restarted
// mid-stream: node B subscribes again, catches up, and nothing is lost.
func TestCrossNodeAndValkeyRestart(t *testing.T) {
	t.Parallel()
	if _, err := valkeyproc.FindBinary(); err != nil {
		t.Fatal("this test kills and restarts a private Valkey; install valkey-server or redis-server (make test does):", err)
	}
	dir := t.TempDir()
	ctx := t.Context()
	srv, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	prefix := testenv.KeyPrefix(t)
	nodeBroker := func() broker.Broker {
		b, err := broker.NewValkey(ctx, broker.ValkeyConfig{URL: srv.URL(), Prefix: prefix, DialTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	e := newFxEnv(t, realtime.FeedConfig{Broker: nodeBroker(), PollInterval: time.Hour})
	nodeB := e.newFeed(t, realtime.FeedConfig{Broker: nodeBroker(), PollInterval: time.Hour})
	sink, _ := fxSubscribe(t, nodeB, realtime.SubscribeParams{Identity: e.id, Collection: "items"})
	sink.waitFor("ready", func() bool { return sink.isRdy })

	// Node B's poke subscription may not be active yet: write until one
	// write reached it through a poke.
	written := 0
	deadline := time.Now().Add(fxWait)
	for {
		fxCreate(t, e, e.id, map[string]any{"n": float64(written)})
		written++
		reached := false
		for range 20 {
			sink.mu.Lock()
			reached = len(sink.chs) == written
			sink.mu.Unlock()
			if reached {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if reached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write on node A reached node B in %v", fxWait)
		}
	}

	// Kill Valkey, write on, start it again on the same port, write more.
	if err := syscall.Kill(srv.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.Wait()
	for i := range 50 {
		fxCreate(t, e, e.id, map[string]any{"n": float64(1000 + i)})
	}
	written += 50
	srv2, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: dir, Port: srv.Port(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv2.Stop(context.Background()) })
	for i := range 50 {
		fxCreate(t, e, e.id, map[string]any{"n": float64(2000 + i)})
	}
	written += 50
	sink.waitFor("every change on node B", func() bool { return len(sink.chs) >= written })
	log := fxLog(t, e)
	if len(sink.chs) != len(log) || len(log) != written {
		t.Fatalf("node B received %d changes, the database logged %d, written %d", len(sink.chs), len(log), written)
	}
	for i, c := range sink.chs {
		if c.Op != log[i].op || c.Cursor != itoa(log[i].pos) {
			t.Fatalf("change %d: %s at %s, the database has %s at %d", i, c.Op, c.Cursor, log[i].op, log[i].pos)
		}
	}
	if sink.ended {
		t.Errorf("node B's subscription ended: %v", sink.err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
