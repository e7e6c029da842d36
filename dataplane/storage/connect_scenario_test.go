package storage_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// call sends one StorageService request with the headers h and returns a
// summary of the answer for the checks.
type call func(ctx context.Context, c dataplanev1connect.StorageServiceClient, h http.Header) (string, error)

// rpc builds a call from a client method and a request message.
func rpc[Req, Res any](method func(dataplanev1connect.StorageServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Res], error), msg *Req, summary func(*Res) string) call {
	return func(ctx context.Context, c dataplanev1connect.StorageServiceClient, h http.Header) (string, error) {
		req := connect.NewRequest(msg)
		for k, v := range h {
			req.Header()[k] = v
		}
		res, err := method(c, ctx, req)
		if err != nil {
			return "", err
		}
		return summary(res.Msg), nil
	}
}

// TestConnectScenarios calls every StorageService method as the project's
// secret key (success), without a key (Unauthenticated), with the
// publishable key (PermissionDenied: the buckets have no rules) and with
// another project's secret key (NotFound), denied calls first.
func TestConnectScenarios(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, platformtest.Options{})
	a, b := pl.project(t), pl.project(t)
	base := pl.p.DataURL + "/v1/storage"
	for _, body := range []string{`{"name":"docs"}`, `{"name":"gone"}`} {
		if r := do(t, "POST", base+"/buckets", a.sk, strings.NewReader(body), nil); r.status != 201 {
			t.Fatalf("create bucket: %d %s", r.status, r.body)
		}
	}
	for _, name := range []string{"a.txt", "dir/b.txt", "del.txt", "mv.txt"} {
		if r := do(t, "PUT", base+"/objects/docs/"+name, a.sk, strings.NewReader("connect bytes"), map[string]string{"Content-Type": "text/plain"}); r.status != 201 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	client := dataplanev1connect.NewStorageServiceClient(http.DefaultClient, pl.p.DataURL)
	type S = dataplanev1connect.StorageServiceClient
	bucketName := func(r interface{ GetBucket() *dataplanev1.Bucket }) string { return r.GetBucket().GetName() }
	objectName := func(r interface{ GetObject() *dataplanev1.Object }) string {
		return r.GetObject().GetBucket() + "/" + r.GetObject().GetName()
	}
	scenarios := []struct {
		name string
		call call
		want string
		// pub and other are the codes of the publishable key and of the
		// other project; 0 means PermissionDenied and NotFound.
		pub, other connect.Code
		// otherSame: the other project's success may answer like ours
		// (about its own project).
		otherSame bool
	}{
		{name: "CreateBucket", call: rpc(S.CreateBucket, &dataplanev1.CreateBucketRequest{Bucket: &dataplanev1.Bucket{Name: "made"}}, func(r *dataplanev1.CreateBucketResponse) string { return bucketName(r) }),
			want: "made", other: success, otherSame: true},
		{name: "GetBucket", call: rpc(S.GetBucket, &dataplanev1.GetBucketRequest{Name: "docs"}, func(r *dataplanev1.GetBucketResponse) string { return bucketName(r) }), want: "docs"},
		{name: "ListBuckets", call: rpc(S.ListBuckets, &dataplanev1.ListBucketsRequest{}, func(r *dataplanev1.ListBucketsResponse) string {
			var n []string
			for _, b := range r.GetBuckets() {
				n = append(n, b.GetName())
			}
			return strings.Join(n, ",")
		}), want: "docs,gone,made", other: success},
		{name: "UpdateBucket", call: rpc(S.UpdateBucket, &dataplanev1.UpdateBucketRequest{Bucket: &dataplanev1.Bucket{Name: "docs", Public: true}, UpdateMask: []string{"public"}},
			func(r *dataplanev1.UpdateBucketResponse) string {
				return bucketName(r) + " " + boolStr(r.GetBucket().GetPublic())
			}), want: "docs true"},
		{name: "DeleteBucket", call: rpc(S.DeleteBucket, &dataplanev1.DeleteBucketRequest{Name: "gone"}, func(*dataplanev1.DeleteBucketResponse) string { return "ok" }), want: "ok"},
		{name: "StatObject", call: rpc(S.StatObject, &dataplanev1.StatObjectRequest{Bucket: "docs", Name: "a.txt"}, func(r *dataplanev1.StatObjectResponse) string { return objectName(r) }),
			want: "docs/a.txt",
			// docs is public now: any key reads its objects.
			pub: success},
		{name: "ListObjects", call: rpc(S.ListObjects, &dataplanev1.ListObjectsRequest{Bucket: "docs", Delimiter: "/"}, func(r *dataplanev1.ListObjectsResponse) string {
			n := strings.Join(r.GetPrefixes(), ",")
			for _, o := range r.GetObjects() {
				n += "," + o.GetName()
			}
			return n
		}), want: "dir/,a.txt,del.txt,mv.txt", pub: success},
		{name: "DeleteObjects", call: rpc(S.DeleteObjects, &dataplanev1.DeleteObjectsRequest{Bucket: "docs", Names: []string{"del.txt", "nope.txt"}}, func(r *dataplanev1.DeleteObjectsResponse) string {
			return strings.Join(r.GetDeleted(), ",") + " " + strings.Join(r.GetNotFound(), ",")
		}), want: "del.txt nope.txt"},
		{name: "CopyObject", call: rpc(S.CopyObject, &dataplanev1.CopyObjectRequest{Bucket: "docs", Name: "a.txt", DestinationBucket: "made", DestinationName: "c.txt"},
			func(r *dataplanev1.CopyObjectResponse) string { return objectName(r) }), want: "made/c.txt",
		// The other project has a bucket "made" but no "docs".
		},
		{name: "MoveObject", call: rpc(S.MoveObject, &dataplanev1.MoveObjectRequest{Bucket: "docs", Name: "mv.txt", DestinationName: "moved.txt"},
			func(r *dataplanev1.MoveObjectResponse) string { return objectName(r) }), want: "docs/moved.txt"},
		{name: "UpdateObjectMetadata", call: rpc(S.UpdateObjectMetadata, &dataplanev1.UpdateObjectMetadataRequest{Bucket: "docs", Name: "a.txt", Metadata: map[string]string{"k": "v"}},
			func(r *dataplanev1.UpdateObjectMetadataResponse) string { return r.GetObject().GetMetadata()["k"] }), want: "v"},
		{name: "CreateSignedURL", call: rpc(S.CreateSignedURL, &dataplanev1.CreateSignedURLRequest{Bucket: "docs", Name: "a.txt", Method: "GET"},
			func(r *dataplanev1.CreateSignedURLResponse) string {
				return boolStr(strings.HasPrefix(r.GetUrl(), pl.p.DataURL+"/v1/storage/signed/"+a.ref+"/docs/a.txt?") && r.GetExpiresAt().IsValid())
			}), want: "true"},
		{name: "GetStorageUsage", call: rpc(S.GetStorageUsage, &dataplanev1.GetStorageUsageRequest{}, func(r *dataplanev1.GetStorageUsageResponse) string {
			return boolStr(r.GetBytes() > 0 && r.GetObjects() > 0)
		}), want: "true", pub: success, other: success},
		{name: "RotateStorageSigningKey", call: rpc(S.RotateStorageSigningKey, &dataplanev1.RotateStorageSigningKeyRequest{}, func(r *dataplanev1.RotateStorageSigningKeyResponse) string {
			return boolStr(r.GetKeyId() != "")
		}), want: "true", other: success, otherSame: true},
	}
	hdr := func(key string) http.Header {
		h := http.Header{}
		if key != "" {
			h.Set("apikey", key)
		}
		return h
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			ctx := t.Context()
			for _, c := range []struct {
				who, key string
				want     connect.Code
			}{
				{"no key", "", connect.CodeUnauthenticated},
				{"publishable key", a.pk, cmpCode(sc.pub, connect.CodePermissionDenied)},
				{"other project", b.sk, cmpCode(sc.other, connect.CodeNotFound)},
			} {
				got, err := sc.call(ctx, client, hdr(c.key))
				switch {
				case c.want == success && err != nil:
					t.Errorf("%s: %v", c.who, err)
				case c.want == success && c.key == b.sk && got == sc.want && !sc.otherSame:
					t.Errorf("%s sees this project's answer %q", c.who, got)
				case c.want != success && connect.CodeOf(err) != c.want:
					t.Errorf("%s: code %v (%v), want %v", c.who, connect.CodeOf(err), err, c.want)
				}
			}
			got, err := sc.call(ctx, client, hdr(a.sk))
			if err != nil {
				t.Fatalf("secret key: %v", err)
			}
			if got != sc.want {
				t.Errorf("secret key: got %q, want %q", got, sc.want)
			}
		})
	}
	// Connect errors carry a message a person can act on.
	_, err := client.GetBucket(t.Context(), withKey(connect.NewRequest(&dataplanev1.GetBucketRequest{Name: "Bad Name"}), a.sk))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "bucket name") {
		t.Errorf("bad bucket name: %v", err)
	}
	_, err = client.StatObject(t.Context(), withKey(connect.NewRequest(&dataplanev1.StatObjectRequest{Bucket: "docs", Name: "a/../b"}), a.sk))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("traversing name: %v", err)
	}
	_, err = client.DeleteBucket(t.Context(), withKey(connect.NewRequest(&dataplanev1.DeleteBucketRequest{Name: "docs"}), a.sk))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("delete a non-empty bucket: %v", err)
	}
	res, err := client.DeleteBucket(t.Context(), withKey(connect.NewRequest(&dataplanev1.DeleteBucketRequest{Name: "docs", Force: true}), a.sk))
	if err != nil || res.Msg.GetDeletedObjects() != 3 {
		t.Errorf("force delete: %v %v", res, err)
	}
}

// success, as an expected code, is no error.
const success connect.Code = 1 << 20

func withKey[T any](r *connect.Request[T], key string) *connect.Request[T] {
	r.Header().Set("apikey", key)
	return r
}

func cmpCode(c, def connect.Code) connect.Code {
	if c != 0 {
		return c
	}
	return def
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
