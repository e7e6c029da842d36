package realtime_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// fxWriters runs workers writers that make total changes between them:
// creates, then updates and deletes of their own records, chosen by rng.
func fxWriters(t *testing.T, e *fxEnv, workers, total int, seed uint64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var mine []string
			ctx := context.Background()
			for i := range total / workers {
				switch k := rng.IntN(10); {
				case len(mine) == 0 || k < 5:
					r, err := e.svc.Create(ctx, e.id, records.CreateParams{Collection: "items", Record: map[string]any{"n": float64(i), "owner": strconv.Itoa(w)}})
					if err != nil {
						t.Error(err)
						return
					}
					mine = append(mine, r["id"].(string))
				case k < 8:
					id := mine[rng.IntN(len(mine))]
					if _, err := e.svc.Update(ctx, e.id, records.UpdateParams{Collection: "items", ID: id, Patch: map[string]any{"n": float64(-i)}}); err != nil {
						t.Error(err)
						return
					}
				default:
					j := rng.IntN(len(mine))
					if err := e.svc.Delete(ctx, e.id, records.DeleteParams{Collection: "items", ID: mine[j]}); err != nil {
						t.Error(err)
						return
					}
					mine = append(mine[:j], mine[j+1:]...)
				}
			}
		}()
	}
	return &wg
}

type fxLogged struct {
	pos int64
	op  string
}

// fxLog is the change log as the database holds it.
func fxLog(t *testing.T, e *fxEnv) []fxLogged {
	t.Helper()
	rows, err := e.d.Pool.Query(context.Background(), "SELECT pos, op FROM "+tenantdb.Table(e.id.TenantRef, schema.ChangesTable)+" WHERE collection = 'items' ORDER BY pos")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []fxLogged
	for rows.Next() {
		var l fxLogged
		if err := rows.Scan(&l.pos, &l.op); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// Ordering and no gap: 6 writers make 1,000 changes while a subscriber is
// closed and resubscribed from its last cursor at random moments. It
// receives every change once, in order, as the database logged them. (A
// resumed subscription never repeats a change: it starts strictly after
// its cursor. The only duplicates a client can see are those it delivered
// after the cursor it resumes from.)
func TestNoGapWithReconnects(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	e := newFxEnv(t, realtime.FeedConfig{RingSize: 64})
	const total = 1002
	var got []realtime.Change
	cursor := ""
	sink, sub := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items"})
	sink.waitFor("ready", func() bool { return sink.isRdy })
	cursor = sink.ready
	writers := fxWriters(t, e, 6, total, seed)
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	writing := true
	reconnects := 0
	for {
		if !writing {
			if head := e.head(t, "items"); cursor == strconv.FormatInt(head, 10) {
				break
			}
		}
		select {
		case <-done:
			writing = false
		case <-time.After(time.Duration(rng.IntN(30)) * time.Millisecond):
		}
		if rng.IntN(3) > 0 && writing {
			continue
		}
		// Close, keep what arrived before, resume from the last cursor.
		sub.Close()
		sink.mu.Lock()
		sink.dead = true
		got = append(got, sink.chs...)
		if len(sink.chs) > 0 {
			cursor = sink.chs[len(sink.chs)-1].Cursor
		}
		sink.mu.Unlock()
		sink = newFxSink(t)
		var err error
		sub, err = e.feed.Subscribe(t.Context(), realtime.SubscribeParams{Identity: e.id, Collection: "items", Cursor: cursor}, sink)
		if err != nil {
			t.Fatal(err)
		}
		reconnects++
		if !writing {
			// Let it catch up before the next check.
			head := strconv.FormatInt(e.head(t, "items"), 10)
			sink.waitFor("catch up", func() bool { return sink.lastCursor() == head })
		}
	}
	sub.Close()
	t.Logf("%d changes, %d reconnects", len(got), reconnects)
	log := fxLog(t, e)
	if len(log) < total {
		t.Fatalf("the database logged %d changes, want %d", len(log), total)
	}
	if len(got) != len(log) {
		t.Fatalf("received %d changes, the database logged %d", len(got), len(log))
	}
	for i, c := range got {
		if c.Cursor != strconv.FormatInt(log[i].pos, 10) || c.Op != log[i].op {
			t.Fatalf("change %d: %s at %s, the database has %s at %d", i, c.Op, c.Cursor, log[i].op, log[i].pos)
		}
		if log[i].pos != int64(i+1) {
			t.Fatalf("the log has a gap at %d: position %d", i, log[i].pos)
		}
	}
}

// Snapshot then changes: writers race the subscription's start; the
// snapshot plus the changes after it rebuild the final table, with no
// record inserted twice or missing.
func TestSnapshotThenChanges(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	e := newFxEnv(t, realtime.FeedConfig{})
	for i := range 30 {
		fxCreate(t, e, e.id, map[string]any{"n": float64(i)})
	}
	writers := fxWriters(t, e, 4, 400, seed)
	// Start while the writers write.
	time.Sleep(time.Duration(rand.New(rand.NewPCG(seed, 1)).IntN(50)) * time.Millisecond)
	sink, _ := fxSubscribe(t, e.feed, realtime.SubscribeParams{Identity: e.id, Collection: "items", Snapshot: true})
	writers.Wait()
	head := strconv.FormatInt(e.head(t, "items"), 10)
	sink.waitFor("catch up", func() bool { return sink.isRdy && sink.lastCursor() == head })
	state := map[string]json.RawMessage{}
	for _, raw := range sink.snap {
		id := recordOf(t, raw)["id"].(string)
		if _, dup := state[id]; dup {
			t.Fatalf("record %s twice in the snapshot", id)
		}
		state[id] = raw
	}
	t.Logf("snapshot of %d records at %s, then %d changes", len(sink.snap), sink.ready, len(sink.chs))
	for _, c := range sink.chs {
		id := recordOf(t, c.Record)["id"].(string)
		_, have := state[id]
		switch c.Op {
		case realtime.OpInsert:
			if have {
				t.Fatalf("insert of %s at %s, already in the snapshot or inserted", id, c.Cursor)
			}
			state[id] = c.Record
		case realtime.OpUpdate:
			if !have {
				t.Fatalf("update of %s at %s, which is missing", id, c.Cursor)
			}
			state[id] = c.Record
		case realtime.OpDelete:
			if !have {
				t.Fatalf("delete of %s at %s, which is missing", id, c.Cursor)
			}
			delete(state, id)
		}
	}
	res, err := e.svc.Query(context.Background(), e.id, records.QueryParams{Collection: "items", Limit: records.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != len(state) || res.NextCursor != "" {
		t.Fatalf("rebuilt %d records, the table has %d", len(state), len(res.Records))
	}
	for _, r := range res.Records {
		raw, ok := state[r["id"].(string)]
		if !ok {
			t.Fatalf("record %s missing from snapshot and changes", r["id"])
		}
		if v := recordOf(t, raw)["version"]; v != float64(r["version"].(int64)) {
			t.Errorf("record %s rebuilt at version %v, the table has %v", r["id"], v, r["version"])
		}
	}
}
