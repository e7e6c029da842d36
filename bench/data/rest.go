package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// restClient sends the workloads to the data plane's REST face with plain
// net/http, keeping one connection per worker.
type restClient struct {
	hc      *http.Client
	base    string // the data plane URL, without a trailing slash
	auth    string // the Authorization header
	records string // base + "/v1/collections/items/records"
}

func newRESTClient(dataURL, key string, concurrency int) *restClient {
	t := &http.Transport{
		// Loopback: no proxy from the environment.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	base := strings.TrimRight(dataURL, "/")
	return &restClient{
		hc:      &http.Client{Transport: t},
		base:    base,
		auth:    "Bearer " + key,
		records: base + "/v1/collections/" + collection + "/records",
	}
}

func (c *restClient) close() { c.hc.CloseIdleConnections() }

// do sends one request and reads the whole answer; any status but 2xx is
// an error. The answer's body is returned only when keep is true.
func (c *restClient) do(ctx context.Context, method, u string, body []byte, keep bool) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return nil, fmt.Errorf("%s %s: %s: %s", method, strings.TrimPrefix(u, c.base), resp.Status, bytes.TrimSpace(msg))
	}
	if keep {
		return io.ReadAll(resp.Body)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return nil, err
}

func (c *restClient) getURL(id string) string { return c.records + "/" + id }

// listURL is the list-20 query for records with n in (x, x+100), sorted by
// n.
func (c *restClient) listURL(x int64) string {
	q := url.Values{}
	q.Set("filter", listFilter(x))
	q.Set("limit", strconv.Itoa(listLimit))
	q.Set("sort", "n")
	return c.records + "?" + q.Encode()
}

// workloads are the three workloads over REST.
func (c *restClient) workloads(d *dataset) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		wGet: func(ctx context.Context) error {
			_, err := c.do(ctx, http.MethodGet, c.getURL(d.randomID()), nil, false)
			return err
		},
		wList: func(ctx context.Context) error {
			_, err := c.do(ctx, http.MethodGet, c.listURL(d.randomX()), nil, false)
			return err
		},
		wCreate: func(ctx context.Context) error {
			n := d.nextN()
			_, err := c.do(ctx, http.MethodPost, c.records, createBody(n), false)
			return err
		},
	}
}

// check runs each workload once and checks the answers, so that a run
// never measures requests that succeed with the wrong result.
func (c *restClient) check(ctx context.Context, d *dataset) error {
	id := d.ids[0]
	b, err := c.do(ctx, http.MethodGet, c.getURL(id), nil, true)
	if err != nil {
		return err
	}
	var rec struct {
		ID string `json:"id"`
		N  int64  `json:"n"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.ID != id || rec.N != 0 {
		return fmt.Errorf("GET %s: want record %s with n 0, got %.200s", id, id, b)
	}
	x := int64(len(d.ids)) / 2
	b, err = c.do(ctx, http.MethodGet, c.listURL(x), nil, true)
	if err != nil {
		return err
	}
	var page struct {
		Records []struct {
			N int64 `json:"n"`
		} `json:"records"`
	}
	if err := json.Unmarshal(b, &page); err != nil || len(page.Records) != listLimit {
		return fmt.Errorf("list: want %d records, got %.200s", listLimit, b)
	}
	for i, r := range page.Records {
		if r.N != x+1+int64(i) {
			return fmt.Errorf("list n > %d: record %d has n %d, want %d", x, i, r.N, x+1+int64(i))
		}
	}
	if _, err := c.do(ctx, http.MethodPost, c.records, createBody(d.nextN()), false); err != nil {
		return err
	}
	return nil
}

// dataset is what the workloads draw from: the ids of the records loaded,
// with n from 0 to len(ids)-1, and the n of the next record created.
type dataset struct {
	ids     []string
	created atomic.Int64
}

func (d *dataset) randomID() string { return d.ids[rand.IntN(len(d.ids))] }

// randomX is a lower bound of the list filter: n in (x, x+100) matches 99
// loaded records.
func (d *dataset) randomX() int64 { return int64(rand.IntN(len(d.ids) - listSpan + 1)) }

// nextN is the n of a created record: past every loaded one, so that creates
// never change what the list workload reads.
func (d *dataset) nextN() int64 { return int64(len(d.ids)) + d.created.Add(1) }

func createBody(n int64) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"title":"created `...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `","n":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `,"owner":"bench"}`...)
	return b
}

// listFilter is the list workload's filter: n in (x, x+listSpan).
func listFilter(x int64) string { return fmt.Sprintf("n > %d && n < %d", x, x+listSpan) }
