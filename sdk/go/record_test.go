package sovereign

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

type testPost struct {
	RecordMeta
	Title  string            `json:"title"`
	N      int64             `json:"n"`
	Score  float64           `json:"score,omitempty"`
	Due    *time.Time        `json:"due,omitempty"`
	Tags   []string          `json:"tags,omitempty"`
	Meta   map[string]any    `json:"meta,omitempty"`
	Counts map[string]uint64 `json:"counts,omitempty"`
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestToStructDropsSystemFieldsThePlatformSets(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := testPost{
		RecordMeta: RecordMeta{ID: "0190a6f0-0000-7000-8000-000000000001", CreatedAt: time.Now(), UpdatedAt: time.Now(), Version: 4},
		Title:      "hello", N: MaxSafeInteger, Score: 0.5, Due: &due, Tags: []string{"a"},
		Meta: map[string]any{"nested": map[string]any{"k": []any{1, "x", nil}}},
	}
	s, err := toStruct(p, encodeOpts{keepID: true})
	if err != nil {
		t.Fatal(err)
	}
	want := mustStruct(t, map[string]any{
		"id": "0190a6f0-0000-7000-8000-000000000001", "title": "hello", "n": float64(MaxSafeInteger), "score": 0.5,
		"due": "2030-01-02T03:04:05Z", "tags": []any{"a"},
		"meta": map[string]any{"nested": map[string]any{"k": []any{1.0, "x", nil}}},
	})
	if !proto.Equal(s, want) {
		t.Errorf("insert sends %v\nwant %v", s, want)
	}

	s, err = toStruct(p, encodeOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Fields["id"]; ok {
		t.Error("replace sends the id inside the record")
	}

	// A zero RecordMeta sends no system field at all.
	s, err = toStruct(testPost{Title: "x"}, encodeOpts{keepID: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"id", "created_at", "updated_at", "version"} {
		if _, ok := s.Fields[f]; ok {
			t.Errorf("a new record sends %s", f)
		}
	}
	// Maps too: an empty id is left out.
	s, err = toStruct(Record{"id": "", "title": "x", "version": 3}, encodeOpts{keepID: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Fields) != 1 || s.Fields["title"].GetStringValue() != "x" {
		t.Errorf("record map sends %v", s)
	}
}

func TestIntegersBeyondTheSafeRangeAreRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		v    any
		ok   bool
		path string
	}{
		{"max", Record{"n": int64(MaxSafeInteger)}, true, ""},
		{"min", Record{"n": int64(-MaxSafeInteger)}, true, ""},
		{"2^53+1", Record{"n": int64(MaxSafeInteger + 2)}, false, "field n:"},
		{"-(2^53+1)", Record{"n": int64(-MaxSafeInteger - 2)}, false, "field n:"},
		{"2^53+3", Record{"n": int64(MaxSafeInteger + 4)}, false, "field n:"},
		{"int64 max", testPost{N: math.MaxInt64}, false, "field n:"},
		{"uint64 max in a map", testPost{Counts: map[string]uint64{"views": math.MaxUint64}}, false, "field counts.views:"},
		{"in a list", Record{"ids": []any{1, int64(1)<<60 + 1}}, false, "field ids[1]:"},
		{"json.Number literal", Record{"n": json.Number("12345678901234567890")}, false, "field n:"},
		{"large double is fine", Record{"x": 1e300}, true, ""},
		{"whole double beyond 2^53 is exact", Record{"x": 1e17}, true, ""},
		{"2^53 is exact", Record{"n": int64(MaxSafeInteger + 1)}, true, ""},
	} {
		_, err := toStruct(tc.v, encodeOpts{})
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && (err == nil || !IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.path) ||
			!strings.Contains(err.Error(), "2^53")):
			t.Errorf("%s: err %v, want InvalidArgument naming %q and the limit", tc.name, err, tc.path)
		}
	}
}

func TestToStructRefusesWhatIsNotAnObject(t *testing.T) {
	t.Parallel()
	for _, v := range []any{nil, 5, "x", []int{1}, map[string]any{"f": func() {}}, (*testPost)(nil)} {
		if _, err := toStruct(v, encodeOpts{}); !IsInvalidArgument(err) {
			t.Errorf("%#v: err %v, want InvalidArgument", v, err)
		}
	}
}

func TestRecordsDecodeIntoTheUsersType(t *testing.T) {
	t.Parallel()
	s := mustStruct(t, map[string]any{
		"id": "r1", "created_at": "2024-01-02T03:04:05.123456Z", "updated_at": "2024-01-03T00:00:00Z", "version": 3.0,
		"title": "hi", "n": float64(MaxSafeInteger), "score": 1.25, "tags": []any{"a", "b"}, "due": nil,
	})
	p, err := decodeRecord[testPost](s)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "r1" || p.Version != 3 || p.Title != "hi" || p.N != MaxSafeInteger || p.Score != 1.25 ||
		len(p.Tags) != 2 || p.Due != nil ||
		!p.CreatedAt.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)) || p.UpdatedAt.Day() != 3 {
		t.Errorf("decoded %+v", p)
	}

	r, err := decodeRecord[Record](s)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID() != "r1" || r.Version() != 3 || r["title"] != "hi" {
		t.Errorf("record %v: id %q version %d", r, r.ID(), r.Version())
	}

	_, err = decodeRecord[testPost](mustStruct(t, map[string]any{"id": "r2", "n": "not a number"}))
	if err == nil || !strings.Contains(err.Error(), "r2") {
		t.Errorf("a record that does not fit T: err %v, want one naming the record", err)
	}
}

func TestRoundTripKeepsValues(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	in := testPost{Title: "ü \"q\"\n", N: -MaxSafeInteger, Score: 0.1, Due: &due, Tags: []string{}, Meta: map[string]any{"a": true}}
	s, err := toStruct(in, encodeOpts{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeRecord[testPost](s)
	if err != nil {
		t.Fatal(err)
	}
	if out.Title != in.Title || out.N != in.N || out.Score != in.Score || !out.Due.Equal(due) || out.Meta["a"] != true {
		t.Errorf("round trip: %+v\nfrom %+v", out, in)
	}
}
