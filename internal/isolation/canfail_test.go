package isolation_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// The property test can fail: with one policy of one tenant's collection
// made permissive (USING (true), or WITH CHECK (true) for the INSERT
// policy, which has no USING), a short run of the same generator, aimed at
// that tenant and collection, finds violations. Each policy is put back
// before the next is weakened, and a last run with every policy restored
// finds none.
//
// The records service also adds the rules to its own SQL, so through REST
// and Connect a weakened policy changes nothing; the "forgetful handler"
// requests of the generator (straight SQL as the caller, nothing but
// row-level security in the way) are what see it, as they would see a
// handler that forgot the rules.
func TestPropertyDetectsWeakenedPolicy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	seed := propertySeed(t)
	victim := w.tenants[1]
	cases := []struct {
		table, policy, weaken string
	}{
		{"notes", "service_all", "USING (true)"},
		{"notes", "rule_select", "USING (true)"},
		{"notes", "rule_update", "USING (true)"},
		{"notes", "rule_delete", "USING (true)"},
		{"notes", "rule_insert", "WITH CHECK (true)"},
		{"posts", "rule_select", "USING (true)"},
	}
	// Enough to hit each weakened policy many times over (a run of 1,500
	// found 50 to 500 violations for each).
	const n = 600
	for i, c := range cases {
		name := c.table + "." + c.policy
		qual, check, err := w.policy(ctx, victim.ref, c.table, c.policy)
		if err != nil {
			t.Fatal(err)
		}
		alter := "ALTER POLICY " + pgx.Identifier{c.policy}.Sanitize() + " ON " + tenantdb.Table(victim.ref, c.table) + " "
		if _, err := w.admin.Exec(ctx, alter+c.weaken); err != nil {
			t.Fatalf("%s: weaken: %v", name, err)
		}
		res := w.run(t, seed+uint64(i), n, genOptions{focus: victim.i + 1, focusColl: c.table})
		var restore []string
		if qual != "" {
			restore = append(restore, "USING ("+qual+")")
		}
		if check != "" {
			restore = append(restore, "WITH CHECK ("+check+")")
		}
		if _, err := w.admin.Exec(ctx, alter+strings.Join(restore, " ")); err != nil {
			t.Fatalf("%s: restore: %v", name, err)
		}
		if len(res.violations) == 0 {
			t.Errorf("%s %s: %d requests (seed %d) found nothing", name, c.weaken, n, seed+uint64(i))
			continue
		}
		t.Logf("%s %s: %d violations, the first: %s", name, c.weaken, res.count, res.violations[0])
	}
	res := w.run(t, seed+uint64(len(cases)), 1000, genOptions{focus: victim.i + 1, focusColl: "notes"})
	res.report(t, seed+uint64(len(cases)))
}
