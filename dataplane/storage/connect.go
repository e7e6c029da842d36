package storage

import (
	"context"
	"errors"
	"regexp"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

var refPattern = regexp.MustCompile(`^[a-z0-9]{4,32}$`)

func validRef(ref string) bool { return refPattern.MatchString(ref) }

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// Handler is the Connect StorageService over a Service; mount it behind
// the key (and user) interceptors.
type Handler struct{ svc *Service }

var _ dataplanev1connect.StorageServiceHandler = Handler{}

// NewHandler returns the Connect handler of svc.
func NewHandler(svc *Service) Handler { return Handler{svc: svc} }

// connectErr hands Connect the *connect.Error inside err (storage errors
// wrap their causes), or err.
func connectErr(err error) error {
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		return ce
	}
	return err
}

func answer[T any](m *T, err error) (*connect.Response[T], error) {
	if err != nil {
		return nil, connectErr(err)
	}
	return connect.NewResponse(m), nil
}

func (h Handler) CreateBucket(ctx context.Context, req *connect.Request[dataplanev1.CreateBucketRequest]) (*connect.Response[dataplanev1.CreateBucketResponse], error) {
	b, err := h.svc.CreateBucket(ctx, req.Msg.GetBucket())
	return answer(&dataplanev1.CreateBucketResponse{Bucket: b}, err)
}

func (h Handler) GetBucket(ctx context.Context, req *connect.Request[dataplanev1.GetBucketRequest]) (*connect.Response[dataplanev1.GetBucketResponse], error) {
	b, err := h.svc.GetBucket(ctx, req.Msg.GetName())
	return answer(&dataplanev1.GetBucketResponse{Bucket: b}, err)
}

func (h Handler) ListBuckets(ctx context.Context, _ *connect.Request[dataplanev1.ListBucketsRequest]) (*connect.Response[dataplanev1.ListBucketsResponse], error) {
	bs, err := h.svc.ListBuckets(ctx)
	return answer(&dataplanev1.ListBucketsResponse{Buckets: bs}, err)
}

func (h Handler) UpdateBucket(ctx context.Context, req *connect.Request[dataplanev1.UpdateBucketRequest]) (*connect.Response[dataplanev1.UpdateBucketResponse], error) {
	b, err := h.svc.UpdateBucket(ctx, req.Msg.GetBucket(), req.Msg.GetUpdateMask())
	return answer(&dataplanev1.UpdateBucketResponse{Bucket: b}, err)
}

func (h Handler) DeleteBucket(ctx context.Context, req *connect.Request[dataplanev1.DeleteBucketRequest]) (*connect.Response[dataplanev1.DeleteBucketResponse], error) {
	n, err := h.svc.DeleteBucket(ctx, req.Msg.GetName(), req.Msg.GetForce())
	return answer(&dataplanev1.DeleteBucketResponse{DeletedObjects: n}, err)
}

func (h Handler) StatObject(ctx context.Context, req *connect.Request[dataplanev1.StatObjectRequest]) (*connect.Response[dataplanev1.StatObjectResponse], error) {
	o, err := h.svc.StatObject(ctx, req.Msg.GetBucket(), req.Msg.GetName())
	if err != nil {
		return nil, connectErr(err)
	}
	return connect.NewResponse(&dataplanev1.StatObjectResponse{Object: o.Proto()}), nil
}

func (h Handler) ListObjects(ctx context.Context, req *connect.Request[dataplanev1.ListObjectsRequest]) (*connect.Response[dataplanev1.ListObjectsResponse], error) {
	m := req.Msg
	res, err := h.svc.ListObjects(ctx, m.GetBucket(), m.GetPrefix(), m.GetDelimiter(), m.GetPageSize(), m.GetPageToken())
	if err != nil {
		return nil, connectErr(err)
	}
	out := &dataplanev1.ListObjectsResponse{Prefixes: res.Prefixes, NextPageToken: res.NextPageToken}
	for _, o := range res.Objects {
		out.Objects = append(out.Objects, o.Proto())
	}
	return connect.NewResponse(out), nil
}

