package realtime

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
)

// Frame types of the wire protocol (docs/realtime.md).
const (
	// Client → server.
	FrameAuth        = "auth"
	FrameSubscribe   = "subscribe"
	FrameUnsubscribe = "unsubscribe"
	FrameJoin        = "join"
	FrameLeave       = "leave"
	FrameBroadcast   = "broadcast" // also server → client
	FramePresence    = "presence"
	FramePing        = "ping"

	// Server → client.
	FrameWelcome       = "welcome"
	FrameAuthOK        = "auth_ok"
	FrameSubscribed    = "subscribed"
	FrameUnsubscribed  = "unsubscribed"
	FrameSnapshot      = "snapshot"
	FrameReady         = "ready"
	FrameChange        = "change"
	FrameResync        = "resync"
	FrameClosed        = "closed"
	FrameError         = "error"
	FrameJoined        = "joined"
	FrameLeft          = "left"
	FrameAck           = "ack"
	FramePresenceState = "presence_state"
	FramePresenceDiff  = "presence_diff"
	FramePong          = "pong"
)

// WebSocket close codes the server uses besides 1000, 1001 and 1009.
const (
	// CloseUnauthenticated: the key was revoked or expired, or the project
	// paused or deleted, while the connection was open.
	CloseUnauthenticated websocket.StatusCode = 4001
	// CloseLimitExceeded: a limit was exceeded; the reason names it.
	CloseLimitExceeded websocket.StatusCode = 4008
	// CloseSlowConsumer: the connection did not read its frames fast
	// enough.
	CloseSlowConsumer websocket.StatusCode = 4009
)

// Limits on identifiers of the protocol.
const (
	// MaxIDLen is the longest subscription or join id, in bytes.
	MaxIDLen = 64
	// MaxChannelLen is the longest channel name, in bytes.
	MaxChannelLen = 128
	// MaxPresenceBytes is the largest presence state, in bytes of JSON.
	MaxPresenceBytes = 1024
	// MaxEventLen is the longest broadcast event name, in bytes.
	MaxEventLen = 128
)

var (
	validChannel = regexp.MustCompile(`^[A-Za-z0-9:_.-]{1,128}$`)
	validID      = regexp.MustCompile(`^[A-Za-z0-9:_.-]{1,64}$`)
)

// inFrame is any client frame; which fields count depends on Type.
type inFrame struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	Ref         string          `json:"ref"`
	AccessToken string          `json:"access_token"`
	Collection  string          `json:"collection"`
	Filter      string          `json:"filter"`
	Cursor      string          `json:"cursor"`
	Snapshot    bool            `json:"snapshot"`
	Channel     string          `json:"channel"`
	Event       string          `json:"event"`
	Payload     json.RawMessage `json:"payload"`
	Ack         string          `json:"ack"`
	Presence    json.RawMessage `json:"presence"`
	State       json.RawMessage `json:"state"`
}

// Server frames. Every one is marshalled once and its bytes queued.
type (
	welcomeFrame struct {
		Type             string        `json:"type"`
		ConnectionID     string        `json:"connection_id"`
		HeartbeatSeconds int           `json:"heartbeat_seconds"`
		Limits           welcomeLimits `json:"limits"`
	}
	welcomeLimits struct {
		Subscriptions     int `json:"subscriptions"`
		MessagesPerSecond int `json:"messages_per_second"`
		PayloadBytes      int `json:"payload_bytes"`
	}
	idFrame struct {
		Type    string `json:"type"`
		ID      string `json:"id,omitempty"`
		Channel string `json:"channel,omitempty"`
		Ref     string `json:"ref,omitempty"`
	}
	authOKFrame struct {
		Type      string `json:"type"`
		ExpiresAt string `json:"expires_at,omitempty"`
	}
	codeFrame struct {
		Type    string `json:"type"`
		ID      string `json:"id,omitempty"`
		Channel string `json:"channel,omitempty"`
		Code    string `json:"code,omitempty"`
		Message string `json:"message"`
	}
	snapshotFrame struct {
		Type    string            `json:"type"`
		ID      string            `json:"id"`
		Records []json.RawMessage `json:"records"`
	}
	readyFrame struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		Cursor string `json:"cursor"`
	}
	changeFrame struct {
		Type       string          `json:"type"`
		ID         string          `json:"id,omitempty"`
		Collection string          `json:"collection"`
		Op         string          `json:"op"`
		Cursor     string          `json:"cursor"`
		Record     json.RawMessage `json:"record"`
		Old        json.RawMessage `json:"old,omitempty"`
		At         string          `json:"at"`
	}
	broadcastFrame struct {
		Type    string          `json:"type"`
		Channel string          `json:"channel"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload,omitempty"`
		From    string          `json:"from"`
	}
	presenceStateFrame struct {
		Type    string           `json:"type"`
		Channel string           `json:"channel"`
		Members []PresenceMember `json:"members"`
	}
	presenceDiffFrame struct {
		Type    string           `json:"type"`
		Channel string           `json:"channel"`
		Joins   []PresenceMember `json:"joins"`
		Leaves  []PresenceMember `json:"leaves"`
	}
)

// PresenceMember is one connection present in a channel.
type PresenceMember struct {
	// Key is the member's connection id.
	Key string `json:"key"`
	// UserID is the signed-in user's id, "" for a key without a user.
	UserID string `json:"user_id,omitempty"`
	// State is the member's own JSON object (at most MaxPresenceBytes).
	State json.RawMessage `json:"state"`
}

func newChangeFrame(id string, c Change) changeFrame {
	return changeFrame{Type: FrameChange, ID: id, Collection: c.Collection, Op: c.Op, Cursor: c.Cursor,
		Record: c.Record, Old: c.Old, At: c.At.UTC().Format(time.RFC3339Nano)}
}

// marshal encodes a server frame; frames are built from valid JSON
// pieces, so it cannot fail but for a bug.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(codeFrame{Type: FrameError, Code: codeName(connect.CodeInternal), Message: "internal error: encode frame"})
	}
	return b
}

// codeName is a Connect code in snake_case, as frames carry it.
func codeName(c connect.Code) string { return strings.ReplaceAll(c.String(), " ", "_") }

// frameError is a refusal of one frame, answered by an error frame.
type frameError struct {
	code connect.Code
	msg  string
}

func (e *frameError) Error() string { return e.msg }

func refuse(code connect.Code, msg string) error { return &frameError{code: code, msg: msg} }

// errorCode returns the Connect code and client message of err: a
// frameError or *connect.Error keeps its own, anything else is internal.
func errorCode(err error) (connect.Code, string) {
	if fe, ok := errors.AsType[*frameError](err); ok {
		return fe.code, fe.msg
	}
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		return ce.Code(), ce.Message()
	}
	return connect.CodeInternal, "internal error"
}

// checkObject reports whether raw is a JSON object of at most max bytes.
func checkObject(raw json.RawMessage, max int, what string) error {
	if len(raw) > max {
		return refuse(connect.CodeInvalidArgument, what+" is larger than "+strconv.Itoa(max)+" bytes")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return refuse(connect.CodeInvalidArgument, what+" must be a JSON object")
	}
	return nil
}
