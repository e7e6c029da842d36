// Package cp is `sov storage cp`: copy files to a bucket, objects to files,
// and objects between buckets; whole directories and prefixes with -r.
package cp

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/progress"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/storage/internal/remote"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov storage cp`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	// Src and Dst are local paths ("-": stdin or stdout) or remote paths
	// (sov://BUCKET/NAME).
	Src, Dst string
	// Recursive copies a directory or a prefix.
	Recursive bool
	// ContentType and Metadata apply to uploaded objects.
	ContentType string
	Metadata    map[string]string
	// Progress draws a bar on IO.ErrOut (set when it is a terminal).
	Progress bool
	JSON     bool
}

// Copied is one copy made, as --json prints it.
type Copied struct {
	From string `json:"from"`
	To   string `json:"to"`
	Size int64  `json:"size"`
}

// NewCmdCp builds the command; runF replaces the run function in tests.
func NewCmdCp(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	var meta []string
	cmd := &cobra.Command{
		Use:   "cp SRC DST [-r] [--content-type TYPE] [--meta KEY=VALUE]...",
		Short: "Copy files to and from buckets, and objects between buckets",
		Long: `Copy a local file to an object, an object to a local file, or an object to
another object. A remote path is sov://BUCKET/NAME; anything else is a local
path, and - is stdin (as SRC) or stdout (as DST).

A DST that ends with / (or is an existing directory, locally) receives the
source under its own base name. With -r, SRC is a directory (every file under
it is uploaded, its path relative to SRC appended to DST's name) or a prefix
sov://BUCKET/PREFIX (every object under it is downloaded into the directory
DST, or copied under DST's prefix).

Files of 8 MiB and more go up through resumable uploads, in 8 MiB chunks
that survive network failures. On a terminal a progress bar shows on stderr.`,
		Example: `  sov storage cp avatar.png sov://avatars/ada.png --content-type image/png
  sov storage cp sov://avatars/ada.png .
  sov storage cp -r ./site sov://www/
  sov storage cp -r sov://www/ ./site-copy
  sov storage cp sov://docs/a.pdf sov://archive/2024/a.pdf
  pg_dump mydb | sov storage cp - sov://backups/mydb.sql`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Src, opts.Dst = args[0], args[1]
			md, err := remote.ParseMeta(meta)
			if err != nil {
				return factory.UsageError("%v", err)
			}
			opts.Metadata = md
			opts.Progress = shared.IsTerminal(opts.IO.ErrOut)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Recursive, "recursive", "r", false, "copy a directory or a prefix")
	cmd.Flags().StringVar(&opts.ContentType, "content-type", "", "the uploaded objects' content type (default: sniffed by the platform)")
	cmd.Flags().StringArrayVar(&meta, "meta", nil, "custom metadata KEY=VALUE of the uploaded objects (repeat)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the copies made as JSON")
	return cmd
}

