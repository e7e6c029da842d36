package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"connectrpc.com/connect"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	xslog "golang.org/x/exp/slog"

	"github.com/sovereign-backend/sovereign/internal/rpcerr"
)

// TUSPath is where resumable uploads (tus 1.0.0) are served: POST creates
// an upload, HEAD, PATCH and DELETE on TUSPath+"<upload id>" read its
// offset, append to it and cancel it.
const TUSPath = "/v1/storage/uploads/"

// Metadata keys of a tus upload's Upload-Metadata header (values base64, as
// tus says): the bucket and object name, the content type (sniffed from the
// first bytes when absent, as PUT does), an optional hex SHA-256 of the
// whole object, and "meta-<key>" for each custom metadata entry.
const (
	TUSMetaBucket      = "bucket"
	TUSMetaName        = "name"
	TUSMetaContentType = "content_type"
	TUSMetaSHA256      = "sha256"
	TUSMetaPrefix      = "meta-"
)

// tusHandler builds the tus handler of the REST face: tusd's protocol
// handling over tusStore, the platform's CORS instead of tusd's, uploads up
// to Config.MaxObjectBytes (tusd answers a larger Upload-Length with 413
// before the store sees it), and an in-process lock per upload, so that a
// HEAD after an interrupted PATCH waits until the PATCH has recorded the
// bytes it received.
func (a *REST) tusHandler() (*tusd.UnroutedHandler, error) {
	composer := tusd.NewStoreComposer()
	st := &tusStore{s: a.svc}
	composer.UseCore(st)
	composer.UseTerminater(st)
	memorylocker.New().UseIn(composer)
	base := TUSPath
	if a.svc.cfg.PublicURL != "" {
		base = strings.TrimSuffix(a.svc.cfg.PublicURL, "/") + TUSPath
	}
	return tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:        composer,
		BasePath:             base,
		MaxSize:              a.svc.cfg.MaxObjectBytes,
		DisableDownload:      true,
		DisableConcatenation: true,
		Cors:                 &tusd.CorsConfig{Disable: true},
		// tusd logs every request at Info; our store logs what fails.
		Logger: xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
}

// registerTUS mounts the tus routes on mux: every method but OPTIONS
// (tus discovery, and CORS preflights, which the platform's CORS handler
// answers before) authenticates the API key and end user as the other
// routes do, and the store scopes each upload by that caller's project.
func (a *REST) registerTUS(mux *http.ServeMux) {
	h, err := a.tusHandler()
	if err != nil {
		// Only a malformed PublicURL gets here, which the data plane's
		// config validation refuses first.
		panic(fmt.Sprintf("storage: tus handler: %v", err))
	}
	// tusd reads the upload id from a path without the base path.
	auth := func(fn http.HandlerFunc) http.Handler {
		return http.StripPrefix(TUSPath, h.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, err := a.authenticate(r.Context(), r.Header)
			if err != nil {
				writeError(w, r, err)
				return
			}
			fn(w, r.WithContext(ctx))
		})))
	}
	mux.Handle("OPTIONS "+TUSPath, h.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.Handle("POST "+TUSPath+"{$}", auth(h.PostFile))
	mux.Handle("HEAD "+TUSPath+"{id}", auth(h.HeadFile))
	mux.Handle("PATCH "+TUSPath+"{id}", auth(h.PatchFile))
	mux.Handle("DELETE "+TUSPath+"{id}", auth(h.DelFile))
}

// tusError is err as tusd sends it: the status of Status and the data
// plane's JSON error body. Internal errors are logged and hidden.
func tusError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[tusd.Error](err); ok {
		return te
	}
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok {
		ce, _ = errors.AsType[*connect.Error](rpcerr.Internal(ctx, err))
		err = ce
	}
	body, _ := json.Marshal(map[string]string{"code": ce.Code().String(), "message": ce.Message()})
	return tusd.Error{
		ErrorCode: ce.Code().String(),
		Message:   ce.Message(),
		HTTPResponse: tusd.HTTPResponse{
			StatusCode: Status(err),
			Body:       string(body) + "\n",
			Header:     tusd.HTTPHeader{"Content-Type": "application/json"},
		},
	}
}

// uploadIDPattern is what an upload id looks like (newID's hex); others
// are not found without a query.
var uploadIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// errUploadNotFound is the answer for an unknown upload and for another
// project's or another user's.
func errUploadNotFound(id string) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("no such upload %q", id))
}

// tusParams is an upload's object, read from its tus metadata.
type tusParams struct {
	bucket, name, contentType, sha256 string
	metadata                          map[string]string
}

// parseTUSMeta reads and checks the object an upload will become.
func parseTUSMeta(meta tusd.MetaData) (tusParams, error) {
	p := tusParams{bucket: meta[TUSMetaBucket], name: meta[TUSMetaName], contentType: meta[TUSMetaContentType],
		sha256: strings.ToLower(meta[TUSMetaSHA256])}
	if p.bucket == "" || p.name == "" {
		return p, invalidf("Upload-Metadata must name the %s and the object %s", TUSMetaBucket, TUSMetaName)
	}
	if err := CheckBucketName(p.bucket); err != nil {
		return p, err
	}
	if err := CheckObjectName(p.name); err != nil {
		return p, err
	}
	for k, v := range meta {
		if mk, ok := strings.CutPrefix(k, TUSMetaPrefix); ok {
			if p.metadata == nil {
				p.metadata = map[string]string{}
			}
			p.metadata[mk] = v
		}
	}
	if err := CheckMetadata(p.metadata); err != nil {
		return p, err
	}
	if p.sha256 != "" {
		if raw, err := hex.DecodeString(p.sha256); err != nil || len(raw) != sha256.Size {
			return p, invalidf("the %s metadata %q is not a hex SHA-256", TUSMetaSHA256, p.sha256)
		}
	}
	if p.contentType != "" && mediaType(p.contentType) == "" {
		return p, invalidf("content type %q is not a media type", p.contentType)
	}
	return p, nil
}
