package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/rpcerr"
)

// HandleSSE serves GET /v1/realtime/sse: one read-only subscription as
// Server-Sent Events. Bad input answers a JSON error with its HTTP status
// before the stream starts.
func (s *Server) HandleSSE(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, err := s.authenticate(ctx, r)
	if err != nil {
		writeHTTPError(w, r, err)
		return
	}
	q := r.URL.Query()
	p := SubscribeParams{Identity: sess.id, Collection: q.Get("collection"), Filter: q.Get("filter"), Cursor: q.Get("cursor")}
	if v := q.Get("snapshot"); v != "" {
		if p.Snapshot, err = strconv.ParseBool(v); err != nil {
			writeHTTPError(w, r, rpcerr.New(connect.CodeInvalidArgument, "snapshot must be true or false"))
			return
		}
	}
	if id := strings.TrimSpace(r.Header.Get("Last-Event-ID")); id != "" {
		p.Cursor, p.Snapshot = id, false
	}
	switch {
	case p.Collection == "":
		err = rpcerr.New(connect.CodeInvalidArgument, "collection is required")
	case p.Cursor != "" && p.Snapshot:
		err = rpcerr.New(connect.CodeInvalidArgument, "cursor and snapshot cannot be used together")
	case s.cfg.Feed == nil:
		err = rpcerr.New(connect.CodeUnavailable, "record changes are not served by this node")
	}
	if err != nil {
		writeHTTPError(w, r, err)
		return
	}
	ref, id := sess.keyID.TenantRef, newConnID()
	lim, err := s.connLimits(ctx, ref)
	if err != nil {
		writeHTTPError(w, r, err)
		return
	}
	if err := s.admit(ctx, ref, id, lim.connections); err != nil {
		writeHTTPError(w, r, err)
		return
	}
	defer s.release(ref, id)

	sink := &sseSink{wake: make(chan struct{}, 1), maxFrames: s.cfg.QueueFrames, maxBytes: s.cfg.QueueBytes}
	sub, err := s.cfg.Feed.Subscribe(ctx, p, sink)
	if err != nil {
		writeHTTPError(w, r, err)
		return
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}

	ping := time.NewTicker(s.cfg.SSEPing)
	defer ping.Stop()
	recheck := time.NewTicker(s.cfg.KeyRecheck)
	defer recheck.Stop()
	var expired <-chan time.Time
	if !sess.expires.IsZero() {
		t := time.NewTimer(sess.expires.Sub(s.cfg.Now()))
		defer t.Stop()
		expired = t.C
	}
	end := func(event string, v any) {
		_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, marshal(v))
		_ = rc.Flush()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-recheck.C:
			if _, err := s.cfg.Keys.Authenticate(ctx, sess.key); err != nil && !isTransient(err) {
				end(FrameClosed, sseClosed{Code: codeName(connect.CodeUnauthenticated), Message: err.Error()})
				return
			}
		case <-expired:
			end(FrameClosed, sseClosed{Code: codeName(connect.CodeUnauthenticated), Message: "access token expired"})
			return
		case <-sink.wake:
			events, done := sink.take()
			for _, ev := range events {
				if _, err := w.Write(ev); err != nil {
					return
				}
			}
			if rc.Flush() != nil || done {
				return
			}
		}
	}
}

// isTransient reports whether a key check failed for a reason other than
// the key or its project (the database is down): the stream goes on.
func isTransient(err error) bool {
	_, ok := errors.AsType[*connect.Error](err)
	return !ok && keyProblem(err) == nil
}

type sseClosed struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type sseResync struct {
	Message string `json:"message"`
}

// sseSink queues a subscription's events, encoded, for the handler.
type sseSink struct {
	wake                chan struct{}
	maxFrames, maxBytes int

	mu     sync.Mutex
	events [][]byte
	bytes  int
	done   bool
}

// take returns the queued events, and whether the stream ends after them.
func (s *sseSink) take() ([][]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.events
	s.events, s.bytes = nil, 0
	return ev, s.done
}

func (s *sseSink) push(ev []byte, last bool) bool {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return false
	}
	if !last && (len(s.events) >= s.maxFrames || s.bytes+len(ev) > s.maxBytes) {
		n := len(s.events)
		s.events = append(s.events, sseEvent("", FrameClosed, marshal(sseClosed{Code: codeName(connect.CodeResourceExhausted), Message: fmt.Sprintf("slow consumer: %d events queued", n)})))
		s.done = true
		s.mu.Unlock()
		s.kick()
		return false
	}
	s.events = append(s.events, ev)
	s.bytes += len(ev)
	s.done = last
	s.mu.Unlock()
	s.kick()
	return true
}

func (s *sseSink) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sseEvent encodes one event; data is one line of JSON.
func sseEvent(id, event string, data []byte) []byte {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	b.WriteString("event: " + event + "\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return []byte(b.String())
}

func (s *sseSink) Snapshot(records []json.RawMessage) bool {
	if records == nil {
		records = []json.RawMessage{}
	}
	return s.push(sseEvent("", FrameSnapshot, marshal(records)), false)
}

// Ready carries its cursor as the event id too: a client (a browser's
// EventSource) that loses the stream before the first change resumes from
// there with Last-Event-ID instead of from the head, which would skip the
// changes made while it was away.
func (s *sseSink) Ready(cursor string) bool {
	return s.push(sseEvent(cursor, FrameReady, marshal(struct {
		Cursor string `json:"cursor"`
	}{cursor})), false)
}

func (s *sseSink) Change(c Change) bool {
	return s.push(sseEvent(c.Cursor, FrameChange, marshal(newChangeFrame("", c))), false)
}

func (s *sseSink) Closed(err error) {
	if errors.Is(err, ErrResync) {
		s.push(sseEvent("", FrameResync, marshal(sseResync{Message: err.Error()})), true)
		return
	}
	f := closedFrame("", err)
	s.push(sseEvent("", FrameClosed, marshal(sseClosed{Code: f.Code, Message: f.Message})), true)
}