// Run makes the copy (or copies) and reports each.
func Run(ctx context.Context, opts *Options) error {
	srcRemote, dstRemote := remote.IsRemote(opts.Src), remote.IsRemote(opts.Dst)
	if !srcRemote && !dstRemote {
		return factory.UsageError("neither %q nor %q is a remote path: one of them must be sov://BUCKET/NAME", opts.Src, opts.Dst)
	}
	if srcRemote && (opts.ContentType != "" || opts.Metadata != nil) && !dstRemote {
		return factory.UsageError("--content-type and --meta apply to uploads")
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	r := &run{opts: opts, c: c}
	switch {
	case !srcRemote:
		err = r.upload(ctx)
	case !dstRemote:
		err = r.download(ctx)
	default:
		err = r.remoteCopy(ctx)
	}
	if opts.JSON {
		if jerr := factory.PrintJSON(opts.IO.Out, factory.NonNil(r.done)); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

type run struct {
	opts *Options
	c    *sovereign.Client
	done []Copied
}

// report prints one copy made (at once, unless --json).
func (r *run) report(from, to string, size int64) {
	r.done = append(r.done, Copied{From: from, To: to, Size: size})
	switch {
	case r.opts.JSON:
	case r.opts.IO.OutTTY:
		fmt.Fprintf(r.opts.IO.Out, "✓ %s → %s (%s)\n", from, to, progress.Size(size))
	default:
		fmt.Fprintf(r.opts.IO.Out, "%s\t%s\t%d\n", from, to, size)
	}
}

// bar returns a progress bar on stderr when it is a terminal, else nil
// (which draws nothing).
func (r *run) bar(label string, total int64) *progress.Bar {
	if !r.opts.Progress {
		return nil
	}
	return progress.New(r.opts.IO.ErrOut, label, progress.Bytes, max(total, 0))
}

// joinName appends base to a destination name: under it when it is empty
// or ends with "/".
func joinName(dst, base string) string {
	if dst == "" || strings.HasSuffix(dst, "/") {
		return dst + base
	}
	return dst
}

func (r *run) upload(ctx context.Context) error {
	dst, err := remote.Parse(r.opts.Dst)
	if err != nil {
		return factory.UsageError("%v", err)
	}
	if r.opts.Src == "-" {
		if r.opts.Recursive {
			return factory.UsageError("-r copies a directory; stdin is not one")
		}
		if dst.Name == "" || strings.HasSuffix(dst.Name, "/") {
			return factory.UsageError("name the object to write stdin to: sov://%s/NAME", dst.Bucket)
		}
		return r.uploadOne(ctx, os.Stdin, "-", dst, -1)
	}
	fi, err := os.Stat(r.opts.Src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if !r.opts.Recursive {
			return factory.UsageError("%s is a directory: pass -r to copy it", r.opts.Src)
		}
		prefix := dst.Name
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		return filepath.WalkDir(r.opts.Src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(r.opts.Src, p)
			if err != nil {
				return err
			}
			return r.uploadFile(ctx, p, remote.Path{Bucket: dst.Bucket, Name: prefix + filepath.ToSlash(rel)})
		})
	}
	dst.Name = joinName(dst.Name, filepath.Base(r.opts.Src))
	return r.uploadFile(ctx, r.opts.Src, dst)
}

func (r *run) uploadFile(ctx context.Context, p string, dst remote.Path) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return r.uploadOne(ctx, f, p, dst, fi.Size())
}

func (r *run) uploadOne(ctx context.Context, src io.Reader, from string, dst remote.Path, size int64) error {
	bar := r.bar(path.Base(dst.Name), size)
	var last int64
	o := &sovereign.UploadOptions{ContentType: r.opts.ContentType, Metadata: r.opts.Metadata, Size: size,
		Progress: func(sent, _ int64) { bar.Add(sent - last); last = sent }}
	obj, err := r.c.Storage().Bucket(dst.Bucket).Upload(ctx, dst.Name, src, o)
	bar.Finish()
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", from, dst, err)
	}
	r.report(from, dst.String(), obj.Size)
	return nil
}

