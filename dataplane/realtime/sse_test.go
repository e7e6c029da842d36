package realtime_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sseEvent is one Server-Sent Event as a client reads it.
type sseEvent struct {
	id, event, data string
}

// sseStream reads events from an open stream.
type sseStream struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

// openSSE opens the SSE endpoint with query and headers and wants a
// stream.
func (l *live) openSSE(t *testing.T, query url.Values, h http.Header) *sseStream {
	t.Helper()
	resp := l.sseRequest(t, query, h)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("SSE: HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &sseStream{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

func (l *live) sseRequest(t *testing.T, query url.Values, h http.Header) *http.Response {
	t.Helper()
	// The stream lives as long as the test; its reads have their own
	// deadline below.
	req, err := http.NewRequestWithContext(t.Context(), "GET", l.sseURL+"?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// next reads the next event, skipping comment lines (pings).
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	type result struct {
		ev  sseEvent
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var ev sseEvent
		for s.sc.Scan() {
			line := s.sc.Text()
			switch {
			case line == "":
				if ev.event != "" || ev.data != "" {
					ch <- result{ev: ev}
					return
				}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
		ch <- result{err: io.ErrUnexpectedEOF}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			s.t.Fatalf("SSE stream ended: %v (%v)", r.err, s.sc.Err())
		}
		return r.ev
	case <-time.After(20 * time.Second):
		s.resp.Body.Close()
		s.t.Fatal("no SSE event within 20 s")
	}
	return sseEvent{}
}

// expect reads the next event, wants its name, and decodes its data.
func (s *sseStream) expect(event string) (sseEvent, map[string]any) {
	s.t.Helper()
	ev := s.next()
	if ev.event != event {
		s.t.Fatalf("event %+v, want %s", ev, event)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
		s.t.Fatalf("event %s data %q: %v", event, ev.data, err)
	}
	return ev, data
}

func TestSSE(t *testing.T) {
	t.Parallel()
	l := startLive(t, 0)
	l.collection(t, "feed")
	l.collection(t, "closed")
	first := l.insert(t, "feed", map[string]any{"title": "first", "n": 1})
	key := http.Header{"Apikey": {l.sk}}

	t.Run("snapshot, changes and resume", func(t *testing.T) {
		s := l.openSSE(t, url.Values{"collection": {"feed"}, "snapshot": {"true"}}, key)
		ev := s.next()
		var page []map[string]any
		if ev.event != "snapshot" || json.Unmarshal([]byte(ev.data), &page) != nil || len(page) != 1 || page[0]["id"] != first {
			t.Fatalf("first event %+v, want a snapshot page holding the first record", ev)
		}
		rev, ready := s.expect("ready")
		at, _ := ready["cursor"].(string)
		if at == "" || rev.id != at {
			t.Fatalf("ready id %q data %v, want a cursor, also as the event id", rev.id, ready)
		}

		second := l.insert(t, "feed", map[string]any{"title": "second", "n": 2})
		ev, ch := s.expect("change")
		rec, _ := ch["record"].(map[string]any)
		if ch["op"] != "insert" || rec["id"] != second || ev.id == "" || ch["cursor"] != ev.id || ch["type"] != "change" {
			t.Fatalf("change event id %q data %v, want the insert of the second record with its cursor as the event id", ev.id, ch)
		}
		s.resp.Body.Close()

		// Away: two more writes. Last-Event-ID resumes after the second
		// record (and overrides ?cursor and snapshot).
		third := l.insert(t, "feed", map[string]any{"title": "third", "n": 3})
		l.must(t, "PATCH", "/v1/collections/feed/records/"+third, l.sk, "", map[string]any{"n": 30})
		h := key.Clone()
		h.Set("Last-Event-ID", ev.id)
		s2 := l.openSSE(t, url.Values{"collection": {"feed"}, "cursor": {"0"}, "snapshot": {"true"}}, h)
		if _, r := s2.expect("ready"); r["cursor"] != ev.id {
			t.Fatalf("resumed ready %v, want cursor %s", r, ev.id)
		}
		for _, op := range []string{"insert", "update"} {
			_, ch := s2.expect("change")
			rec, _ := ch["record"].(map[string]any)
			if ch["op"] != op || rec["id"] != third {
				t.Fatalf("resumed change %v, want the %s of the third record", ch, op)
			}
		}
		l.must(t, "DELETE", "/v1/collections/feed/records/"+first, l.sk, "", nil)
		if _, ch := s2.expect("change"); ch["op"] != "delete" {
			t.Fatalf("live change after resuming %v, want the delete", ch)
		}
	})

	t.Run("a stream lost before its first change resumes from ready", func(t *testing.T) {
		s := l.openSSE(t, url.Values{"collection": {"feed"}}, key)
		ready, _ := s.expect("ready")
		s.resp.Body.Close()
		id := l.insert(t, "feed", map[string]any{"title": "while away", "n": 4})
		// What an EventSource does: reconnect with the last event id seen.
		h := key.Clone()
		h.Set("Last-Event-ID", ready.id)
		s2 := l.openSSE(t, url.Values{"collection": {"feed"}}, h)
		s2.expect("ready")
		if _, ch := s2.expect("change"); ch["record"].(map[string]any)["id"] != id {
			t.Fatalf("change after resuming from ready %v, want the record written while away", ch)
		}
	})

	t.Run("an end user sees what the view rule allows", func(t *testing.T) {
		// An end user's stream: the view rule decides what it sees.
		own := "record.owner == auth.uid"
		l.must(t, "PUT", "/v1/collections/closed/rules", l.sk, "", map[string]any{"list": own, "view": own})
		uid, tok := l.user(t)
		s := l.openSSE(t, url.Values{"collection": {"closed"}, "apikey": {l.pk}, "access_token": {tok}}, http.Header{})
		s.expect("ready")
		l.insert(t, "closed", map[string]any{"owner": "someone-else", "title": "hidden"})
		mine := l.insert(t, "closed", map[string]any{"owner": uid, "title": "mine"})
		if _, ch := s.expect("change"); ch["record"].(map[string]any)["id"] != mine {
			t.Fatalf("user's change %v, want only their own record", ch)
		}
	})

	t.Run("bad input before the stream", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			query  url.Values
			h      http.Header
			status int
			code   string
		}{
			{"no key", url.Values{"collection": {"feed"}}, http.Header{}, 401, "unauthenticated"},
			{"bad key", url.Values{"collection": {"feed"}, "apikey": {"sov_sk_nope"}}, http.Header{}, 401, "unauthenticated"},
			{"bad token", url.Values{"collection": {"feed"}, "apikey": {l.pk}, "access_token": {"a.b.c"}}, http.Header{}, 401, "unauthenticated"},
			{"no collection", url.Values{}, key, 400, "invalid_argument"},
			{"bad snapshot", url.Values{"collection": {"feed"}, "snapshot": {"maybe"}}, key, 400, "invalid_argument"},
			{"cursor with snapshot", url.Values{"collection": {"feed"}, "cursor": {"1"}, "snapshot": {"true"}}, key, 400, "invalid_argument"},
			{"bad filter", url.Values{"collection": {"feed"}, "filter": {"nope =="}}, key, 400, "invalid_argument"},
			{"bad cursor", url.Values{"collection": {"feed"}, "cursor": {"x"}}, key, 400, "invalid_argument"},
			{"unknown collection", url.Values{"collection": {"nowhere"}}, key, 404, "not_found"},
			{"publishable key without rules", url.Values{"collection": {"feed"}, "apikey": {l.pk}}, http.Header{}, 403, "permission_denied"},
		} {
			resp := l.sseRequest(t, tc.query, tc.h)
			var body struct{ Code, Message string }
			err := json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || err != nil || body.Code != tc.code || body.Message == "" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s: HTTP %d %s %+v (%v), want %d with code %s and a message", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, err, tc.status, tc.code)
			}
		}
	})
}
