package oauth

import (
	"net/url"
	"strings"
	"testing"
)

// Redirect URLs are set by tenants and end up in Location headers: what
// is accepted parses as an absolute URL, has no fragment, and never has a
// script-capable scheme.
func FuzzRedirect(f *testing.F) {
	for _, s := range []string{"https://app.example/cb", "com.example.app:/cb", "javascript:alert(1)", "JaVaScRiPt:x",
		" javascript:x", "https:///x", "//evil.example", "data:,x", "https://a.example/#x", "https://u@a.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, r string) {
		if checkRedirect(r) != nil {
			return
		}
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "" || strings.Contains(r, "#") || u.User != nil {
			t.Fatalf("accepted %q", r)
		}
		switch strings.ToLower(u.Scheme) {
		case "javascript", "data", "file", "vbscript":
			t.Fatalf("accepted %q", r)
		}
	})
}
