package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		unit        Unit
		total, done int64
		extra       string
		want        string
	}{
		{Records, 10000, 0, "", "Exporting [························]   0%  0/10,000 records"},
		{Records, 10000, 4200, "", "Exporting [##########··············]  42%  4,200/10,000 records"},
		{Records, 10000, 10000, "", "Exporting [########################] 100%  10,000/10,000 records"},
		{Records, 0, 1234567, "", "Exporting  1,234,567 records"},
		// An estimate that turns out low stops being a bar.
		{Records, 100, 250, "", "Exporting  250 records"},
		{Bytes, 3 << 20, 1536 << 10, "2,000 records", "Exporting [############············]  50%  1.5 MiB/3.0 MiB  2,000 records"},
		{Bytes, 0, 512, "", "Exporting  512 B"},
	} {
		b := New(&bytes.Buffer{}, "Exporting", tc.unit, tc.total)
		b.done = tc.done
		b.SetExtra(tc.extra)
		if got := b.Line(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestRedrawsAreThrottled(t *testing.T) {
	var out bytes.Buffer
	b := New(&out, "Importing", Records, 100)
	now := time.Unix(0, 0)
	b.now = func() time.Time { return now }
	b.Add(1)
	b.Add(1) // same instant: not drawn
	now = now.Add(every)
	b.Add(1)
	b.Finish()
	if n := strings.Count(out.String(), "\r"); n != 3 {
		t.Errorf("%d carriage returns in %q, want 2 draws and the clearing", n, out.String())
	}
	if !strings.Contains(out.String(), "3/100 records") || !strings.HasSuffix(out.String(), "\r\033[K") {
		t.Errorf("output %q", out.String())
	}
}

func TestNilBarDrawsNothing(t *testing.T) {
	var b *Bar
	b.Add(5)
	b.SetExtra("x")
	b.Finish()
}

func TestCountAndSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
