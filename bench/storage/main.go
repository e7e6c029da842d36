// Command bench-storage measures the storage API's throughput on local disk
// against baselines measured in the same run on the same disk, and proves
// that the data plane streams: a 1 GiB object goes up and comes back down
// while the server's memory grows by less than 64 MiB.
//
// It signs up a fresh account (or uses --token), makes a project with a
// secret key and a bucket, and writes one file of pseudo-random bytes per
// --sizes under --dir. For each size, each of these runs --runs times and
// the median throughput (MiB/s) is reported:
//
//   - cp: the system's cp(1) of the file to another file in --dir, as a
//     process (the baseline a person would reach for);
//   - io.Copy: the same copy in process (file to file, no fsync);
//   - PUT: REST upload with plain net/http, the file as the body with its
//     Content-Length and X-Checksum-SHA256;
//   - GET: REST download with plain net/http into io.Discard, hashed on the
//     way and compared with the file's SHA-256;
//   - SDK resumable: [sovereign.BucketRef.Upload] through tus, in 8 MiB
//     chunks, for sizes of at least 8 MiB.
//
// Then the streaming proof (unless --stream-size is 0): a --stream-size
// object (1 GiB) generated on the fly (never held by this process) is
// uploaded with PUT and downloaded with GET, while the data plane's
// /metrics is sampled every 100 ms. process_resident_memory_bytes and
// go_memstats_heap_inuse_bytes before, at their peak during each transfer,
// and after are reported; a growth (peak minus before) of --max-growth
// (64 MiB) or more in either exits 1. So does any failed request or byte
// that came back different: `make bench-smoke` relies on that, and on
// nothing about timings.
//
// The data plane and this command share the machine; cp and io.Copy read
// files the page cache probably holds, as the data plane's reads do.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sovereign-backend/sovereign/bench/internal/setup"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

const (
	mib = 1 << 20
	// bucket is the bucket the runs use.
	bucket = "bench"
	// sampleEvery is how often /metrics is read during the streaming proof.
	sampleEvery = 100 * time.Millisecond
)

type config struct {
	apiURL, dataURL, token, region, dir string
	sizes                               []int64
	runs                                int
	streamSize, maxGrowth               int64
	timeout                             time.Duration
	cleanup                             bool
}

func main() {
	var c config
	flag.StringVar(&c.apiURL, "api-url", setup.DefaultAPIURL(), "control plane URL (default $"+setup.EnvAPIURL+", else the dev one)")
	flag.StringVar(&c.dataURL, "data-url", setup.DefaultDataURL(), "data plane URL (default $"+setup.EnvDataURL+", else the dev one)")
	flag.StringVar(&c.token, "token", "", "access or personal access token to use instead of signing up a fresh account")
	flag.StringVar(&c.region, "region", "local", "region to create the project in")
	flag.StringVar(&c.dir, "dir", ".sovereign/bench-storage", "directory for the benchmark's files: put it on the disk the data plane stores files on")
	c.sizes = []int64{1 * mib, 100 * mib}
	flag.Func("sizes", "comma-separated object sizes, e.g. 1MiB,100MiB (default 1MiB,100MiB)", func(s string) error {
		sizes, err := parseSizes(s)
		c.sizes = sizes
		return err
	})
	flag.IntVar(&c.runs, "runs", 3, "runs of each measurement; the median is reported")
	c.streamSize = 1 << 30
	flag.Func("stream-size", "size of the streaming proof's object, e.g. 1GiB; 0 skips it (default 1GiB)", func(s string) error {
		n, err := parseSize(s)
		c.streamSize = n
		return err
	})
	c.maxGrowth = 64 * mib
	flag.Func("max-growth", "the most the data plane's memory may grow during the streaming proof (default 64MiB)", func(s string) error {
		n, err := parseSize(s)
		c.maxGrowth = n
		return err
	})
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "longest wait for the project to become active")
	flag.BoolVar(&c.cleanup, "cleanup", true, "delete the project and organization made, and the files written")
	quick := flag.Bool("quick", false, "a quick check that every transfer succeeds, for CI: --sizes 1MiB,9MiB --runs 1 --stream-size 0, unless given")
	flag.Parse()
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"sizes": "1MiB,9MiB", "runs": "1", "stream-size": "0"} {
			if !set[name] {
				_ = flag.Set(name, v)
			}
		}
	}
	if c.runs < 1 || len(c.sizes) == 0 {
		fmt.Fprintln(os.Stderr, "bench-storage: --runs must be at least 1 and --sizes not empty")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench-storage:", err)
		os.Exit(1)
	}
}

