package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// MaxJSONBytes caps the JSON body of the REST routes that take one.
const MaxJSONBytes = 1 << 20

// REST serves the storage REST routes (see RESTConfig and Register).
type REST struct {
	svc  *Service
	keys keyauth.Authenticator
	// users authenticates an end user's token after the key; nil serves
	// keys only.
	users func(ctx context.Context, h http.Header) (context.Context, error)
}

// NewREST returns the REST face of svc: keys authenticates API keys,
// users (may be nil) end users' access tokens, as the other REST routes
// do.
func NewREST(svc *Service, keys keyauth.Authenticator, users func(ctx context.Context, h http.Header) (context.Context, error)) *REST {
	return &REST{svc: svc, keys: keys, users: users}
}

// Register mounts the routes on mux.
func (a *REST) Register(mux *http.ServeMux) {
	auth := map[string]func(http.ResponseWriter, *http.Request) error{
		"POST /v1/storage/buckets":                      a.createBucket,
		"GET /v1/storage/buckets":                       a.listBuckets,
		"GET /v1/storage/buckets/{bucket}":              a.getBucket,
		"PATCH /v1/storage/buckets/{bucket}":            a.updateBucket,
		"DELETE /v1/storage/buckets/{bucket}":           a.deleteBucket,
		"POST /v1/storage/buckets/{bucket}/delete":      a.deleteObjects,
		"POST /v1/storage/buckets/{bucket}/copy":        a.copyObject(false),
		"POST /v1/storage/buckets/{bucket}/move":        a.copyObject(true),
		"PUT /v1/storage/buckets/{bucket}/metadata":     a.updateMetadata,
		"POST /v1/storage/buckets/{bucket}/sign":        a.sign,
		"POST /v1/storage/signing-key/rotate":           a.rotate,
		"GET /v1/storage/usage":                         a.usage,
		"PUT /v1/storage/objects/{bucket}/{name...}":    a.put,
		"POST /v1/storage/objects/{bucket}/{name...}":   a.postForm,
		"GET /v1/storage/objects/{bucket}/{name...}":    a.get,
		"HEAD /v1/storage/objects/{bucket}/{name...}":   a.get,
		"DELETE /v1/storage/objects/{bucket}/{name...}": a.deleteObject,
		"GET /v1/storage/objects/{bucket}":              a.list,
	}
	for pattern, fn := range auth {
		mux.Handle(pattern, a.wrap(true, fn))
	}
	mux.Handle("GET /v1/storage/public/{ref}/{bucket}/{name...}", a.wrap(false, a.public))
	mux.Handle("HEAD /v1/storage/public/{ref}/{bucket}/{name...}", a.wrap(false, a.public))
	for _, m := range []string{"GET", "HEAD", "PUT"} {
		mux.Handle(m+" /v1/storage/signed/{ref}/{bucket}/{name...}", a.wrap(false, a.signed))
	}
	// Resumable uploads (tus.go).
	a.registerTUS(mux)
}

func (a *REST) wrap(authenticate bool, fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		ctx := r.Context()
		if authenticate {
			ctx, err = a.authenticate(ctx, r.Header)
		}
		if err == nil {
			err = fn(w, r.WithContext(ctx))
		}
		if err != nil {
			writeError(w, r, err)
		}
	})
}

func (a *REST) authenticate(ctx context.Context, h http.Header) (context.Context, error) {
	key := keyauth.KeyFromHeader(h)
	if key == "" {
		return ctx, rpcerr.New(connect.CodeUnauthenticated, keyauth.MissingKeyMessage)
	}
	id, err := a.keys.Authenticate(ctx, key)
	if err != nil {
		return ctx, keyauth.Error(ctx, err)
	}
	ctx = keyauth.NewContext(ctx, id)
	if a.users != nil {
		return a.users(ctx, h)
	}
	return ctx, nil
}

// Status is the HTTP status of a storage error: 413 for ErrTooLarge, 412
// for ErrPrecondition, else the Connect code's, as the rest of the data
// plane's REST API maps it (rest.HTTPStatus).
func Status(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrPrecondition):
		return http.StatusPreconditionFailed
	}
	return rest.HTTPStatus(connect.CodeOf(err))
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok {
		ce, _ = errors.AsType[*connect.Error](rpcerr.Internal(r.Context(), err))
		err = ce
	}
	body, _ := json.Marshal(map[string]string{"code": ce.Code().String(), "message": ce.Message()})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.Header().Del("Content-Disposition")
	w.WriteHeader(Status(err))
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
}

