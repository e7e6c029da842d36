package sovereign

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"
)

// The resumable upload endpoint (tus 1.0.0, https://tus.io/protocols/resumable-upload).
const (
	tusPath    = "/v1/storage/uploads/"
	tusVersion = "1.0.0"
	// tusChecksumMismatch is the status tus gives a chunk whose checksum
	// does not match.
	tusChecksumMismatch = 460
)

// tusClient is a small client of the tus 1.0.0 core protocol with the
// creation extension: POST creates an upload of a known length, PATCH sends
// bytes at an offset, HEAD tells the offset the server holds.
type tusClient struct {
	c *Client
	// caller puts the credentials on every request.
	caller *caller
	// endpoint is the creation URL.
	endpoint string
}

// upload sends size bytes of r as a new upload with meta, in chunks of
// chunk bytes. A chunk is held in memory until the server confirms it, so
// that a PATCH cut by the network resumes from the offset HEAD reports.
// After the client's retries of failures in a row, the last error is
// returned.
func (t *tusClient) upload(ctx context.Context, r io.Reader, size int64, meta map[string]string, chunk int64, progress func(sent, total int64)) error {
	loc, err := t.create(ctx, size, meta)
	if err != nil {
		return err
	}
	buf := make([]byte, min(chunk, size))
	var offset int64 // what the server holds
	for offset < size {
		start := offset
		n := min(chunk, size-start)
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return invalidArgument("upload: the reader ended after %d bytes; the size given is %d", start+int64(len(buf[:n])), size)
			}
			return fmt.Errorf("upload: read: %w", err)
		}
		failures, resync := 0, false
		for offset < start+n {
			var err error
			if resync {
				var off int64
				if off, err = t.head(ctx, loc); err == nil {
					if off < start || off > start+n {
						return &Error{Code: CodeAborted, Message: fmt.Sprintf(
							"upload: the server holds %d bytes, outside the chunk being sent (%d to %d); start again", off, start, start+n)}
					}
					offset, resync = off, false
					continue
				}
			} else {
				var off int64
				if off, err = t.patch(ctx, loc, offset, buf[offset-start:n], size, progress); err == nil {
					if off <= offset {
						resync = true
						failures++
						if failures > t.caller.opts.retries {
							return &Error{Code: CodeAborted, Message: "upload: the server accepted no bytes"}
						}
						continue
					}
					offset, failures = off, 0
					continue
				}
			}
			if !tusRetryable(err) {
				return err
			}
			failures++
			if failures > t.caller.opts.retries || ctx.Err() != nil {
				return err
			}
			resync = true
			if werr := storageSleep(ctx, t.caller.backoff(failures-1)); werr != nil {
				return err
			}
		}
	}
	return nil
}

// tusRetryable: a failure to reach the server, a server error, or an offset
// the server disagrees with (after which HEAD tells the right one).
func tusRetryable(err error) bool {
	code, ok := ErrorCode(err)
	return ok && (code == CodeUnavailable || code == CodeAborted || code == CodeInternal || code == connect.CodeUnknown)
}

// create makes the upload and returns its URL. It is tried again when the
// server cannot be reached: an upload made by a lost attempt is never
// written to and expires.
func (t *tusClient) create(ctx context.Context, size int64, meta map[string]string) (string, error) {
	for attempt := 0; ; attempt++ {
		req, err := t.request(ctx, http.MethodPost, t.endpoint, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
		req.Header.Set("Upload-Metadata", encodeTusMetadata(meta))
		resp, err := t.do(req)
		if err == nil {
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			u, perr := url.Parse(loc)
			if resp.StatusCode != http.StatusCreated || loc == "" || perr != nil {
				return "", &Error{Code: connect.CodeInternal, Procedure: "POST " + tusPath,
					Message: fmt.Sprintf("upload creation answered %s with Location %q", resp.Status, loc)}
			}
			return req.URL.ResolveReference(u).String(), nil
		}
		if code, _ := ErrorCode(err); code != CodeUnavailable || attempt >= t.caller.opts.retries {
			return "", err
		}
		if werr := storageSleep(ctx, t.caller.backoff(attempt)); werr != nil {
			return "", err
		}
	}
}

// patch sends b at offset and returns the server's new offset.
func (t *tusClient) patch(ctx context.Context, loc string, offset int64, b []byte, total int64, progress func(sent, total int64)) (int64, error) {
	var body io.Reader = bytes.NewReader(b)
	if progress != nil {
		body = &progressReader{r: body, sent: offset, total: total, f: progress}
	}
	req, err := t.request(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = int64(len(b))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	resp, err := t.do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return uploadOffset(req, resp)
}

// head asks the server how many bytes of the upload it holds.
func (t *tusClient) head(ctx context.Context, loc string) (int64, error) {
	req, err := t.request(ctx, http.MethodHead, loc, nil)
	if err != nil {
		return 0, err
	}
	resp, err := t.do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return uploadOffset(req, resp)
}

func uploadOffset(req *http.Request, resp *http.Response) (int64, error) {
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		return 0, &Error{Code: connect.CodeInternal, Procedure: req.Method + " " + tusPath,
			Message: fmt.Sprintf("the upload server answered %s without a valid Upload-Offset", resp.Status)}
	}
	return off, nil
}

func (t *tusClient) request(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, invalidArgument("%s %s: %v", method, u, err)
	}
	if _, err := t.caller.setHeaders(ctx, req.Header); err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	return req, nil
}

// do sends req; an error answer becomes an *Error naming the upload
// endpoint. A 409 (the offset sent is not the server's) is CodeAborted.
func (t *tusClient) do(req *http.Request) (*http.Response, error) {
	resp, err := t.c.doStorage(req)
	var e *Error
	if errors.As(err, &e) {
		e.Procedure = req.Method + " " + tusPath
	}
	return resp, err
}

// encodeTusMetadata is the Upload-Metadata header: "key base64(value)"
// pairs separated by commas, keys in a stable order.
func encodeTusMetadata(meta map[string]string) string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + base64.StdEncoding.EncodeToString([]byte(meta[k]))
	}
	return strings.Join(parts, ",")
}
