package storage

import (
	"context"
	"errors"
	"io"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
)

// blobReader is an io.ReadSeeker over a blob that maps Seek and Read to
// ranged Gets, opening lazily at the current offset, so http.ServeContent
// can serve ranges without the bytes passing through memory whole.
type blobReader struct {
	ctx       context.Context
	be        blob.Backend
	ref, key  string
	size, off int64
	rc        io.ReadCloser
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.rc == nil {
		rc, err := r.be.Get(r.ctx, r.ref, r.key, r.off, -1)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	r.off += int64(n)
	return n, err
}

func (r *blobReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("storage: seek before the start")
	}
	if offset != r.off && r.rc != nil {
		r.rc.Close()
		r.rc = nil
	}
	r.off = offset
	return offset, nil
}

// Close releases the open Get, if any.
func (r *blobReader) Close() error {
	if r.rc != nil {
		return r.rc.Close()
	}
	return nil
}
