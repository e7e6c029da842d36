// Package rules is a collection's access rules: who other than the service
// role may list, view, create, update and delete its records. A rule is an
// expression in the shared language (package filter, rule mode) with
// record.<field>, auth.uid, auth.role, auth.aal, auth.claims.<name>,
// request.method and request.time in scope; a missing rule denies.
//
// A rule is enforced twice, from one compiled tree:
//
//   - the records service adds it, with the caller's identity as
//     parameters, to the SQL of every statement a non-service caller runs
//     (Cache, Compiled.Condition): list and count → the list rule, get and
//     expanded relations → the view rule, update and replace → the update
//     rule, delete → the delete rule;
//   - it is a forced row-level-security policy on the collection's table
//     (package schema keeps them, SetRules replaces them in the same
//     transaction as the rules): rule_select USING (list) OR (view),
//     rule_insert WITH CHECK (create), rule_update USING (update) WITH
//     CHECK (update), rule_delete USING (delete), reading the caller from
//     the sovereign.* settings that package tenantdb sets. So the rules
//     hold even for a statement that forgot them.
//
// For create, record is the new record; for update, the row as it is and,
// through the policy's WITH CHECK, the row as it would become: both must
// pass. A statement's RETURNING also needs the row to pass the SELECT
// policy, so a record the caller creates or updates must be one it may
// list or view.
//
// Collections with no rules at all serve only the service role (a secret
// key); anyone else gets ErrNotSet from the records service.
package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Set is a collection's five rules as written; a nil rule denies its
// operation to all but the service role.
type Set struct {
	List, View, Create, Update, Delete *string
}

func (s Set) named() []struct {
	name string
	expr *string
} {
	return []struct {
		name string
		expr *string
	}{{filter.MethodList, s.List}, {filter.MethodView, s.View}, {filter.MethodCreate, s.Create}, {filter.MethodUpdate, s.Update}, {filter.MethodDelete, s.Delete}}
}

// SetOf is the Set stored in r.
func SetOf(r *schema.Rules) Set {
	text := func(x *schema.Rule) *string {
		if x == nil {
			return nil
		}
		s := x.Expr
		return &s
	}
	if r == nil {
		return Set{}
	}
	return Set{List: text(r.List), View: text(r.View), Create: text(r.Create), Update: text(r.Update), Delete: text(r.Delete)}
}

// Error is a rule that does not compile: which one, where and why. Its
// text is for the person who wrote the rule: "view: line 1, column 8:
// unknown field \"ownr\"".
type Error struct {
	// Rule is list, view, create, update or delete.
	Rule string
	// Line and Column (1-based) locate the fault; Line is 0 when it
	// concerns the whole rule.
	Line, Column int
	// Field is the field at fault, "" when none.
	Field string
	// Message says what is wrong.
	Message string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Rule + ": " + e.Message
	}
	return fmt.Sprintf("%s: line %d, column %d: %s", e.Rule, e.Line, e.Column, e.Message)
}

// Errors a caller acts on.
var (
	// ErrServiceOnly: rules are read and set with a secret key only.
	ErrServiceOnly = errors.New("access rules are read and set with a secret API key (the service role)")
	// ErrNotSet: a caller other than the service role used a collection
	// that has no access rules at all.
	ErrNotSet = errors.New("a publishable key cannot use this collection: access rules are not set yet; use a secret key on a server")
)

// Compile checks set against c and returns the rules to store (with the
// fields each reads) and the policies they become. A rule that does not
// compile is an *Error.
func Compile(c *schema.Collection, set Set) (*schema.Rules, schema.Policies, error) {
	env, err := filter.NewRuleEnv(c)
	if err != nil {
		return nil, schema.Policies{}, err
	}
	out := &schema.Rules{}
	policy := map[string]string{}
	for _, nr := range set.named() {
		if nr.expr == nil {
			continue
		}
		r, err := env.Rule(*nr.expr, nr.name)
		if err != nil {
			var fe *filter.Error
			if errors.As(err, &fe) {
				return nil, schema.Policies{}, &Error{Rule: nr.name, Line: fe.Line, Column: fe.Column, Field: fe.Field, Message: fe.Message}
			}
			return nil, schema.Policies{}, err
		}
		sql, err := r.Policy()
		if err != nil {
			return nil, schema.Policies{}, &Error{Rule: nr.name, Message: err.Error()}
		}
		policy[nr.name] = sql
		stored := &schema.Rule{Expr: *nr.expr, Fields: r.Fields()}
		switch nr.name {
		case filter.MethodList:
			out.List = stored
		case filter.MethodView:
			out.View = stored
		case filter.MethodCreate:
			out.Create = stored
		case filter.MethodUpdate:
			out.Update = stored
		default:
			out.Delete = stored
		}
	}
	var sel []string
	for _, m := range []string{filter.MethodList, filter.MethodView} {
		if p, ok := policy[m]; ok {
			sel = append(sel, "("+p+")")
		}
	}
	return out, schema.Policies{
		Select: strings.Join(sel, " OR "),
		Insert: policy[filter.MethodCreate],
		Update: policy[filter.MethodUpdate],
		Delete: policy[filter.MethodDelete],
	}, nil
}

