package storage

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
)

// maxCachedRules bounds the compiled rule cache; past it the cache starts
// over.
const maxCachedRules = 4096

// bucketRules are a bucket's compiled rules; a nil rule denies.
type bucketRules struct{ read, write, del *filter.Rule }

// ruleKey names one definition of a bucket's rules: a bucket's rules
// change only with its updated_at, so an entry never goes stale.
type ruleKey struct {
	ref, bucket string
	updated     time.Time
}

type ruleCache struct {
	mu sync.Mutex
	m  map[ruleKey]*bucketRules
}

// compileRules compiles the three rules of a bucket; errors are
// InvalidArgument and name the rule.
func (s *Service) compileRules(read, write, del string) (*bucketRules, error) {
	var br bucketRules
	for _, r := range []struct {
		name, src, method string
		dst               **filter.Rule
	}{
		{"read", read, filter.MethodView, &br.read},
		{"write", write, filter.MethodCreate, &br.write},
		{"delete", del, filter.MethodDelete, &br.del},
	} {
		if r.src == "" {
			continue
		}
		if len(r.src) > MaxRuleLen {
			return nil, invalidf("rules.%s is %d bytes long, more than the limit of %d", r.name, len(r.src), MaxRuleLen)
		}
		rule, err := s.env.Rule(r.src, r.method)
		if err != nil {
			if fe, ok := errors.AsType[*filter.Error](err); ok {
				return nil, invalidf("rules.%s: %s", r.name, fe.Error())
			}
			return nil, fmt.Errorf("compile rules.%s: %w", r.name, err)
		}
		*r.dst = rule
	}
	return &br, nil
}

// rulesOf returns b's compiled rules, from the cache when it can.
func (s *Service) rulesOf(ref string, b *bucketRow) (*bucketRules, error) {
	k := ruleKey{ref: ref, bucket: b.id, updated: b.updatedAt}
	s.rules.mu.Lock()
	br, ok := s.rules.m[k]
	s.rules.mu.Unlock()
	if ok {
		return br, nil
	}
	br, err := s.compileRules(b.rules.read, b.rules.write, b.rules.del)
	if err != nil {
		return nil, err
	}
	s.rules.mu.Lock()
	if len(s.rules.m) >= maxCachedRules {
		s.rules.m = map[ruleKey]*bucketRules{}
	}
	s.rules.m[k] = br
	s.rules.mu.Unlock()
	return br, nil
}

// op is a rule's operation.
type op int

const (
	opRead op = iota
	opWrite
	opDelete
)

func (o op) String() string { return [...]string{"read", "write", "delete"}[o] }

// objectValues is an object as rules see it.
func objectValues(name string, size int64, contentType string, md map[string]string) map[string]any {
	m := make(map[string]any, len(md))
	for k, v := range md {
		m[k] = v
	}
	return map[string]any{"name": name, "folder": folder(name), "size": size, "content_type": contentType, "metadata": m}
}

// authorize reports whether w may do o on the object in b: the service
// role always, anyone reading a public bucket, and others when the
// bucket's rule for o allows obj. It answers PermissionDenied.
func (s *Service) authorize(w who, b *bucketRow, o op, obj map[string]any) error {
	if w.service() || (o == opRead && b.public) {
		return nil
	}
	br, err := s.rulesOf(w.id.TenantRef, b)
	if err != nil {
		return err
	}
	rule := [...]*filter.Rule{br.read, br.write, br.del}[o]
	if rule == nil {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("bucket %q has no %s rule: only the service role (a secret key) may %s its objects", b.name, o, o))
	}
	ok, err := rule.Eval(obj, w.auth)
	if err != nil {
		return fmt.Errorf("evaluate %s rule of bucket %s: %w", o, b.name, err)
	}
	if !ok {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("the %s rule of bucket %q does not allow this", o, b.name))
	}
	return nil
}
