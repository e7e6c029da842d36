package remote

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, name, err string
	}{
		{in: "sov://docs/a/b.txt", bucket: "docs", name: "a/b.txt"},
		{in: "sov://docs", bucket: "docs"},
		{in: "sov://docs/", bucket: "docs"},
		{in: "sov://docs/dir/", bucket: "docs", name: "dir/"},
		{in: "sov://", err: "names no bucket"},
		{in: "sov:///x", err: "names no bucket"},
		{in: "docs/a.txt", err: "not a remote path"},
		{in: "s3://docs/a.txt", err: "not a remote path"},
	} {
		p, err := Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %+v, %v; want an error with %q", tc.in, p, err, tc.err)
			}
			continue
		}
		if err != nil || p.Bucket != tc.bucket || p.Name != tc.name {
			t.Errorf("Parse(%q) = %+v, %v; want %s %q", tc.in, p, err, tc.bucket, tc.name)
		}
	}
	if _, err := ParseObject("sov://docs/dir/"); err == nil {
		t.Error("ParseObject of a prefix: no error")
	}
	if p, err := ParseObject("sov://docs/a"); err != nil || p.String() != "sov://docs/a" {
		t.Errorf("ParseObject(sov://docs/a) = %v, %v", p, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "10MiB": 10 << 20, "1.5GiB": 3 << 29, "500KB": 500_000, "2M": 2 << 20, "1 GB": 1e9, "7B": 7,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1MiB", "MiB", "1e400", "NaN", "9999999999TiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseMeta(t *testing.T) {
	md, err := ParseMeta([]string{"owner=ada", "note=a=b", "empty="})
	if err != nil || md["owner"] != "ada" || md["note"] != "a=b" || md["empty"] != "" || len(md) != 3 {
		t.Errorf("ParseMeta = %v, %v", md, err)
	}
	for _, bad := range []string{"novalue", "=v"} {
		if _, err := ParseMeta([]string{bad}); err == nil {
			t.Errorf("ParseMeta(%q): no error", bad)
		}
	}
	if md, err := ParseMeta(nil); md != nil || err != nil {
		t.Errorf("ParseMeta(nil) = %v, %v", md, err)
	}
}