func (h Handler) DeleteObjects(ctx context.Context, req *connect.Request[dataplanev1.DeleteObjectsRequest]) (*connect.Response[dataplanev1.DeleteObjectsResponse], error) {
	del, nf, err := h.svc.DeleteObjects(ctx, req.Msg.GetBucket(), req.Msg.GetNames())
	return answer(&dataplanev1.DeleteObjectsResponse{Deleted: del, NotFound: nf}, err)
}

func (h Handler) CopyObject(ctx context.Context, req *connect.Request[dataplanev1.CopyObjectRequest]) (*connect.Response[dataplanev1.CopyObjectResponse], error) {
	m := req.Msg
	o, err := h.svc.CopyObject(ctx, m.GetBucket(), m.GetName(), m.GetDestinationBucket(), m.GetDestinationName(), false)
	if err != nil {
		return nil, connectErr(err)
	}
	return connect.NewResponse(&dataplanev1.CopyObjectResponse{Object: o.Proto()}), nil
}

func (h Handler) MoveObject(ctx context.Context, req *connect.Request[dataplanev1.MoveObjectRequest]) (*connect.Response[dataplanev1.MoveObjectResponse], error) {
	m := req.Msg
	o, err := h.svc.CopyObject(ctx, m.GetBucket(), m.GetName(), m.GetDestinationBucket(), m.GetDestinationName(), true)
	if err != nil {
		return nil, connectErr(err)
	}
	return connect.NewResponse(&dataplanev1.MoveObjectResponse{Object: o.Proto()}), nil
}

func (h Handler) UpdateObjectMetadata(ctx context.Context, req *connect.Request[dataplanev1.UpdateObjectMetadataRequest]) (*connect.Response[dataplanev1.UpdateObjectMetadataResponse], error) {
	o, err := h.svc.UpdateObjectMetadata(ctx, req.Msg.GetBucket(), req.Msg.GetName(), req.Msg.GetMetadata())
	if err != nil {
		return nil, connectErr(err)
	}
	return connect.NewResponse(&dataplanev1.UpdateObjectMetadataResponse{Object: o.Proto()}), nil
}

func (h Handler) CreateSignedURL(ctx context.Context, req *connect.Request[dataplanev1.CreateSignedURLRequest]) (*connect.Response[dataplanev1.CreateSignedURLResponse], error) {
	m := req.Msg
	if m.GetExpiresInSeconds() < 0 || m.GetExpiresInSeconds() > int64(MaxSignedURLExpiry/time.Second) {
		return nil, connectErr(invalidf("expires_in_seconds must be 1 to %d", int64(MaxSignedURLExpiry/time.Second)))
	}
	u, exp, err := h.svc.SignURL(ctx, m.GetBucket(), m.GetName(), m.GetMethod(), time.Duration(m.GetExpiresInSeconds())*time.Second)
	if err != nil {
		return nil, connectErr(err)
	}
	return connect.NewResponse(signedResponse(u, exp)), nil
}

func (h Handler) RotateStorageSigningKey(ctx context.Context, _ *connect.Request[dataplanev1.RotateStorageSigningKeyRequest]) (*connect.Response[dataplanev1.RotateStorageSigningKeyResponse], error) {
	kid, err := h.svc.RotateSigningKey(ctx)
	return answer(&dataplanev1.RotateStorageSigningKeyResponse{KeyId: kid}, err)
}

func (h Handler) GetStorageUsage(ctx context.Context, _ *connect.Request[dataplanev1.GetStorageUsageRequest]) (*connect.Response[dataplanev1.GetStorageUsageResponse], error) {
	u, err := h.svc.GetUsage(ctx)
	return answer(&dataplanev1.GetStorageUsageResponse{Bytes: u.Bytes, Objects: u.Objects, LimitBytes: u.LimitBytes}, err)
}
