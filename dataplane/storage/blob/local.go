package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// tmpDir is the directory inside each tenant's root where Put writes a blob
// before renaming it into place. Keys never start with '.', so no key can
// name it, and List skips it.
const tmpDir = ".tmp"

// Local stores blobs as files on local disk: tenant ref's blob key k is the
// file <dir>/<ref>/<k>. Every file operation goes through an os.Root opened
// on the tenant's directory, so that no name, even one that slipped past
// ValidKey, and no symbolic link can reach a file outside it; ValidKey is
// the first wall, os.Root the second.
//
// Put writes to a temporary file under <dir>/<ref>/.tmp/, fsyncs it and
// renames it into place, so a blob is either whole or absent. Copy uses the
// kernel's file-to-file copy (copy_file_range on Linux) where it can.
//
// One limit of a file system that an object store does not have: a key
// cannot be both a blob and a "directory" of other blobs ("a" and "a/b" at
// the same time); such a Put fails. The storage service's keys
// ("<bucket-id>/<object-id>") never do that.
type Local struct {
	dir  string
	root *os.Root // on dir
	// noSync skips the fsyncs of Put, for the fuzz test only: it checks
	// where files go, not that they survive a crash, and fsync would make
	// it a hundred times slower.
	noSync bool
}

var _ Backend = (*Local)(nil)

// NewLocal returns a Local backend keeping blobs under dir, which is created
// (mode 0700) when missing.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("blob: local directory is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: local directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: local directory: %w", err)
	}
	return &Local{dir: dir, root: root}, nil
}

// Name returns "local".
func (l *Local) Name() string { return "local" }

// Dir returns the directory the blobs are kept under.
func (l *Local) Dir() string { return l.dir }

// Close releases the directory handle. The Local must not be used after.
func (l *Local) Close() error { return l.root.Close() }

// tenant opens the root of ref's directory, creating the directory when
// create is set. A missing directory is ErrNotFound.
func (l *Local) tenant(ref string, create bool) (*os.Root, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	if create {
		if err := l.root.Mkdir(ref, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("blob: tenant directory: %w", err)
		}
	}
	r, err := l.root.OpenRoot(ref)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("blob: tenant directory: %w", err)
	}
	return r, nil
}

// Put implements Backend.
func (l *Local) Put(ctx context.Context, ref, key string, r io.Reader, size int64) (Info, error) {
	if err := checkLocalKey(key); err != nil {
		return Info{}, err
	}
	return l.put(ctx, ref, key, r, size)
}

// put is Put without the key check: the fuzz test calls it with any name so
// that os.Root alone has to keep the name inside the tenant's root.
func (l *Local) put(ctx context.Context, ref, name string, r io.Reader, size int64) (Info, error) {
	root, err := l.tenant(ref, true)
	if err != nil {
		return Info{}, err
	}
	defer root.Close()
	if err := root.Mkdir(tmpDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	tmp := path.Join(tmpDir, randomName())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = root.Remove(tmp)
		}
	}()
	var src io.Reader = ctxReader{ctx, r}
	if size >= 0 {
		src = ctxReader{ctx, &exactReader{r: r, n: size}}
	} else if file, ok := r.(*os.File); ok {
		src = file // lets io.Copy use copy_file_range (Copy)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	if !l.noSync {
		if err := f.Sync(); err != nil {
			return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	// The last moment to give up: after the rename the blob is stored.
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	// A concurrent Delete may remove the (then empty) parent directory
	// between MkdirAll and Rename; try again a few times.
	dir := path.Dir(name)
	for attempt := 1; ; attempt++ {
		if dir != "." {
			if err := root.MkdirAll(dir, 0o700); err != nil {
				return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
			}
		}
		err = root.Rename(tmp, name)
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, fs.ErrNotExist) {
			return Info{}, fmt.Errorf("blob: put %s: %w", name, err)
		}
	}
	committed = true
	if !l.noSync {
		syncDir(root, dir)
	}
	return Info{Key: name, Size: n}, nil
}

// syncDir fsyncs a directory so that a rename into it survives a crash. It
// is best effort: some file systems refuse to sync directories.
func syncDir(root *os.Root, dir string) {
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Get implements Backend.
func (l *Local) Get(ctx context.Context, ref, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkLocalKey(key); err != nil {
		return nil, err
	}
	return l.get(ctx, ref, key, offset, length)
}

func (l *Local) get(ctx context.Context, ref, name string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", ErrInvalidRange, offset)
	}
	root, err := l.tenant(ref, false)
	if err != nil {
		return nil, notFound(name, err)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, notFound(name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: get %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob: get %s: %w", name, ErrNotFound)
	}
	if offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("blob: get %s: offset %d of %d bytes: %w", name, offset, fi.Size(), ErrInvalidRange)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: get %s: %w", name, err)
	}
	n := fi.Size() - offset
	if length >= 0 {
		n = min(n, length)
	}
	return readCloser{io.LimitReader(f, n), f}, nil
}

// Stat implements Backend.
func (l *Local) Stat(ctx context.Context, ref, key string) (Info, error) {
	if err := checkLocalKey(key); err != nil {
		return Info{}, err
	}
	return l.stat(ctx, ref, key)
}

