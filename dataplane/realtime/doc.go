// Package realtime delivers a project's record changes, broadcast messages
// and presence to clients over WebSocket (GET /v1/realtime) and
// Server-Sent Events (GET /v1/realtime/sse). The protocol is in
// docs/realtime.md.
package realtime