// Compiled is a collection's stored rules, compiled for queries.
type Compiled struct {
	rules map[string]*filter.Rule
}

// Any reports whether the collection has any rule.
func (c *Compiled) Any() bool { return len(c.rules) > 0 }

// Has reports whether the collection has a rule for method.
func (c *Compiled) Has(method string) bool { return c.rules[method] != nil }

// Condition is the rule for method as an SQL condition with a's values as
// arguments from $argBase+1, in parentheses; FALSE when the collection has
// no such rule.
func (c *Compiled) Condition(method string, argBase int, a filter.Auth) (string, []any) {
	r := c.rules[method]
	if r == nil {
		return "FALSE", nil
	}
	sql := r.SQL(argBase, a)
	return "(" + sql.SQL + ")", sql.Args
}

// DefaultCacheSize is the most collections' rules a Cache keeps.
const DefaultCacheSize = 10000

// Cache compiles collections' stored rules, once per definition: the key is
// a hash of the fields (names and types, what a rule's meaning depends on)
// and the rules' text, so a changed definition compiles afresh and stale
// entries are simply never asked for again. It is safe for concurrent use.
type Cache struct {
	size int
	mu   sync.Mutex
	m    map[[32]byte]*Compiled
}

// NewCache returns a Cache of at most size entries (0: DefaultCacheSize;
// negative: none kept).
func NewCache(size int) *Cache {
	if size == 0 {
		size = DefaultCacheSize
	}
	return &Cache{size: size, m: map[[32]byte]*Compiled{}}
}

// Compiled returns c's rules compiled. Stored rules compiled when they were
// set; an error here means the definition is broken, an internal error.
func (k *Cache) Compiled(c *schema.Collection) (*Compiled, error) {
	key := cacheKey(c)
	k.mu.Lock()
	out, ok := k.m[key]
	k.mu.Unlock()
	if ok {
		return out, nil
	}
	out = &Compiled{rules: map[string]*filter.Rule{}}
	if c.Rules.Any() {
		env, err := filter.NewRuleEnv(c)
		if err != nil {
			return nil, fmt.Errorf("rules: collection %s: %w", c.Name, err)
		}
		for _, nr := range c.Rules.Named() {
			if nr.Rule == nil {
				continue
			}
			r, err := env.Rule(nr.Rule.Expr, nr.Name)
			if err != nil {
				return nil, fmt.Errorf("rules: collection %s: stored %s rule: %w", c.Name, nr.Name, err)
			}
			out.rules[nr.Name] = r
		}
	}
	if k.size > 0 {
		k.mu.Lock()
		if len(k.m) >= k.size {
			for old := range k.m { // an arbitrary entry makes room
				delete(k.m, old)
				break
			}
		}
		k.m[key] = out
		k.mu.Unlock()
	}
	return out, nil
}

func cacheKey(c *schema.Collection) [32]byte {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, f := range c.Fields {
		put(f.Name)
		put(string(f.Type))
	}
	put("")
	for _, nr := range c.Rules.Named() {
		if nr.Rule == nil {
			put("-")
			continue
		}
		put("+" + nr.Rule.Expr)
	}
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// AuthOf is what rules see of identity id at time now: auth.uid,
// auth.role (AuthRole, or Role when that is empty), auth.aal, the claims
// decoded from id.Claims, and request.time.
func AuthOf(id tenantdb.Identity, now time.Time) (filter.Auth, error) {
	a := filter.Auth{UID: id.UserID, Role: id.AuthRole, AAL: id.AAL, Time: now}
	if a.Role == "" {
		a.Role = id.Role
	}
	if id.Claims != "" {
		if err := json.Unmarshal([]byte(id.Claims), &a.Claims); err != nil {
			return filter.Auth{}, fmt.Errorf("rules: the identity's claims are not a JSON object: %w", err)
		}
	}
	return a, nil
}
