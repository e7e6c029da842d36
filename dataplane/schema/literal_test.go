package schema

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// quoteLiteral's output means its input to PostgreSQL, whichever way
// standard_conforming_strings is set.
func TestQuoteLiteralRoundTrip(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	ctx := t.Context()
	inputs := []string{"", "plain", "it's", "''", `\`, `\'`, `'\`, `a\nb`, "new\nline", "tab\t", "ünïcödé ✓", `E'x'`, "$$", "$1", "--", "/*", ";DROP TABLE x;--"}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("ab'\\\"$;-\n\r\t é✓")
	for range 300 {
		var b strings.Builder
		for range r.IntN(20) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, scs := range []string{"on", "off"} {
		if _, err := conn.Exec(ctx, "SET standard_conforming_strings = "+scs); err != nil {
			t.Fatal(err)
		}
		for _, s := range inputs {
			var got string
			if err := conn.QueryRow(context.Background(), "SELECT "+quoteLiteral(s)+"::text").Scan(&got); err != nil {
				t.Fatalf("standard_conforming_strings=%s: %q as %s: %v", scs, s, quoteLiteral(s), err)
			}
			if got != s {
				t.Fatalf("standard_conforming_strings=%s: %q came back as %q", scs, s, got)
			}
		}
	}
	if _, err := conn.Exec(ctx, "RESET standard_conforming_strings"); err != nil {
		t.Fatal(err)
	}
}