var marshal = protojson.MarshalOptions{UseProtoNames: true}

func writeProto(w http.ResponseWriter, status int, m proto.Message) error {
	b, err := marshal.Marshal(m)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

func readJSON(r *http.Request, m proto.Message) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxJSONBytes+1))
	if err != nil {
		return invalidf("read body: %v", err)
	}
	if len(b) > MaxJSONBytes {
		return tooLarge("the JSON body is more than %d bytes", MaxJSONBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		return invalidf("body: %v", err)
	}
	return nil
}

func (a *REST) createBucket(w http.ResponseWriter, r *http.Request) error {
	var b dataplanev1.Bucket
	if err := readJSON(r, &b); err != nil {
		return err
	}
	out, err := a.svc.CreateBucket(r.Context(), &b)
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusCreated, &dataplanev1.CreateBucketResponse{Bucket: out})
}

func (a *REST) listBuckets(w http.ResponseWriter, r *http.Request) error {
	out, err := a.svc.ListBuckets(r.Context())
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.ListBucketsResponse{Buckets: out})
}

func (a *REST) getBucket(w http.ResponseWriter, r *http.Request) error {
	out, err := a.svc.GetBucket(r.Context(), r.PathValue("bucket"))
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.GetBucketResponse{Bucket: out})
}

func (a *REST) updateBucket(w http.ResponseWriter, r *http.Request) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxJSONBytes+1))
	if err != nil || len(raw) > MaxJSONBytes {
		return invalidf("the body must be a JSON object of at most %d bytes", MaxJSONBytes)
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return invalidf("body: %v", err)
	}
	var b dataplanev1.Bucket
	if err := protojson.Unmarshal(raw, &b); err != nil {
		return invalidf("body: %v", err)
	}
	b.Name = r.PathValue("bucket")
	var mask []string
	for k := range present {
		switch k {
		case "allowedContentTypes":
			k = "allowed_content_types"
		case "maxObjectBytes":
			k = "max_object_bytes"
		case "name":
			continue
		}
		mask = append(mask, k)
	}
	out, err := a.svc.UpdateBucket(r.Context(), &b, mask)
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.UpdateBucketResponse{Bucket: out})
}

func (a *REST) deleteBucket(w http.ResponseWriter, r *http.Request) error {
	force := false
	if v := r.URL.Query().Get("force"); v != "" {
		var err error
		if force, err = strconv.ParseBool(v); err != nil {
			return invalidf("force must be true or false, not %q", v)
		}
	}
	n, err := a.svc.DeleteBucket(r.Context(), r.PathValue("bucket"), force)
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.DeleteBucketResponse{DeletedObjects: n})
}

func (a *REST) deleteObjects(w http.ResponseWriter, r *http.Request) error {
	var req dataplanev1.DeleteObjectsRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	del, nf, err := a.svc.DeleteObjects(r.Context(), r.PathValue("bucket"), req.GetNames())
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.DeleteObjectsResponse{Deleted: del, NotFound: nf})
}

func (a *REST) copyObject(move bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req dataplanev1.CopyObjectRequest
		if err := readJSON(r, &req); err != nil {
			return err
		}
		o, err := a.svc.CopyObject(r.Context(), r.PathValue("bucket"), req.GetName(), req.GetDestinationBucket(), req.GetDestinationName(), move)
		if err != nil {
			return err
		}
		return writeProto(w, http.StatusOK, &dataplanev1.CopyObjectResponse{Object: o.Proto()})
	}
}

func (a *REST) updateMetadata(w http.ResponseWriter, r *http.Request) error {
	var req dataplanev1.UpdateObjectMetadataRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	o, err := a.svc.UpdateObjectMetadata(r.Context(), r.PathValue("bucket"), req.GetName(), req.GetMetadata())
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.UpdateObjectMetadataResponse{Object: o.Proto()})
}

