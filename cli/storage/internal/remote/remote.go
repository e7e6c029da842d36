// Package remote is what the `sov storage` commands share: remote paths
// (sov://BUCKET/NAME), sizes written for people (10MiB), custom metadata
// flags, and printing buckets and objects for whoever reads them.
package remote

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sovereign-backend/sovereign/cli/db/progress"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Scheme starts every remote path: sov://BUCKET/NAME.
const Scheme = "sov://"

// Path is a remote path: a bucket and an object name or prefix (may be
// empty: the whole bucket).
type Path struct {
	Bucket string
	Name   string
}

func (p Path) String() string {
	if p.Name == "" {
		return Scheme + p.Bucket
	}
	return Scheme + p.Bucket + "/" + p.Name
}

// IsRemote reports whether s is a remote path (starts with sov://).
func IsRemote(s string) bool { return strings.HasPrefix(s, Scheme) }

// Parse reads sov://BUCKET[/NAME]. The name is kept as written (the
// platform checks it); the bucket must not be empty.
func Parse(s string) (Path, error) {
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return Path{}, fmt.Errorf("%q is not a remote path: write sov://BUCKET/NAME", s)
	}
	bucket, name, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Path{}, fmt.Errorf("%q names no bucket: write sov://BUCKET/NAME", s)
	}
	return Path{Bucket: bucket, Name: name}, nil
}

// ParseObject is Parse for a path that must name an object.
func ParseObject(s string) (Path, error) {
	p, err := Parse(s)
	if err != nil {
		return p, err
	}
	if p.Name == "" || strings.HasSuffix(p.Name, "/") {
		return Path{}, fmt.Errorf("%q names no object: write sov://BUCKET/NAME", s)
	}
	return p, nil
}

// units are the suffixes ParseSize reads, longest first.
var units = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseSize reads a size in bytes: 1048576, 10MiB, 1.5GiB, 500KB, 2M
// (single letters are binary).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("size %q: want a number of bytes, e.g. 1048576, 10MiB or 1.5GB", s)
	}
	v := f * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

// ParseMeta reads --meta k=v flags.
func ParseMeta(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	md := make(map[string]string, len(vals))
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errors.New("--meta " + strconv.Quote(kv) + ": want KEY=VALUE")
		}
		md[k] = v
	}
	return md, nil
}

// PrintBuckets prints buckets: JSON with asJSON; else a table (name,
// public, max object size, allowed types, objects, size, created).
func PrintBuckets(ios *factory.IOStreams, now time.Time, bs []*sovereign.Bucket, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, factory.NonNil(bs))
	}
	tp := tableprinter.New(ios.Out, ios.OutTTY, now, "name", "public", "max object", "types", "objects", "size", "created")
	for _, b := range bs {
		tp.Field(b.Name)
		tp.Field(strconv.FormatBool(b.Public))
		if b.MaxObjectBytes > 0 {
			tp.Field(sizeCell(ios.OutTTY, b.MaxObjectBytes))
		} else {
			tp.Field(dash(ios.OutTTY))
		}
		if len(b.AllowedContentTypes) > 0 {
			tp.Field(strings.Join(b.AllowedContentTypes, ","))
		} else {
			tp.Field(dash(ios.OutTTY))
		}
		tp.Field(strconv.FormatInt(b.ObjectCount, 10))
		tp.Field(sizeCell(ios.OutTTY, b.SizeBytes))
		tp.Time(b.CreatedAt)
		tp.EndRow()
	}
	return tp.Render()
}

// PrintBucket prints one bucket: JSON with asJSON; else its fields one a
// line on a terminal, one tab-separated line in a pipe.
func PrintBucket(ios *factory.IOStreams, now time.Time, b *sovereign.Bucket, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, b)
	}
	if !ios.OutTTY {
		return PrintBuckets(ios, now, []*sovereign.Bucket{b}, false)
	}
	tp := tableprinter.New(ios.Out, true, now)
	row := func(k, v string) { tp.Field(k); tp.Field(v); tp.EndRow() }
	row("name", b.Name)
	row("public", strconv.FormatBool(b.Public))
	row("max object", map[bool]string{true: progress.Size(b.MaxObjectBytes), false: "platform limit"}[b.MaxObjectBytes > 0])
	row("types", map[bool]string{true: strings.Join(b.AllowedContentTypes, ", "), false: "any"}[len(b.AllowedContentTypes) > 0])
	row("read rule", b.Rules.Read)
	row("write rule", b.Rules.Write)
	row("delete rule", b.Rules.Delete)
	row("objects", strconv.FormatInt(b.ObjectCount, 10))
	row("size", progress.Size(b.SizeBytes))
	tp.Field("created")
	tp.Time(b.CreatedAt)
	tp.EndRow()
	return tp.Render()
}

// PrintObjects prints objects: JSON with asJSON; else a table (name, size,
// content type, updated). Folders show their name and nothing else.
func PrintObjects(ios *factory.IOStreams, now time.Time, objs []*sovereign.Object, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, factory.NonNil(objs))
	}
	tp := tableprinter.New(ios.Out, ios.OutTTY, now, "name", "size", "type", "updated")
	for _, o := range objs {
		tp.Field(o.Name)
		if o.Prefix {
			tp.Field(dash(ios.OutTTY))
			tp.Field(dash(ios.OutTTY))
			tp.Field(dash(ios.OutTTY))
		} else {
			tp.Field(sizeCell(ios.OutTTY, o.Size))
			tp.Field(o.ContentType)
			tp.Time(o.UpdatedAt)
		}
		tp.EndRow()
	}
	return tp.Render()
}

// sizeCell is a size for people on a terminal, in bytes in a pipe.
func sizeCell(tty bool, n int64) string {
	if tty {
		return progress.Size(n)
	}
	return strconv.FormatInt(n, 10)
}

func dash(tty bool) string {
	if tty {
		return "-"
	}
	return ""
}
