package schema

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Names of the row-level-security policies that a collection's rules
// become, beside ServicePolicy. All are permissive and TO PUBLIC: the
// tenant's role runs every request, and the conditions read the caller
// from the sovereign.* settings.
const (
	PolicySelect = "rule_select" // USING (list) OR (view)
	PolicyInsert = "rule_insert" // WITH CHECK (create)
	PolicyUpdate = "rule_update" // USING (update) WITH CHECK (update)
	PolicyDelete = "rule_delete" // USING (delete)
)

// Policies are the conditions of a collection's rule policies: boolean SQL
// expressions over the table's unqualified columns, without parameters.
// "" means no policy for that command, which row-level security then
// denies to all but the service role.
type Policies struct {
	// Select is (list) OR (view): row-level security cannot tell a list
	// from a view, so the records service applies the exact rule itself.
	Select string
	Insert string
	Update string
	Delete string
}

// SetRulesParams are the arguments of SetRules.
type SetRulesParams struct {
	// Collection is the collection's name.
	Collection string
	// Compile checks the rules against the collection as it is inside the
	// change's transaction (so no concurrent change can slip between the
	// check and the policies) and returns them, with the fields each reads,
	// and the policies they compile to. Its error is returned as it is.
	Compile func(c *Collection) (*Rules, Policies, error)
}

// SetRules replaces the access rules of a collection and its rule
// policies, and records the change, in one transaction, and returns the
// collection as it is after. Errors: ErrNotFound, *InputError for the
// name, ErrBusy, ErrServiceOnly, or Compile's error.
func (s *Store) SetRules(ctx context.Context, id tenantdb.Identity, p SetRulesParams) (*Collection, error) {
	if !namePattern.MatchString(p.Collection) {
		return nil, &InputError{Field: "collection", Reason: nameProblem("collection", p.Collection)}
	}
	var out *Collection
	err := s.change(ctx, id, func(tx *changeTx) error {
		all, err := tx.all()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(c *Collection) bool { return c.Name == p.Collection })
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, p.Collection)
		}
		c := all[i]
		rules, pol, err := p.Compile(c.Clone())
		if err != nil {
			return err
		}
		if !rules.Any() {
			rules = nil
		}
		c.Rules = rules
		stmts := policySQL(tenantdb.Table(tx.ref, c.Name), pol)
		if err := tx.exec("", stmts); err != nil {
			return err
		}
		enc, err := encodeDefinition(c)
		if err != nil {
			return err
		}
		if err := tx.q.QueryRow(ctx, "UPDATE "+tenantdb.Table(tx.ref, metaTable)+" SET definition = $2, updated_at = now() WHERE name = $1 RETURNING updated_at",
			c.Name, enc).Scan(&c.UpdatedAt); err != nil {
			return fmt.Errorf("record collection: %w", err)
		}
		out = c
		return tx.record(c.Name, ChangeAlter, describeRules(rules), stmts)
	})
	if err != nil {
		return nil, wrapChange("set rules of collection", p.Collection, err)
	}
	s.announce(ctx, id.TenantRef, p.Collection)
	return out, nil
}

// policySQL drops the rule policies of table tbl and creates those pol
// has.
func policySQL(tbl string, pol Policies) []string {
	var stmts []string
	for _, name := range []string{PolicySelect, PolicyInsert, PolicyUpdate, PolicyDelete} {
		stmts = append(stmts, "DROP POLICY IF EXISTS "+ident(name)+" ON "+tbl)
	}
	create := func(name, command, clauses string) {
		stmts = append(stmts, "CREATE POLICY "+ident(name)+" ON "+tbl+" AS PERMISSIVE FOR "+command+" TO PUBLIC "+clauses)
	}
	if pol.Select != "" {
		create(PolicySelect, "SELECT", "USING ("+pol.Select+")")
	}
	if pol.Insert != "" {
		create(PolicyInsert, "INSERT", "WITH CHECK ("+pol.Insert+")")
	}
	if pol.Update != "" {
		create(PolicyUpdate, "UPDATE", "USING ("+pol.Update+") WITH CHECK ("+pol.Update+")")
	}
	if pol.Delete != "" {
		create(PolicyDelete, "DELETE", "USING ("+pol.Delete+")")
	}
	return stmts
}

// describeRules is a rules change for the history.
func describeRules(r *Rules) string {
	var set, none []string
	for _, nr := range r.Named() {
		if nr.Rule == nil {
			none = append(none, nr.Name)
			continue
		}
		set = append(set, nr.Name+": "+quoteRule(nr.Rule.Expr))
	}
	desc := "set access rules"
	if len(set) > 0 {
		desc += " " + strings.Join(set, ", ")
	}
	if len(none) > 0 {
		desc += "; no rule (denied) for " + strings.Join(none, ", ")
	}
	return desc
}

// ruleReading names the rules of c that read field, or "".
func ruleReading(c *Collection, field string) string {
	var names []string
	for _, nr := range c.Rules.Named() {
		if nr.Rule != nil && slices.Contains(nr.Rule.Fields, field) {
			names = append(names, nr.Name+" ("+quoteRule(nr.Rule.Expr)+")")
		}
	}
	return strings.Join(names, ", ")
}

// quoteRule is a rule's text for messages: quoted, and cut after 120
// bytes.
func quoteRule(expr string) string {
	const max = 120
	if len(expr) > max {
		return strconv.Quote(strings.ToValidUTF8(expr[:max], "")) + "…"
	}
	return strconv.Quote(expr)
}
