package blob

import (
	"errors"
	"fmt"
	"io"
	"regexp"
)

// Open returns the backend a data plane is configured with: S3 (see
// ParseS3URL) when s3URL is set, else Local under dir.
func Open(dir, s3URL string) (Backend, error) {
	if s3URL != "" {
		cfg, err := ParseS3URL(s3URL)
		if err != nil {
			return nil, err
		}
		return NewS3(cfg)
	}
	return NewLocal(dir)
}

// refPattern is a tenant ref as package tenants accepts it (which this leaf
// package does not import): 4 to 32 lowercase letters and digits.
var refPattern = regexp.MustCompile(`^[a-z0-9]{4,32}$`)

// checkRef returns an error wrapping ErrInvalidKey when ref is not a
// well-formed tenant ref: a ref names a directory or a key prefix, so it
// must not be able to name anything else.
func checkRef(ref string) error {
	if !refPattern.MatchString(ref) {
		return fmt.Errorf("%w: tenant ref %q is not 4 to 32 lowercase letters and digits", ErrInvalidKey, ref)
	}
	return nil
}

// checkKey returns an error wrapping ErrInvalidKey when key is not valid.
func checkKey(key string) error {
	if !ValidKey(key) {
		if len(key) > MaxKeyLen {
			return fmt.Errorf("%w: key of %d bytes, more than %d", ErrInvalidKey, len(key), MaxKeyLen)
		}
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// ErrSizeMismatch is wrapped by the error of a Put whose reader gave more
// or fewer bytes than the size it was called with; nothing is stored.
var ErrSizeMismatch = errors.New("blob: reader length differs from the given size")

// exactReader reads exactly n bytes from r: it fails with ErrSizeMismatch
// when r ends early or has more. The check for more happens in the Read
// that would deliver the last byte, which then gives the error alone, so
// that a consumer which stops reading after n bytes (an HTTP request with a
// Content-Length, io.ReadFull) still sees the failure before it completes.
// A consumer that reads nothing when n is 0 must call checkEnd itself.
type exactReader struct {
	r io.Reader
	n int64 // bytes still expected
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	k, err := e.r.Read(p)
	e.n -= int64(k)
	switch {
	case e.n == 0:
		if err := e.checkEnd(); err != io.EOF {
			// Withhold the last bytes too: a consumer that got all it
			// asked for (io.ReadFull) would drop the error.
			return 0, err
		}
		return k, nil
	case err == io.EOF:
		return k, fmt.Errorf("%w: %d bytes short", ErrSizeMismatch, e.n)
	}
	return k, err
}

// checkEnd returns io.EOF when r has nothing more, else an error.
func (e *exactReader) checkEnd() error {
	var b [1]byte
	for range 100 {
		k, err := e.r.Read(b[:])
		if k > 0 {
			return fmt.Errorf("%w: more bytes than the size", ErrSizeMismatch)
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}