func (l *Local) stat(ctx context.Context, ref, name string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	root, err := l.tenant(ref, false)
	if err != nil {
		return Info{}, notFound(name, err)
	}
	defer root.Close()
	fi, err := root.Stat(name)
	if err != nil {
		return Info{}, notFound(name, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blob: stat %s: %w", name, ErrNotFound)
	}
	return Info{Key: name, Size: fi.Size()}, nil
}

// Copy implements Backend. The bytes go file to file inside the kernel
// where it can (copy_file_range), through a temporary file like Put.
func (l *Local) Copy(ctx context.Context, ref, src, dst string) (Info, error) {
	if err := checkLocalKey(src); err != nil {
		return Info{}, err
	}
	if err := checkLocalKey(dst); err != nil {
		return Info{}, err
	}
	return l.copy(ctx, ref, src, dst)
}

func (l *Local) copy(ctx context.Context, ref, src, dst string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	root, err := l.tenant(ref, false)
	if err != nil {
		return Info{}, notFound(src, err)
	}
	defer root.Close()
	f, err := root.Open(src)
	if err != nil {
		return Info{}, notFound(src, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("blob: copy %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blob: copy %s: %w", src, ErrNotFound)
	}
	// put hands an *os.File to io.Copy as it is, so the kernel copies.
	return l.put(ctx, ref, dst, f, -1)
}

// Delete implements Backend. Directories left empty are removed too.
func (l *Local) Delete(ctx context.Context, ref, key string) error {
	if err := checkLocalKey(key); err != nil {
		return err
	}
	return l.delete(ctx, ref, key)
}

func (l *Local) delete(ctx context.Context, ref, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := l.tenant(ref, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob: delete %s: %w", name, err)
	}
	if fi.IsDir() {
		return nil // not a blob
	}
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", name, err)
	}
	// Remove the parents that are now empty; Remove refuses non-empty ones.
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if root.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List implements Backend. It walks the tenant's directory, reading one
// directory at a time, in key (byte) order.
func (l *Local) List(ctx context.Context, ref, prefix string, fn func(Info) bool) error {
	root, err := l.tenant(ref, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	_, err = walk(ctx, root, "", prefix, fn)
	return err
}

// walk lists the blobs in directory dir ("" for the root, else ending in
// '/') whose keys start with prefix, and reports whether fn wants more.
func walk(ctx context.Context, root *os.Root, dir, prefix string, fn func(Info) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	d, err := root.Open(path.Clean("./" + dir))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil // removed since its parent was read
	}
	if err != nil {
		return false, fmt.Errorf("blob: list: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return false, fmt.Errorf("blob: list: %w", err)
	}
	type entry struct {
		key   string // a directory's ends in '/'
		isDir bool
	}
	var list []entry
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // the temporary directory; never a key
		}
		switch {
		case e.IsDir():
			k := dir + e.Name() + "/"
			if strings.HasPrefix(k, prefix) || strings.HasPrefix(prefix, k) {
				list = append(list, entry{k, true})
			}
		case e.Type().IsRegular():
			if k := dir + e.Name(); strings.HasPrefix(k, prefix) {
				list = append(list, entry{k, false})
			}
		}
		// Anything else (symbolic links, devices) is not a blob.
	}
	// A directory sorts as its name followed by '/': "a-b" < "a/x" because
	// '-' < '/'. Keys are then in plain byte order.
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range list {
		if e.isDir {
			more, err := walk(ctx, root, e.key, prefix, fn)
			if !more || err != nil {
				return false, err
			}
			continue
		}
		fi, err := root.Lstat(e.key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("blob: list: %w", err)
		}
		if !fn(Info{Key: e.key, Size: fi.Size()}) {
			return false, nil
		}
	}
	return true, nil
}

// DeleteTenant implements Backend: it removes the tenant's directory.
func (l *Local) DeleteTenant(ctx context.Context, ref string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.root.RemoveAll(ref); err != nil {
		return fmt.Errorf("blob: delete tenant: %w", err)
	}
	return nil
}

// notFound maps a missing file (or a path through a non-directory) to
// ErrNotFound and wraps anything else.
func notFound(name string, err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("blob: %s: %w", name, ErrNotFound)
	}
	return fmt.Errorf("blob: %s: %w", name, err)
}

// randomName returns a fresh name for a temporary file.
func randomName() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "put-" + hex.EncodeToString(b)
}

// readCloser reads from Reader and closes Closer.
type readCloser struct {
	io.Reader
	io.Closer
}

// ctxReader fails reads once ctx has ended, so that a Put stops soon after
// its context is cancelled even when r never blocks.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Leftovers returns the names of the temporary files in the tenant's
// directory: Puts in progress, or ones a crash interrupted (a failed Put
// removes its own). The conformance suite checks that failed Puts leave
// none.
func (l *Local) Leftovers(ctx context.Context, ref string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := l.tenant(ref, false)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	d, err := root.Open(tmpDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blob: leftovers: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("blob: leftovers: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// maxSegment is the longest file name most file systems allow (NAME_MAX),
// in bytes. A key may be up to MaxKeyLen bytes, but on local disk none of
// its slash-separated segments may be longer than this.
const maxSegment = 255

// checkLocalKey is checkKey plus the file system's limit on a segment.
func checkLocalKey(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if len(seg) > maxSegment {
			return fmt.Errorf("%w: a segment of %d bytes, more than %d (local disk)", ErrInvalidKey, len(seg), maxSegment)
		}
	}
	return nil
}
