package filter_test

import (
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// posts is the collection the tests filter: one field of every type.
var posts = &schema.Collection{
	Name: "posts",
	Fields: []schema.Field{
		{Name: "title", Type: schema.Text},
		{Name: "body", Type: schema.Text},
		{Name: "attachment", Type: schema.File},
		{Name: "n", Type: schema.Integer},
		{Name: "m", Type: schema.Integer},
		{Name: "price", Type: schema.Number},
		{Name: "weight", Type: schema.Number},
		{Name: "done", Type: schema.Boolean},
		{Name: "pinned", Type: schema.Boolean},
		{Name: "due", Type: schema.Timestamp},
		{Name: "seen", Type: schema.Timestamp},
		{Name: "author", Type: schema.Relation, Collection: "users"},
		{Name: "meta", Type: schema.JSON},
		{Name: "emb", Type: schema.Vector, Dimensions: 3},
	},
}

func newEnv(t testing.TB) *filter.Env {
	t.Helper()
	env, err := filter.NewEnv(posts)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
