package rest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
)

// HTTPStatus is the HTTP status of a Connect code, as the Connect protocol
// maps it (connectrpc.com/docs/protocol, "Error Codes"): the status a Connect
// client over HTTP/1.1 sees for the same error. Codes outside the Connect set
// are 500, like CodeUnknown. The REST API answers every handler error with
// this status but one: a record over the size limit (records.ErrTooLarge,
// ResourceExhausted) is 413, not 429.
func HTTPStatus(code connect.Code) int {
	switch code {
	case connect.CodeCanceled:
		return 499
	case connect.CodeUnknown:
		return http.StatusInternalServerError
	case connect.CodeInvalidArgument:
		return http.StatusBadRequest
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists:
		return http.StatusConflict
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeFailedPrecondition:
		return http.StatusBadRequest
	case connect.CodeAborted:
		return http.StatusConflict
	case connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeInternal:
		return http.StatusInternalServerError
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeDataLoss:
		return http.StatusInternalServerError
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// httpError is an error of the REST layer itself whose HTTP status is not
// the Connect code's: 404 and 405 for routes, 413 for bodies, 415 for
// content types.
type httpError struct {
	status int
	code   connect.Code
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func tooLarge(limit int64) error {
	return &httpError{status: http.StatusRequestEntityTooLarge, code: connect.CodeResourceExhausted,
		msg: fmt.Sprintf("request body too large: the limit is %d bytes", limit)}
}

func invalid(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// wireError is Connect's JSON error body.
type wireError struct {
	Code    string       `json:"code"`
	Message string       `json:"message,omitempty"`
	Details []wireDetail `json:"details,omitempty"`
}

// wireDetail is one error detail as Connect's JSON error carries it: the
// message's full name, its binary form in unpadded base64, and its
// protojson form when it can be made.
type wireDetail struct {
	Type  string          `json:"type"`
	Value string          `json:"value"`
	Debug json.RawMessage `json:"debug,omitempty"`
}

// writeError answers err. Connect errors keep their code and message (and
// metadata, as headers); any other error is internal: logged with the
// request id and answered without its text.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if he, ok := errors.AsType[*httpError](err); ok {
		a.writeJSON(w, r, he.status, wireError{Code: he.code.String(), Message: he.msg})
		return
	}
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok {
		ce, _ = errors.AsType[*connect.Error](rpcerr.Internal(r.Context(), err))
	}
	copyHeaders(w.Header(), ce.Meta(), "")
	body := wireError{Code: ce.Code().String(), Message: ce.Message()}
	for _, d := range ce.Details() {
		wd := wireDetail{Type: d.Type(), Value: base64.RawStdEncoding.EncodeToString(d.Bytes())}
		if m, err := d.Value(); err == nil {
			if b, err := protojson.Marshal(m); err == nil {
				wd.Debug = b
			}
		}
		body.Details = append(body.Details, wd)
	}
	status := HTTPStatus(ce.Code())
	if ce.Code() == connect.CodeResourceExhausted && errors.Is(err, records.ErrTooLarge) {
		// The "ResourceExhausted / 413": a record over the size
		// limit is the request's fault, not a rate limit to wait out.
		status = http.StatusRequestEntityTooLarge
	}
	a.writeJSON(w, r, status, body)
}

// writeJSON answers v as JSON with status.
func (a *API) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	// Not escaped for HTML: messages quote filters ("n > 1") and records
	// hold text, and the answer is JSON, never markup.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only an answer can fail to encode, never a wireError.
		a.writeError(w, r, fmt.Errorf("encode answer: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