func (r *run) download(ctx context.Context) error {
	src, err := remote.Parse(r.opts.Src)
	if err != nil {
		return factory.UsageError("%v", err)
	}
	b := r.c.Storage().Bucket(src.Bucket)
	if r.opts.Recursive {
		if r.opts.Dst == "-" {
			return factory.UsageError("-r writes files into a directory; stdout is not one")
		}
		if err := os.MkdirAll(r.opts.Dst, 0o755); err != nil {
			return err
		}
		// Every file is opened through the directory's root: no object name
		// can write outside it.
		root, err := os.OpenRoot(r.opts.Dst)
		if err != nil {
			return err
		}
		defer root.Close()
		n := 0
		for o, err := range b.List(ctx, sovereign.ListOptions{Prefix: src.Name, PageSize: 1000}) {
			if err != nil {
				return err
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(o.Name, src.Name), "/")
			if rel == "" || strings.HasSuffix(rel, "/") {
				rel = path.Base(o.Name)
			}
			if err := r.downloadTo(ctx, b, remote.Path{Bucket: src.Bucket, Name: o.Name}, root, filepath.FromSlash(rel),
				filepath.Join(r.opts.Dst, filepath.FromSlash(rel))); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return factory.NotFoundError("no objects under %s", src)
		}
		return nil
	}
	if src.Name == "" || strings.HasSuffix(src.Name, "/") {
		return factory.UsageError("%s names no object: pass -r to copy everything under it", src)
	}
	if r.opts.Dst == "-" {
		rc, obj, err := b.Download(ctx, src.Name, nil)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err := io.Copy(r.opts.IO.Out, rc); err != nil {
			return fmt.Errorf("download %s: %w", src, err)
		}
		r.done = append(r.done, Copied{From: src.String(), To: "-", Size: obj.Size})
		return nil
	}
	dst := r.opts.Dst
	if strings.HasSuffix(dst, string(os.PathSeparator)) || strings.HasSuffix(dst, "/") {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
	}
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, path.Base(src.Name))
	}
	root, err := os.OpenRoot(filepath.Dir(dst))
	if err != nil {
		return err
	}
	defer root.Close()
	return r.downloadTo(ctx, b, src, root, filepath.Base(dst), dst)
}

// downloadTo writes the object src to rel under root (shown as shown): to a
// temporary file renamed at the end, so that a failed download leaves
// nothing half-written.
func (r *run) downloadTo(ctx context.Context, b *sovereign.BucketRef, src remote.Path, root *os.Root, rel, shown string) error {
	if dir := filepath.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	rc, obj, err := b.Download(ctx, src.Name, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	defer rc.Close()
	tmp := rel + ".sov-partial"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	bar := r.bar(path.Base(src.Name), obj.Size)
	_, err = io.Copy(f, &barReader{r: rc, bar: bar})
	bar.Finish()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, rel)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("download %s to %s: %w", src, shown, err)
	}
	r.report(src.String(), shown, obj.Size)
	return nil
}

type barReader struct {
	r   io.Reader
	bar *progress.Bar
}

func (b *barReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.bar.Add(int64(n))
	return n, err
}

func (r *run) remoteCopy(ctx context.Context) error {
	src, err := remote.Parse(r.opts.Src)
	if err != nil {
		return factory.UsageError("%v", err)
	}
	dst, err := remote.Parse(r.opts.Dst)
	if err != nil {
		return factory.UsageError("%v", err)
	}
	if r.opts.ContentType != "" || r.opts.Metadata != nil {
		return factory.UsageError("--content-type and --meta apply to uploads; a copy keeps the source's")
	}
	b := r.c.Storage().Bucket(src.Bucket)
	if !r.opts.Recursive {
		if src.Name == "" || strings.HasSuffix(src.Name, "/") {
			return factory.UsageError("%s names no object: pass -r to copy everything under it", src)
		}
		dst.Name = joinName(dst.Name, path.Base(src.Name))
		obj, err := b.Copy(ctx, src.Name, dst.Bucket, dst.Name)
		if err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
		r.report(src.String(), dst.String(), obj.Size)
		return nil
	}
	prefix := dst.Name
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	n := 0
	for o, err := range b.List(ctx, sovereign.ListOptions{Prefix: src.Name, PageSize: 1000}) {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(o.Name, src.Name), "/")
		if rel == "" {
			rel = path.Base(o.Name)
		}
		to := remote.Path{Bucket: dst.Bucket, Name: prefix + rel}
		obj, err := b.Copy(ctx, o.Name, to.Bucket, to.Name)
		if err != nil {
			return fmt.Errorf("copy %s to %s: %w", remote.Path{Bucket: src.Bucket, Name: o.Name}, to, err)
		}
		r.report(remote.Path{Bucket: src.Bucket, Name: o.Name}.String(), to.String(), obj.Size)
		n++
	}
	if n == 0 {
		return factory.NotFoundError("no objects under %s", src)
	}
	return nil
}