// result is one row of the report.
type result struct {
	way  string
	size int64
	mibs []float64 // one per run
}

func (r result) median() float64 {
	s := slices.Clone(r.mibs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func run(ctx context.Context, c config) (err error) {
	dir, err := filepath.Abs(c.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if c.cleanup {
		defer os.RemoveAll(dir)
	}
	org, err := setup.NewOrg(ctx, c.apiURL, c.token)
	if err != nil {
		return err
	}
	if c.cleanup {
		defer func() { err = errors.Join(err, org.Cleanup(context.WithoutCancel(ctx))) }()
	}
	p, err := org.NewProject(ctx, "bench-storage", c.region, c.dataURL, c.timeout)
	if err != nil {
		return err
	}
	client := sovereign.NewClient(c.dataURL, sovereign.WithAPIKey(p.Secret))
	if _, err := client.Storage().CreateBucket(ctx, sovereign.Bucket{Name: bucket}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	b := &bench{c: c, dir: dir, client: client, key: p.Secret, hc: &http.Client{}}

	var results []result
	for _, size := range c.sizes {
		rs, err := b.sizeRuns(ctx, size)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	// The throughput runs' objects go before the streaming proof, which may
	// need the whole of a small plan's quota.
	var names []string
	for o, err := range client.Storage().Bucket(bucket).List(ctx, sovereign.ListOptions{PageSize: 1000}) {
		if err != nil {
			return err
		}
		names = append(names, o.Name)
	}
	if _, err := client.Storage().Bucket(bucket).Delete(ctx, names...); err != nil {
		return fmt.Errorf("delete the throughput runs' objects: %w", err)
	}
	var proof *streamProof
	if c.streamSize > 0 {
		if proof, err = b.stream(ctx, c.streamSize); err != nil {
			return err
		}
	}
	printReport(os.Stdout, c, results, proof)
	if proof != nil && !proof.ok(c.maxGrowth) {
		return fmt.Errorf("the data plane's memory grew by %s (RSS) and %s (heap in use) moving %s: the limit is %s",
			fmtMiB(proof.maxRSSGrowth()), fmtMiB(proof.maxHeapGrowth()), fmtMiB(c.streamSize), fmtMiB(c.maxGrowth))
	}
	return nil
}

type bench struct {
	c      config
	dir    string
	client *sovereign.Client
	key    string
	hc     *http.Client
}

// sizeRuns writes a file of size bytes and measures every way with it.
func (b *bench) sizeRuns(ctx context.Context, size int64) ([]result, error) {
	src := filepath.Join(b.dir, fmt.Sprintf("src-%d", size))
	sum, err := writeRandom(src, size)
	if err != nil {
		return nil, err
	}
	defer os.Remove(src)
	dst := filepath.Join(b.dir, fmt.Sprintf("dst-%d", size))
	defer os.Remove(dst)
	name := fmt.Sprintf("obj-%d", size)

	ways := []struct {
		name string
		fn   func() error
	}{
		{"cp (baseline)", func() error { return exec.CommandContext(ctx, "cp", src, dst).Run() }},
		{"io.Copy file→file (baseline)", func() error { return copyFile(src, dst) }},
		{"REST PUT", func() error { return b.put(ctx, name, src, size, sum) }},
		{"REST GET", func() error { return b.get(ctx, name, size, sum) }},
	}
	if size >= sovereign.ResumableThreshold {
		ways = append(ways, struct {
			name string
			fn   func() error
		}{"SDK resumable upload (tus)", func() error { return b.resumable(ctx, name+"-tus", src, sum) }})
	}
	var out []result
	for _, w := range ways {
		r := result{way: w.name, size: size}
		for range b.c.runs {
			start := time.Now()
			if err := w.fn(); err != nil {
				return nil, fmt.Errorf("%s of %s: %w", w.name, fmtMiB(size), err)
			}
			r.mibs = append(r.mibs, float64(size)/mib/time.Since(start).Seconds())
		}
		out = append(out, r)
		fmt.Fprintf(os.Stderr, "%-32s %10s  %8.1f MiB/s\n", w.name, fmtMiB(size), r.median())
	}
	return out, nil
}

// writeRandom writes size pseudo-random bytes to path and returns their
// hex SHA-256.
func writeRandom(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), mib)
	if _, err := io.CopyN(w, newRandReader(uint64(size)), size); err != nil {
		f.Close()
		return "", err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// randReader yields pseudo-random bytes (ChaCha8) forever, without holding
// more than its buffer.
type randReader struct{ r *rand.ChaCha8 }

func newRandReader(seed uint64) *randReader {
	var s [32]byte
	copy(s[:], strconv.FormatUint(seed, 16))
	return &randReader{r: rand.NewChaCha8(s)}
}

func (r *randReader) Read(p []byte) (int, error) { return r.r.Read(p) }

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (b *bench) objectURL(name string) string {
	return strings.TrimRight(b.c.dataURL, "/") + "/v1/storage/objects/" + bucket + "/" + name
}

// put uploads the file with one PUT.
func (b *bench) put(ctx context.Context, name, path string, size int64, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return b.putReader(ctx, name, f, size, sum)
}

func (b *bench) putReader(ctx context.Context, name string, body io.Reader, size int64, sum string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.objectURL(name), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("apikey", b.key)
	req.Header.Set("Content-Type", "application/octet-stream")
	if sum != "" {
		req.Header.Set("X-Checksum-SHA256", sum)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %s: %s", name, resp.Status, msg)
	}
	return nil
}

// get downloads the object and checks its length and SHA-256.
func (b *bench) get(ctx context.Context, name string, size int64, sum string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.objectURL(name), nil)
	if err != nil {
		return err
	}
	req.Header.Set("apikey", b.key)
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", name, resp.Status, msg)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sum {
		return fmt.Errorf("GET %s: %d bytes with SHA-256 %s, want %d bytes with %s", name, n, got, size, sum)
	}
	return nil
}

// resumable uploads the file through the SDK's tus client and checks the
// object's checksum.
func (b *bench) resumable(ctx context.Context, name, path, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	obj, err := b.client.Storage().Bucket(bucket).Upload(ctx, name, f,
		&sovereign.UploadOptions{Resumable: true, SHA256: sum, ContentType: "application/octet-stream"})
	if err != nil {
		return err
	}
	if obj.SHA256 != sum {
		return fmt.Errorf("resumable upload %s: object SHA-256 %s, want %s", name, obj.SHA256, sum)
	}
	return nil
}

// memory is what one read of /metrics says.
type memory struct{ rss, heap float64 }

// phase is the memory around one transfer of the streaming proof.
type phase struct {
	name                string
	before, peak, after memory
	elapsed             time.Duration
}

type streamProof struct {
	size   int64
	phases []phase
}

func (p *streamProof) maxRSSGrowth() int64 {
	var g float64
	for _, ph := range p.phases {
		g = max(g, ph.peak.rss-ph.before.rss)
	}
	return int64(g)
}

func (p *streamProof) maxHeapGrowth() int64 {
	var g float64
	for _, ph := range p.phases {
		g = max(g, ph.peak.heap-ph.before.heap)
	}
	return int64(g)
}

func (p *streamProof) ok(limit int64) bool {
	return p.maxRSSGrowth() < limit && p.maxHeapGrowth() < limit
}

// stream uploads and downloads an object of size generated on the fly,
// sampling the data plane's memory.
func (b *bench) stream(ctx context.Context, size int64) (*streamProof, error) {
	proof := &streamProof{size: size}
	name := "stream-proof"
	// The upload's bytes are generated twice: once for the checksum, once
	// as the body, so that neither this process nor the server holds them.
	h := sha256.New()
	if _, err := io.CopyN(h, newRandReader(uint64(size)), size); err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	up, err := b.sampled(ctx, "upload (PUT)", func() error {
		return b.putReader(ctx, name, io.LimitReader(newRandReader(uint64(size)), size), size, sum)
	})
	if err != nil {
		return nil, err
	}
	down, err := b.sampled(ctx, "download (GET)", func() error { return b.get(ctx, name, size, sum) })
	if err != nil {
		return nil, err
	}
	proof.phases = []phase{up, down}
	if _, err := b.client.Storage().Bucket(bucket).Delete(ctx, name); err != nil {
		return nil, err
	}
	return proof, nil
}

// sampled runs fn while reading /metrics every sampleEvery.
func (b *bench) sampled(ctx context.Context, name string, fn func() error) (phase, error) {
	ph := phase{name: name}
	var err error
	if ph.before, err = b.memory(ctx); err != nil {
		return ph, err
	}
	ph.peak = ph.before
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		sampErr error
	)
	done := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			m, err := b.memory(ctx)
			mu.Lock()
			if err != nil {
				sampErr = err
			} else {
				ph.peak = memory{rss: max(ph.peak.rss, m.rss), heap: max(ph.peak.heap, m.heap)}
			}
			mu.Unlock()
		}
	})
	start := time.Now()
	err = fn()
	ph.elapsed = time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		return ph, fmt.Errorf("streaming proof, %s: %w", name, err)
	}
	if sampErr != nil {
		return ph, fmt.Errorf("streaming proof, %s: reading /metrics: %w", name, sampErr)
	}
	if ph.after, err = b.memory(ctx); err != nil {
		return ph, err
	}
	ph.peak = memory{rss: max(ph.peak.rss, ph.after.rss), heap: max(ph.peak.heap, ph.after.heap)}
	return ph, nil
}

