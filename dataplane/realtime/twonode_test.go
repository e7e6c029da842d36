package realtime_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestWriteOnOneNodeReachesASubscriberOnAnother runs two data plane nodes
// of one region on one database and one Valkey: a subscriber on node B sees,
// in order, every record written through node A's REST API. (The change
// feed's own tests prove the same with polling turned off, so that only the
// Valkey pokes can carry the changes, and with Valkey killed mid-stream.)
func TestWriteOnOneNodeReachesASubscriberOnAnother(t *testing.T) {
	t.Parallel()
	l := startLive(t, 0)
	l.collection(t, "notes")
	b := &node{url: "ws" + strings.TrimPrefix(l.p.StartNode(t), "http") + "/v1/realtime"}
	c := b.dial(t, "apikey="+l.sk)
	start := c.subscribe(t, map[string]any{"id": "s1", "collection": "notes"})
	const n = 20
	ids := make([]string, n)
	for i := range n {
		ids[i] = l.insert(t, "notes", map[string]any{"title": fmt.Sprintf("note %d", i), "n": i})
	}
	for i := range n {
		f := c.change(t, "s1", "insert")
		if got := f.rec()["id"]; got != ids[i] {
			t.Fatalf("change %d on node B is record %v, want %s (written through node A)", i, got, ids[i])
		}
		if cur := f.cursor(t); cur != start+int64(i)+1 {
			t.Fatalf("change %d has cursor %d, want %d", i, cur, start+int64(i)+1)
		}
	}
}
