package records

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

// filterCacheSize is the most compiled filters a Service keeps.
const filterCacheSize = 4096

// filterCache keeps compiled list filters: building the filter language's
// environment and compiling a filter cost more than the query they make,
// and apps send the same few filters again and again. The key is a hash of
// the collection's fields (names and types: what a filter's meaning
// depends on) and the filter's text, so a changed definition compiles
// afresh. Entries are SQL and literal arguments from $1, never changed by
// their users (Compiled returns a copy of the arguments). It is safe for
// concurrent use.
type filterCache struct {
	mu sync.Mutex
	m  map[[32]byte]filter.Compiled
}

// compiled returns expr compiled for c, from the cache when it was
// compiled before. Bad filters give the *filter.Error of Env.Compile and
// are not kept.
func (fc *filterCache) compiled(c *schema.Collection, expr string) (filter.Compiled, error) {
	key := filterKey(c, expr)
	fc.mu.Lock()
	out, ok := fc.m[key]
	fc.mu.Unlock()
	if !ok {
		env, err := filter.NewEnv(c)
		if err != nil {
			return filter.Compiled{}, err
		}
		if out, err = env.Compile(expr, 0); err != nil {
			return filter.Compiled{}, err
		}
		fc.mu.Lock()
		if fc.m == nil {
			fc.m = map[[32]byte]filter.Compiled{}
		}
		if len(fc.m) >= filterCacheSize {
			for old := range fc.m { // an arbitrary entry makes room
				delete(fc.m, old)
				break
			}
		}
		fc.m[key] = out
		fc.mu.Unlock()
	}
	out.Args = slices.Clone(out.Args)
	return out, nil
}

func filterKey(c *schema.Collection, expr string) [32]byte {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(c.Name)
	for _, f := range c.Fields {
		put(f.Name)
		put(string(f.Type))
	}
	put(expr)
	var k [32]byte
	h.Sum(k[:0])
	return k
}