// memory reads the data plane's resident set and Go heap in use from its
// /metrics.
func (b *bench) memory(ctx context.Context) (memory, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(b.c.dataURL, "/")+"/metrics", nil)
	if err != nil {
		return memory{}, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return memory{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return memory{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMemory(resp.Body)
}

// parseMemory finds process_resident_memory_bytes and
// go_memstats_heap_inuse_bytes in the Prometheus text format.
func parseMemory(r io.Reader) (memory, error) {
	var m memory
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "process_resident_memory_bytes":
			dst = &m.rss
		case "go_memstats_heap_inuse_bytes":
			dst = &m.heap
		default:
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return m, fmt.Errorf("metric %s: %w", name, err)
		}
		*dst = v
		found++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if found < 2 {
		return m, errors.New("/metrics lacks process_resident_memory_bytes or go_memstats_heap_inuse_bytes")
	}
	return m, nil
}

func printReport(w io.Writer, c config, results []result, proof *streamProof) {
	fmt.Fprintf(w, "\n### Storage throughput (local disk), median of %d runs\n\n", c.runs)
	fmt.Fprintln(w, "| way | object | MiB/s |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %.1f |\n", r.way, fmtMiB(r.size), r.median())
	}
	if proof == nil {
		return
	}
	fmt.Fprintf(w, "\n### Streaming proof: a %s object up and down\n\n", fmtMiB(proof.size))
	fmt.Fprintln(w, "| transfer | time | RSS before | RSS peak | RSS after | heap in use before | heap peak | heap after | growth (peak − before) |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, ph := range proof.phases {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | RSS %s, heap %s |\n", ph.name, ph.elapsed.Round(10*time.Millisecond),
			fmtMiB(int64(ph.before.rss)), fmtMiB(int64(ph.peak.rss)), fmtMiB(int64(ph.after.rss)),
			fmtMiB(int64(ph.before.heap)), fmtMiB(int64(ph.peak.heap)), fmtMiB(int64(ph.after.heap)),
			fmtMiB(int64(ph.peak.rss-ph.before.rss)), fmtMiB(int64(ph.peak.heap-ph.before.heap)))
	}
	verdict := "PASS"
	if !proof.ok(c.maxGrowth) {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\n%s: the largest growth is %s (RSS) and %s (heap in use); the limit is %s.\n",
		verdict, fmtMiB(proof.maxRSSGrowth()), fmtMiB(proof.maxHeapGrowth()), fmtMiB(c.maxGrowth))
}

func fmtMiB(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	}
}

// parseSize reads 1048576, 1MiB, 100MiB, 1GiB.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", mib}, {"KiB", 1 << 10}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want bytes or a whole number of KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

func parseSizes(s string) ([]int64, error) {
	var out []int64
	for part := range strings.SplitSeq(s, ",") {
		n, err := parseSize(part)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, fmt.Errorf("size %q: want more than 0", part)
		}
		out = append(out, n)
	}
	return out, nil
}
