// Command bench-realtime measures realtime delivery on one data plane node:
// many WebSocket subscribers while records are written at a steady rate.
//
// It signs up a fresh account (or uses --token), makes a project with a
// secret key and --collections collections "messages_<k>" (room text, seq
// integer, sent_us integer; room r's records go to messages_<r mod
// collections>), then opens --subscribers WebSocket connections to GET
// /v1/realtime, subscriber i subscribing to its room's collection with the
// filter room == "r<i mod rooms>" (so each change reaches subscribers/rooms
// of them). It then writes --rate records a second for --duration through
// the REST API (POST /v1/collections/messages_<k>/records, --writers concurrent
// keep-alive connections), each with its room and its send time, and
// measures for every delivery the latency from send to receipt.
//
// Reported: connections established, deliveries expected and received (the
// command exits 1 when any is missing or a write failed: `make bench-smoke`
// relies on that, never on timings), latency p50/p95/p99/max, the writes'
// achieved rate, the data plane's memory per connection (from its
// /metrics, before and after connecting) and its CPU per write, fan-out
// included (process_cpu_seconds_total from the first write to the last
// delivery). --cpuprofile profiles the client itself. The baseline, measured in the same
// run when --valkey-url is set, is a raw Valkey PUBLISH → SUBSCRIBE round
// trip with valkey-go at the same rate: the floor of any cross-node fan-out.
//
// The process raises its own RLIMIT_NOFILE; the platform's process needs a
// high limit too (ulimit -n 65536) for 10,000 server-side sockets.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/bench/internal/latency"
	"github.com/sovereign-backend/sovereign/bench/internal/setup"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// collectionOf is the collection room's records go to: rooms are spread
// over n collections "messages_0" … (writes to one collection serialise
// from their first change to commit, for gapless cursors in commit order;
// an app's writes spread over its collections the same way).
func collectionOf(room, n int) string { return fmt.Sprintf("messages_%d", room%n) }

type config struct {
	apiURL, dataURL, valkeyURL, token, region string
	subscribers, rooms, rate, writers         int
	collections                               int
	duration, drain, timeout                  time.Duration
	dialParallel                              int
	cleanup                                   bool
	databaseURL                               string
}