func (a *REST) sign(w http.ResponseWriter, r *http.Request) error {
	var req dataplanev1.CreateSignedURLRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	u, exp, err := a.svc.SignURL(r.Context(), r.PathValue("bucket"), req.GetName(), req.GetMethod(), time.Duration(req.GetExpiresInSeconds())*time.Second)
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, signedResponse(u, exp))
}

func (a *REST) rotate(w http.ResponseWriter, r *http.Request) error {
	kid, err := a.svc.RotateSigningKey(r.Context())
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.RotateStorageSigningKeyResponse{KeyId: kid})
}

func (a *REST) usage(w http.ResponseWriter, r *http.Request) error {
	u, err := a.svc.GetUsage(r.Context())
	if err != nil {
		return err
	}
	return writeProto(w, http.StatusOK, &dataplanev1.GetStorageUsageResponse{Bytes: u.Bytes, Objects: u.Objects, LimitBytes: u.LimitBytes})
}

func (a *REST) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	size := 0
	if v := q.Get("page_size"); v != "" {
		var err error
		if size, err = strconv.Atoi(v); err != nil {
			return invalidf("page_size must be a number, not %q", v)
		}
	}
	res, err := a.svc.ListObjects(r.Context(), r.PathValue("bucket"), q.Get("prefix"), q.Get("delimiter"), int32(min(max(size, -1), MaxPageSize+1)), q.Get("page_token"))
	if err != nil {
		return err
	}
	out := &dataplanev1.ListObjectsResponse{Prefixes: res.Prefixes, NextPageToken: res.NextPageToken}
	for _, o := range res.Objects {
		out.Objects = append(out.Objects, o.Proto())
	}
	return writeProto(w, http.StatusOK, out)
}

func (a *REST) deleteObject(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteObject(r.Context(), r.PathValue("bucket"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// putParams reads an upload's headers.
func putParams(r *http.Request) (PutParams, error) {
	p := PutParams{Bucket: r.PathValue("bucket"), Name: r.PathValue("name"), ContentType: r.Header.Get("Content-Type"),
		Size: r.ContentLength, SHA256: r.Header.Get("X-Checksum-SHA256"), Body: r.Body}
	if p.Size < 0 {
		p.Size = -1
	}
	for k, vs := range r.Header {
		if mk, ok := strings.CutPrefix(strings.ToLower(k), "x-meta-"); ok {
			if p.Metadata == nil {
				p.Metadata = map[string]string{}
			}
			p.Metadata[mk] = strings.Join(vs, ",")
		}
	}
	if v := r.Header.Get("If-None-Match"); v != "" {
		if strings.TrimSpace(v) != "*" {
			return p, invalidf("If-None-Match on an upload must be *")
		}
		p.IfNoneMatch = true
	}
	p.IfMatch = r.Header.Get("If-Match")
	return p, nil
}

func (a *REST) put(w http.ResponseWriter, r *http.Request) error {
	p, err := putParams(r)
	if err != nil {
		return err
	}
	return a.finishPut(w, r, func() (*Object, bool, error) { return a.svc.Put(r.Context(), p) })
}

func (a *REST) finishPut(w http.ResponseWriter, r *http.Request, put func() (*Object, bool, error)) error {
	o, created, err := put()
	if err != nil {
		// Unread bytes of a refused upload are not wanted: close the
		// connection rather than read them.
		w.Header().Set("Connection", "close")
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("ETag", o.ETag)
	return writeProto(w, status, &dataplanev1.StatObjectResponse{Object: o.Proto()})
}

// postForm uploads the part "file" of a multipart form, with the
// optional field "metadata" (a JSON object of strings) before it.
func (a *REST) postForm(w http.ResponseWriter, r *http.Request) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return invalidf("the body must be multipart/form-data with a part named file")
	}
	var md map[string]string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return invalidf("the form has no part named file")
		}
		if err != nil {
			return invalidf("read form: %v", err)
		}
		switch part.FormName() {
		case "metadata":
			raw, err := io.ReadAll(io.LimitReader(part, MaxMetadataBytes*2))
			if err != nil {
				return invalidf("read form field metadata: %v", err)
			}
			if err := json.Unmarshal(raw, &md); err != nil {
				return invalidf("form field metadata must be a JSON object of strings: %v", err)
			}
		case "file":
			p := PutParams{Bucket: r.PathValue("bucket"), Name: r.PathValue("name"), ContentType: part.Header.Get("Content-Type"),
				Size: -1, SHA256: r.Header.Get("X-Checksum-SHA256"), Metadata: md, Body: part}
			if p.ContentType == "application/octet-stream" {
				// What browsers send when they do not know: sniff instead.
				p.ContentType = ""
			}
			return a.finishPut(w, r, func() (*Object, bool, error) { return a.svc.Put(r.Context(), p) })
		}
	}
}

