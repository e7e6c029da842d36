package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Ops of a Change.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Change is one captured change to a record, as one subscriber may see it.
type Change struct {
	// Collection the record belongs to.
	Collection string `json:"collection"`
	// Cursor is the change's position in the collection's change log, in
	// commit order, as a decimal string. Resuming after it delivers every
	// later change.
	Cursor string `json:"cursor"`
	// Op is OpInsert, OpUpdate or OpDelete.
	Op string `json:"op"`
	// Record is the record as the REST API shows it: after the change, or
	// for a delete the record as it was.
	Record json.RawMessage `json:"record"`
	// Old is the record before an update (or nil when the subscriber's
	// view rule hides the old values); nil for insert and delete.
	Old json.RawMessage `json:"old,omitempty"`
	// At is when the change was written.
	At time.Time `json:"at"`
}

// SubscribeParams is what a subscription asks for.
type SubscribeParams struct {
	// Identity is who subscribes; the collection's view rule is evaluated
	// for it at each event (the service role sees everything).
	Identity tenantdb.Identity
	// Collection to watch.
	Collection string
	// Filter is an expression in the filter language over the record's
	// fields; "" matches every record. For an update, the subscriber sees
	// the change when the new record matches (or, when only the old one
	// matched, as an update whose record no longer matches: clients drop
	// it from their view).
	Filter string
	// Cursor resumes after that cursor; "" starts at the collection's
	// current head (only changes committed after Subscribe).
	Cursor string
	// Snapshot asks for the current matching records first (as the
	// subscriber may see them), then the changes after them, with nothing
	// lost or doubled in between. Not with Cursor.
	Snapshot bool
}

// Sink receives one subscription's events, in order, from one goroutine at
// a time. Its methods must not block: a method that returns false says the
// sink cannot take more, and the feed ends the subscription with
// ErrSlowConsumer (no event is dropped silently).
type Sink interface {
	// Snapshot delivers a page of the snapshot's records (REST form).
	Snapshot(records []json.RawMessage) bool
	// Ready says the subscription is live: changes after cursor follow.
	// With Snapshot, cursor is the position the snapshot was read at.
	Ready(cursor string) bool
	// Change delivers one change.
	Change(c Change) bool
	// Closed ends the subscription: err is ErrResync (the cursor is older
	// than the retention; the client must read again), ErrSlowConsumer, a
	// rule error for this subscriber alone (a *connect.Error), or the
	// feed's shutdown. Closed is called exactly once, and nothing after it.
	Closed(err error)
}

// Errors that end subscriptions.
var (
	// ErrResync: the cursor is older than the change log's retention, or
	// the collection was dropped; changes may have been missed, so the
	// client must read the current records again (or subscribe with
	// Snapshot).
	ErrResync = errors.New("realtime: cursor is older than the retained changes: read again (subscribe with snapshot)")
	// ErrSlowConsumer: the subscriber did not keep up.
	ErrSlowConsumer = errors.New("realtime: subscriber too slow")
)

// ChangeFeed is what the WebSocket and SSE endpoints need from the feed.
type ChangeFeed interface {
	// Subscribe checks p (unknown collection: NotFound; bad filter or
	// cursor: InvalidArgument; a caller without a view rule:
	// PermissionDenied; all as *connect.Error) and starts delivering to
	// sink. Events stop after Closed, or after the Subscription's Close
	// (then Closed is not called).
	Subscribe(ctx context.Context, p SubscribeParams, sink Sink) (Subscription, error)
}

// Subscription is one live subscription of a ChangeFeed.
type Subscription interface {
	// SetIdentity replaces the subscriber's identity (a refreshed token);
	// later events are checked against it.
	SetIdentity(id tenantdb.Identity)
	// Close ends the subscription; Closed is not called after it.
	Close()
}
