// Package realtime delivers a project's record changes, broadcast messages
// and presence to clients over WebSocket (GET /v1/realtime) and
// Server-Sent Events (GET /v1/realtime/sse). The protocol is in
// docs/realtime.md.
//
// Two halves share the package. The change feed (Feed, in feed.go, hub.go,
// feed_sub.go and capture.go) reads the transactional outbox that triggers
// fill in the same transaction as each write; Feed's doc explains why an
// outbox and not logical decoding, and why positions are gapless and in
// commit order. The endpoints (Server, in server.go, ws.go, sse.go,
// channel.go, presence.go and limits.go) authenticate clients, carry many
// subscriptions per connection, and enforce the tenant's limits.
package realtime