// liftLimits lifts the bench project's realtime limits (connections,
// subscriptions, messages per second) in the region's database, as an
// operator does for a customer on a custom plan: the free plan allows 200
// connections and the benchmark opens thousands. With no database URL the
// plan's limits stay, and a run past them fails with close code 4008.
func liftLimits(ctx context.Context, databaseURL, ref string) error {
	if databaseURL == "" {
		return nil
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("lift realtime limits: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tag, err := conn.Exec(ctx, `UPDATE dataplane.tenants
		SET limits = limits || '{"realtime_connections": 0, "realtime_subscriptions": 0, "realtime_messages_per_second": 0}'::jsonb
		WHERE ref = $1`, ref)
	if err != nil {
		return fmt.Errorf("lift realtime limits: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("lift realtime limits: project %s not found in the region's database", ref)
	}
	return nil
}

func main() {
	var c config
	flag.StringVar(&c.apiURL, "api-url", setup.DefaultAPIURL(), "control plane URL (default $"+setup.EnvAPIURL+", else the dev one)")
	flag.StringVar(&c.dataURL, "data-url", setup.DefaultDataURL(), "data plane URL (default $"+setup.EnvDataURL+", else the dev one)")
	flag.StringVar(&c.valkeyURL, "valkey-url", os.Getenv("SOVEREIGN_TEST_VALKEY_URL"), "Valkey URL for the PUBLISH→SUBSCRIBE baseline (default $SOVEREIGN_TEST_VALKEY_URL; empty skips it)")
	flag.StringVar(&c.token, "token", "", "access or personal access token to use instead of signing up a fresh account")
	flag.StringVar(&c.region, "region", "local", "region to create the project in")
	flag.StringVar(&c.databaseURL, "database-url", setup.DefaultDatabaseURL(), "the region's database, to lift the bench project's realtime limits (default: the test-services platform database; empty keeps the plan's limits)")
	flag.IntVar(&c.subscribers, "subscribers", 10_000, "WebSocket subscribers, one connection each")
	flag.IntVar(&c.collections, "collections", 10, "collections the rooms are spread over (room i in messages_<i mod collections>)")
	flag.IntVar(&c.rooms, "rooms", 1_000, "distinct rooms; subscriber i watches room i mod rooms")
	flag.IntVar(&c.rate, "rate", 1_000, "records written per second")
	flag.IntVar(&c.writers, "writers", 64, "concurrent REST writers (enough that a slow response does not hold the rate back)")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "how long records are written")
	flag.DurationVar(&c.drain, "drain", 30*time.Second, "longest wait, after the last write, for the last deliveries")
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "longest wait for the project to become active")
	flag.IntVar(&c.dialParallel, "dial-parallel", 64, "connections opened at once while connecting the subscribers")
	flag.BoolVar(&c.cleanup, "cleanup", true, "delete the project and organization made")
	cpuProfile := flag.String("cpuprofile", "", "write the benchmark client's own CPU profile to this file (to see what the client costs on a shared machine)")
	quick := flag.Bool("quick", false, "a quick run for CI: --subscribers 200 --rooms 20 --rate 200 --duration 5s, unless given")
	flag.Parse()
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"subscribers": "200", "rooms": "20", "rate": "200", "duration": "5s"} {
			if !set[name] {
				_ = flag.Set(name, v)
			}
		}
	}
	switch {
	case c.subscribers < 1 || c.rooms < 1 || c.rate < 1 || c.writers < 1 || c.dialParallel < 1:
		usage("--subscribers, --rooms, --rate, --writers and --dial-parallel must be at least 1")
	case c.duration <= 0:
		usage("--duration must be positive")
	}
	if err := raiseNoFile(uint64(c.subscribers)*2 + 1024); err != nil {
		fmt.Fprintln(os.Stderr, "bench-realtime: warning:", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			usage("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			usage("--cpuprofile: %v", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, c, os.Stdout)
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-realtime:", err)
		os.Exit(1)
	}
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-realtime: "+format+"\n", args...)
	os.Exit(2)
}

// raiseNoFile raises the soft limit on open files to want (at most the
// hard limit).
func raiseNoFile(want uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if l.Cur >= want {
		return nil
	}
	l.Cur = min(want, l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", l.Cur, err)
	}
	if l.Cur < want {
		return fmt.Errorf("RLIMIT_NOFILE is %d (the hard limit), below the %d wanted", l.Cur, want)
	}
	return nil
}

// collector gathers deliveries from every subscriber.
type collector struct {
	delivered atomic.Int64
	bad       atomic.Int64 // frames that were errors, closes or resyncs
	firstBad  atomic.Pointer[string]

	mu   sync.Mutex
	lats []time.Duration
}

func (c *collector) add(d time.Duration) {
	c.delivered.Add(1)
	c.mu.Lock()
	c.lats = append(c.lats, d)
	c.mu.Unlock()
}

func (c *collector) fail(msg string) {
	c.bad.Add(1)
	c.firstBad.CompareAndSwap(nil, &msg)
}

func run(ctx context.Context, c config, out io.Writer) (err error) {
	org, err := setup.NewOrg(ctx, c.apiURL, c.token)
	if err != nil {
		return err
	}
	if c.cleanup {
		defer func() { err = errors.Join(err, org.Cleanup(context.WithoutCancel(ctx))) }()
	}
	p, err := org.NewProject(ctx, "bench-realtime", c.region, c.dataURL, c.timeout)
	if err != nil {
		return err
	}
	if err := liftLimits(ctx, c.databaseURL, p.Ref); err != nil {
		return err
	}
	dc := sovereign.NewClient(c.dataURL, sovereign.WithAPIKey(p.Secret))
	for i := range c.collections {
		if _, err := dc.Collections().Create(ctx, sovereign.CollectionSpec{
			Name: collectionOf(i, c.collections),
			Fields: []sovereign.Field{
				{Name: "room", Type: sovereign.FieldText, Required: true},
				{Name: "seq", Type: sovereign.FieldInteger, Required: true},
				{Name: "sent_us", Type: sovereign.FieldInteger, Required: true},
			},
		}); err != nil {
			return fmt.Errorf("create collection: %w", err)
		}
	}

	before, _ := scrapeMemory(ctx, c.dataURL)
	col := &collector{}
	subCtx, cancelSubs := context.WithCancel(ctx)
	defer cancelSubs()
	connStart := time.Now()
	conns, perRoom, err := connectAll(subCtx, c, p.Secret, col)
	if err != nil {
		return err
	}
	connTime := time.Since(connStart)
	runtimeSettle(ctx)
	after, memErr := scrapeMemory(ctx, c.dataURL)

	writeStart := time.Now()
	writes, writeErrs, firstWriteErr := writeAll(ctx, c, p.Secret)
	writeTime := time.Since(writeStart)
	var expected int64
	for room, n := range writes {
		expected += n * int64(perRoom[room])
	}
	deadline := time.Now().Add(c.drain)
	for col.delivered.Load() < expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let any extra (doubled) delivery show
	end, endErr := scrapeMemory(ctx, c.dataURL)
	busy := time.Since(writeStart)
	cancelSubs()
	for _, ws := range conns {
		ws.CloseNow()
	}

	var base *latency.Summary
	var baseErr error
	if c.valkeyURL != "" {
		s, err := valkeyBaseline(ctx, c.valkeyURL, c.rate, min(c.duration, 10*time.Second))
		base, baseErr = &s, err
	}

	var written int64
	for _, n := range writes {
		written += n
	}
	col.mu.Lock()
	sum := latency.Summarize(col.lats)
	p95 := percentile(col.lats, 0.95)
	col.mu.Unlock()
	delivered := col.delivered.Load()

	fmt.Fprintf(out, "\n### Realtime: %d WebSocket subscribers, %d rooms, %d writes/s for %s (REST writes)\n\n", c.subscribers, c.rooms, c.rate, c.duration)
	fmt.Fprintf(out, "| measure | value |\n| --- | --- |\n")
	fmt.Fprintf(out, "| connections established | %d of %d (in %.1f s) |\n", len(conns), c.subscribers, connTime.Seconds())
	fmt.Fprintf(out, "| records written | %d (%.0f/s achieved; %d failed) |\n", written, float64(written)/writeTime.Seconds(), writeErrs)
	fmt.Fprintf(out, "| deliveries expected / received | %d / %d (missing %d) |\n", expected, delivered, max(expected-delivered, 0))
	fmt.Fprintf(out, "| delivery latency p50 / p95 / p99 / max | %s / %s / %s / %s ms |\n",
		latency.MS(sum.P50, 1), latency.MS(p95, 1), latency.MS(sum.P99, 1), latency.MS(sum.Max, 1))
	if memErr == nil && before.ok() && after.ok() {
		n := float64(len(conns))
		fmt.Fprintf(out, "| data plane memory per connection | heap in use %.1f KiB, RSS %.1f KiB |\n",
			(after.heap-before.heap)/n/1024, (after.rss-before.rss)/n/1024)
	} else {
		fmt.Fprintf(out, "| data plane memory per connection | n/a (%v) |\n", memErr)
	}
	if written > 0 && memErr == nil && endErr == nil && end.cpu > after.cpu {
		// The server's process CPU over the writes and their fan-out, per
		// write: steadier than the achieved rate on a shared machine.
		fmt.Fprintf(out, "| data plane CPU per write, fan-out included | %.2f ms (%.2f cores from the first write to the last delivery) |\n",
			(end.cpu-after.cpu)*1000/float64(written), (end.cpu-after.cpu)/busy.Seconds())
	}
	switch {
	case base != nil && baseErr == nil:
		fmt.Fprintf(out, "| baseline: Valkey PUBLISH→SUBSCRIBE p50 / p99 | %s / %s ms |\n", latency.MS(base.P50, 2), latency.MS(base.P99, 2))
	case baseErr != nil:
		fmt.Fprintf(out, "| baseline: Valkey PUBLISH→SUBSCRIBE | failed: %v |\n", baseErr)
	}
	fmt.Fprintln(out)

	var errs []error
	if len(conns) < c.subscribers {
		errs = append(errs, fmt.Errorf("%d of %d subscribers connected", len(conns), c.subscribers))
	}
	if writeErrs > 0 {
		errs = append(errs, fmt.Errorf("%d writes failed, the first: %v", writeErrs, firstWriteErr))
	}
	if delivered != expected {
		errs = append(errs, fmt.Errorf("%d deliveries, want %d", delivered, expected))
	}
	if n := col.bad.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d subscriptions failed, the first: %s", n, *col.firstBad.Load()))
	}
	return errors.Join(errs...)
}

// runtimeSettle gives the server a moment after the connection storm, so
// that its memory reading is not caught mid-allocation.
func runtimeSettle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// connectAll opens the subscribers, dialParallel at a time, each subscribed
// and ready, and starts their readers. It returns the connections and how
// many subscribers watch each room.
func connectAll(ctx context.Context, c config, key string, col *collector) ([]*websocket.Conn, []int, error) {
	u := strings.Replace(strings.TrimRight(c.dataURL, "/"), "http", "ws", 1) + "/v1/realtime"
	hc := &http.Client{Transport: &http.Transport{
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}}
	perRoom := make([]int, c.rooms)
	conns := make([]*websocket.Conn, c.subscribers)
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, c.dialParallel)
	var wg sync.WaitGroup
	for i := range c.subscribers {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := subscribe(ctx, hc, u, key, i%c.rooms, c.collections)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("subscriber %d: %w", i, err)
				}
				return
			}
			conns[i] = ws
			perRoom[i%c.rooms]++
			go read(ctx, ws, col)
		}()
	}
	wg.Wait()
	live := slices.DeleteFunc(conns, func(ws *websocket.Conn) bool { return ws == nil })
	if firstErr != nil {
		for _, ws := range live {
			ws.CloseNow()
		}
		return nil, nil, fmt.Errorf("%d of %d subscribers connected: %w", len(live), c.subscribers, firstErr)
	}
	return live, perRoom, nil
}

// subscribe opens one connection, subscribes to room and waits for ready.
func subscribe(ctx context.Context, hc *http.Client, u, key string, room, collections int) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"apikey": {key}}})
	if err != nil {
		return nil, err
	}
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "s", "collection": collectionOf(room, collections),
		"filter": fmt.Sprintf(`room == "r%d"`, room)})
	if err := ws.Write(dctx, websocket.MessageText, sub); err != nil {
		ws.CloseNow()
		return nil, err
	}
	for {
		_, b, err := ws.Read(dctx)
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		var f struct{ Type, Code, Message string }
		_ = json.Unmarshal(b, &f)
		switch f.Type {
		case "ready":
			return ws, nil
		case "error", "closed", "resync":
			ws.CloseNow()
			return nil, fmt.Errorf("%s: %s %s", f.Type, f.Code, f.Message)
		}
	}
}

// read records every change's latency until the connection ends.
func read(ctx context.Context, ws *websocket.Conn, col *collector) {
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				col.fail("connection ended: " + err.Error())
			}
			return
		}
		now := time.Now()
		var f struct {
			Type, Code, Message string
			Record              struct {
				SentUS int64 `json:"sent_us"`
			}
		}
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		switch f.Type {
		case "change":
			col.add(now.Sub(time.UnixMicro(f.Record.SentUS)))
		case "error", "closed", "resync":
			col.fail(f.Type + ": " + f.Code + " " + f.Message)
		}
	}
}

// writeAll writes rate records a second for duration through REST, and
// returns how many it wrote to each room (successfully), how many failed
// and the first failure.
func writeAll(ctx context.Context, c config, key string) ([]int64, int64, error) {
	base := strings.TrimRight(c.dataURL, "/") + "/v1/collections/"
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: c.writers, MaxConnsPerHost: c.writers, DisableCompression: true,
	}}
	defer hc.CloseIdleConnections()
	total := int(float64(c.rate) * c.duration.Seconds())
	jobs := make(chan int, c.writers)
	perRoom := make([]int64, c.rooms)
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range c.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range jobs {
				room := seq % c.rooms
				body := fmt.Appendf(nil, `{"room":"r%d","seq":%d,"sent_us":%d}`, room, seq, time.Now().UnixMicro())
				if err := post(ctx, hc, base+collectionOf(room, c.collections)+"/records", key, body); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				mu.Lock()
				perRoom[room]++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(c.rate)
	for seq := range total {
		// Paced by the schedule, not by a ticker: a late send does not
		// lower the rate of the ones after it.
		if d := time.Until(start.Add(time.Duration(seq) * interval)); d > 0 {
			time.Sleep(d)
		}
		select {
		case jobs <- seq:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	var first error
	if p := firstErr.Load(); p != nil {
		first = *p
	}
	return perRoom, failed.Load(), first
}

func post(ctx context.Context, hc *http.Client, url, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("apikey", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST records: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// memory is what the data plane's /metrics says of its memory, in bytes,
// and of the CPU its process has used, in seconds.
type memory struct{ heap, rss, cpu float64 }

func (m memory) ok() bool { return m.heap > 0 && m.rss > 0 }

func scrapeMemory(ctx context.Context, dataURL string) (memory, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(dataURL, "/")+"/metrics", nil)
	if err != nil {
		return memory{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return memory{}, fmt.Errorf("read /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return memory{}, fmt.Errorf("read /metrics: %s", resp.Status)
	}
	var m memory
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			m.heap = v
		case "process_resident_memory_bytes":
			m.rss = v
		case "process_cpu_seconds_total":
			m.cpu = v
		}
	}
	if !m.ok() {
		return m, errors.New("/metrics has no go_memstats_heap_inuse_bytes or process_resident_memory_bytes")
	}
	return m, sc.Err()
}

// valkeyBaseline publishes rate messages a second for d on a channel that
// one connection subscribes to, and summarizes the PUBLISH → receipt
// latency.
func valkeyBaseline(ctx context.Context, valkeyURL string, rate int, d time.Duration) (latency.Summary, error) {
	opt, err := valkey.ParseURL(valkeyURL)
	if err != nil {
		return latency.Summary{}, fmt.Errorf("valkey URL: %w", err)
	}
	opt.DisableCache = true
	cl, err := valkey.NewClient(opt)
	if err != nil {
		return latency.Summary{}, fmt.Errorf("connect to valkey: %w", err)
	}
	defer cl.Close()
	channel := fmt.Sprintf("bench-realtime-%d", time.Now().UnixNano())
	total := int(float64(rate) * d.Seconds())
	var mu sync.Mutex
	lats := make([]time.Duration, 0, total)
	got := make(chan struct{}, total)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subscribed := make(chan struct{})
	var once sync.Once
	subErr := make(chan error, 1)
	go func() {
		subErr <- cl.Receive(sctx, cl.B().Subscribe().Channel(channel).Build(), func(m valkey.PubSubMessage) {
			sent, err := strconv.ParseInt(m.Message, 10, 64)
			if err != nil {
				return
			}
			mu.Lock()
			lats = append(lats, time.Since(time.Unix(0, sent)))
			mu.Unlock()
			got <- struct{}{}
		})
	}()
	// Wait until the subscription counts (PUBSUB NUMSUB), so that no
	// message is published to nobody.
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := cl.Do(ctx, cl.B().PubsubNumsub().Channel(channel).Build()).AsIntMap()
		if err == nil && n[channel] > 0 {
			once.Do(func() { close(subscribed) })
			break
		}
		if time.Now().After(deadline) {
			return latency.Summary{}, errors.New("valkey subscription did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-subscribed
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range total {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		msg := strconv.FormatInt(time.Now().UnixNano(), 10)
		if err := cl.Do(ctx, cl.B().Publish().Channel(channel).Message(msg).Build()).Error(); err != nil {
			return latency.Summary{}, fmt.Errorf("publish: %w", err)
		}
	}
	timeout := time.After(10 * time.Second)
	for range total {
		select {
		case <-got:
		case <-timeout:
			return latency.Summary{}, errors.New("valkey baseline: messages missing after 10 s")
		case err := <-subErr:
			return latency.Summary{}, fmt.Errorf("valkey subscribe: %w", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return latency.Summarize(lats), nil
}