func (a *REST) get(w http.ResponseWriter, r *http.Request) error {
	o, err := a.svc.StatObject(r.Context(), r.PathValue("bucket"), r.PathValue("name"))
	if err != nil {
		return err
	}
	return a.serve(w, r, o)
}

func (a *REST) public(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("ref")
	if err := a.svc.tenantOK(r.Context(), ref); err != nil {
		return err
	}
	o, err := a.svc.objectFor(r.Context(), a.svc.anonymousOf(ref), r.PathValue("bucket"), r.PathValue("name"), true)
	if connect.CodeOf(err) == connect.CodeNotFound || connect.CodeOf(err) == connect.CodePermissionDenied {
		return connect.NewError(connect.CodeNotFound, errors.New("no such public object"))
	}
	if err != nil {
		return err
	}
	return a.serve(w, r, o)
}

func (a *REST) signed(w http.ResponseWriter, r *http.Request) error {
	ref, bucket, name := r.PathValue("ref"), r.PathValue("bucket"), r.PathValue("name")
	if err := a.svc.tenantOK(r.Context(), ref); err != nil {
		return errSignature("is not valid")
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if err := a.svc.verifySigned(r.Context(), r.URL.Query(), method, ref, bucket, name); err != nil {
		return err
	}
	// The signature stands for the service role on this one object.
	who := who{id: serviceID(ref)}
	if method == http.MethodPut {
		p, err := putParams(r)
		if err != nil {
			return err
		}
		return a.finishPut(w, r, func() (*Object, bool, error) { return a.svc.put(r.Context(), who, p) })
	}
	o, err := a.svc.objectFor(r.Context(), who, bucket, name, false)
	if err != nil {
		return err
	}
	return a.serve(w, r, o)
}

// serve answers the object's bytes with http.ServeContent, which handles
// Range, If-Range and the conditional headers.
func (a *REST) serve(w http.ResponseWriter, r *http.Request, o *Object) error {
	h := w.Header()
	h.Set("Content-Type", o.ContentType)
	h.Set("ETag", o.ETag)
	h.Set("X-Checksum-SHA256", o.SHA256)
	h.Set("Accept-Ranges", "bytes")
	for k, v := range o.Metadata {
		h.Set("X-Meta-"+k, v)
	}
	if d, ok := r.URL.Query()["download"]; ok {
		fn := o.Name[strings.LastIndex(o.Name, "/")+1:]
		if len(d) > 0 && d[0] != "" && d[0] != "1" && d[0] != "true" {
			fn = d[0]
		}
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fn}))
	}
	rs := &blobReader{ctx: r.Context(), be: a.svc.cfg.Blobs, ref: o.refOf(), key: o.BlobKey, size: o.Size}
	defer rs.Close()
	http.ServeContent(w, r, "", o.UpdatedAt, rs)
	return nil
}

// tenantOK refuses a tenant that is not served (unknown, paused) on the
// routes without a key: NotFound.
func (s *Service) tenantOK(ctx context.Context, ref string) error {
	if !validRef(ref) {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("no such project %q", ref))
	}
	if s.cfg.TenantActive != nil {
		if err := s.cfg.TenantActive(ctx, ref); err != nil {
			return connect.NewError(connect.CodeNotFound, fmt.Errorf("no such project %q", ref))
		}
	}
	return nil
}

func signedResponse(u string, exp time.Time) *dataplanev1.CreateSignedURLResponse {
	return &dataplanev1.CreateSignedURLResponse{Url: u, ExpiresAt: timestampOf(exp)}
}

// UsersFunc authenticates an end user's access token after the API key,
// returning the context with the user (caller.WithUser), or ctx unchanged
// when the request carries no user token.
type UsersFunc func(ctx context.Context, h http.Header) (context.Context, error)
