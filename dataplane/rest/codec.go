package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// readBody decodes the request's JSON body, at most limit bytes, into msg.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, msg proto.Message) error {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &httpError{status: http.StatusUnsupportedMediaType, code: connect.CodeInvalidArgument,
				msg: fmt.Sprintf("unsupported Content-Type %q: send application/json", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		// The server's own cap on bodies may be the lower one.
		return tooLarge(mbe.Limit)
	}
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("the request body is empty: send a JSON object")
	}
	if err := protojson.Unmarshal(body, msg); err != nil {
		return invalid("%s", jsonError(err))
	}
	return nil
}

// protojson's messages look like "proto: syntax error (line 1:6): unexpected
// token }" or "proto: (line 1:13): unknown field \"x\"", with a space or a
// no-break space after "proto:" (chosen at random, to keep callers from
// depending on the text).
var protojsonPosition = regexp.MustCompile(`^proto:[\s\x{a0}]*(syntax error )?\(line (\d+):(\d+)\):[\s\x{a0}]*(.*)$`)

// jsonError rewrites a protojson error to name the position in the body.
func jsonError(err error) string {
	m := protojsonPosition.FindStringSubmatch(err.Error())
	if m == nil {
		msg := strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
		return "invalid JSON body: " + msg
	}
	what := "invalid request body"
	if m[1] != "" {
		what = "invalid JSON"
	}
	return fmt.Sprintf("%s at line %s, column %s: %s", what, m[2], m[3], m[4])
}

var marshalOptions = protojson.MarshalOptions{UseProtoNames: true}

// writeProto answers msg in protojson with the proto field names.
func (a *API) writeProto(w http.ResponseWriter, r *http.Request, status int, msg proto.Message) {
	b, err := marshalOptions.Marshal(msg)
	if err != nil {
		a.writeError(w, r, fmt.Errorf("encode answer: %w", err))
		return
	}
	a.writeJSON(w, r, status, json.RawMessage(b))
}

// rawProtos encodes each message for a JSON list that is never null.
func rawProtos[M proto.Message](opts protojson.MarshalOptions, msgs []M) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// expectedVersion reads If-Match: one record version, bare (3) or as the
// ETag the answers carry ("3"); "*" (any version) or no header is 0, no
// check.
func expectedVersion(h http.Header) (int64, error) {
	vs := h.Values("If-Match")
	if len(vs) == 0 {
		return 0, nil
	}
	v := strings.TrimSpace(strings.Join(vs, ","))
	if v == "*" {
		return 0, nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, invalid("If-Match must be one record version, e.g. If-Match: \"3\" (the ETag of the record), got %q", strings.Join(vs, ", "))
	}
	return n, nil
}

// setETag gives the answer the record's version as its ETag.
func setETag(w http.ResponseWriter, rec *structpb.Struct) {
	v, ok := rec.GetFields()["version"].GetKind().(*structpb.Value_NumberValue)
	if !ok || v.NumberValue != math.Trunc(v.NumberValue) || v.NumberValue < 1 || v.NumberValue > 1<<53 {
		return
	}
	w.Header().Set("ETag", `"`+strconv.FormatInt(int64(v.NumberValue), 10)+`"`)
}
