package tableprinter

import (
	"bytes"
	"testing"
	"time"
)

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{-59 * time.Second, "just now"},
		{-time.Minute, "1 minute ago"},
		{-3 * time.Minute, "3 minutes ago"},
		{-2 * time.Hour, "2 hours ago"},
		{-36 * time.Hour, "1 day ago"},
		{-60 * 24 * time.Hour, "2 months ago"},
		{-800 * 24 * time.Hour, "2 years ago"},
		{2 * time.Hour, "in 2 hours"},
		{30 * 24 * time.Hour, "in 1 month"},
	} {
		if got := RelativeTime(now, now.Add(tc.d)); got != tc.want {
			t.Errorf("RelativeTime(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestFormats(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	print := func(tty bool) string {
		var b bytes.Buffer
		p := New(&b, tty, now, "name", "created", "expires")
		p.Field("web\tapp")
		p.Time(now.Add(-3 * time.Minute))
		p.Time(time.Time{})
		p.EndRow()
		p.Field("cli")
		p.Time(now.Add(-48 * time.Hour))
		p.Time(now.Add(time.Hour))
		p.EndRow()
		if err := p.Render(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got, want := print(true), ""+
		"NAME     CREATED        EXPIRES\n"+
		"web app  3 minutes ago  -\n"+
		"cli      2 days ago     in 1 hour\n"; got != want {
		t.Errorf("terminal:\n%s\nwant\n%s", got, want)
	}
	if got, want := print(false), ""+
		"web app\t2026-03-01T11:57:00Z\t\n"+
		"cli\t2026-02-27T12:00:00Z\t2026-03-01T13:00:00Z\n"; got != want {
		t.Errorf("pipe:\n%q\nwant\n%q", got, want)
	}
}
