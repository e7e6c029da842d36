package sovereign_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Post is a record of the examples' collections. Embedding RecordMeta gives
// it the system fields: id, created_at, updated_at and version.
type Post struct {
	sovereign.RecordMeta
	Title string `json:"title"`
	N     int64  `json:"n"`
}

var (
	dataOnce sync.Once
	dataCl   *sovereign.Client
)

// dataClient returns a client of a fresh project's data plane with a secret
// key, made once for all the data examples: sign up, create an
// organization and a project, wait until the region serves it, and create a
// secret key. Each example uses its own collections.
func dataClient(ctx context.Context) *sovereign.Client {
	dataOnce.Do(func() {
		mc := managementClient(ctx)
		org, err := mc.CreateOrganization(ctx, "Data examples")
		if err != nil {
			log.Fatal(err)
		}
		project, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: "data", Region: "local"})
		if err != nil {
			log.Fatal(err)
		}
		if project, err = mc.WaitProjectActive(ctx, project.ID); err != nil {
			log.Fatal(err)
		}
		_, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: project.ID, Name: "examples", Kind: sovereign.KeySecret})
		if err != nil {
			log.Fatal(err)
		}
		dataCl = sovereign.NewClient(dataURL, sovereign.WithAPIKey(secret))
	})
	return dataCl
}

// createPosts makes a collection of Posts called name.
func createPosts(ctx context.Context, c *sovereign.Client, name string) *sovereign.CollectionRef[Post] {
	_, err := c.Collections().Create(ctx, sovereign.CollectionSpec{
		Name: name,
		Fields: []sovereign.Field{
			{Name: "title", Type: sovereign.FieldText, Required: true},
			{Name: "n", Type: sovereign.FieldInteger},
		},
		Indexes: []sovereign.Index{{Fields: []string{"n"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	return sovereign.Collection[Post](c, name)
}

// A collection's records as a Go type: insert, read, update with a version
// check, delete.
func ExampleCollection() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	posts := createPosts(ctx, c, "posts")
	p, err := posts.Insert(ctx, Post{Title: "hello", N: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Title, p.N, "version:", p.Version, "has an id:", p.ID != "")

	// Update sends only the fields it names; ExpectVersion makes it apply
	// only if nobody wrote the record since it was read.
	p, err = posts.Update(ctx, p.ID, map[string]any{"n": 2}, sovereign.ExpectVersion(p.Version))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Title, p.N, "version:", p.Version)

	got, err := posts.Get(ctx, p.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("get:", got.Title, got.N, got.CreatedAt.Equal(p.CreatedAt))

	if err := posts.Delete(ctx, p.ID); err != nil {
		log.Fatal(err)
	}
	_, err = posts.Get(ctx, p.ID)
	fmt.Println("after delete, not found:", sovereign.IsNotFound(err))
	// Output:
	// hello 1 version: 1 has an id: true
	// hello 2 version: 2
	// get: hello 2 true
	// after delete, not found: true
}

// Query filters with the builder (or raw CEL text), sorts, and pages for
// the loop.
func ExampleCollectionRef_Query() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	posts := createPosts(ctx, c, "articles")
	for i, title := range []string{"apple", "avocado", "banana", "apricot", "cherry"} {
		if _, err := posts.Insert(ctx, Post{Title: title, N: int64(i + 1)}); err != nil {
			log.Fatal(err)
		}
	}

	q := sovereign.Query{
		Filter: sovereign.Where("n").Gt(1).And(sovereign.Where("title").StartsWith("a")),
		Sort:   []string{"-n"},
		// One record a request, to show the iterator following the cursor.
		PageSize: 1,
	}
	fmt.Println("filter:", q.Filter)
	for p, err := range posts.Query(ctx, q) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p.Title, p.N)
	}

	n, _, err := posts.Count(ctx, sovereign.Query{Filter: sovereign.Raw(`n >= 3`)}, sovereign.CountExact)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("n >= 3:", n)

	first, ok, err := posts.First(ctx, sovereign.Query{Sort: []string{"title"}})
	if err != nil || !ok {
		log.Fatal(ok, err)
	}
	fmt.Println("first by title:", first.Title)
	// Output:
	// filter: n > 1 && title.startsWith("a")
	// apricot 4
	// avocado 2
	// n >= 3: 3
	// first by title: apple
}

// Two writers read version 1 and both update: the second gets a conflict
// instead of silently overwriting the first.
func ExampleIsConflict() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	posts := createPosts(ctx, c, "drafts")
	p, err := posts.Insert(ctx, Post{Title: "draft", N: 1})
	if err != nil {
		log.Fatal(err)
	}
	_, err = posts.Update(ctx, p.ID, map[string]any{"title": "first writer"}, sovereign.ExpectVersion(p.Version))
	fmt.Println("first writer:", err)
	_, err = posts.Update(ctx, p.ID, map[string]any{"title": "second writer"}, sovereign.ExpectVersion(p.Version))
	fmt.Println("second writer conflicts:", sovereign.IsConflict(err))

	now, err := posts.Get(ctx, p.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(now.Title, "version:", now.Version)
	// Output:
	// first writer: <nil>
	// second writer conflicts: true
	// first writer version: 2
}

// A batch runs in one transaction: all its operations apply, or none.
func ExampleClient_Batch() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	posts := createPosts(ctx, c, "notes")
	res, err := c.Batch().
		Create("notes", Post{Title: "one", N: 1}).
		Create("notes", Post{Title: "two", N: 2}).
		Run(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var one Post
	if err := res[0].Decode(&one); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res), "created; the first is", one.Title)

	// The update's expected version is stale, so the create beside it is
	// not applied either.
	_, err = c.Batch().
		Create("notes", Post{Title: "three", N: 3}).
		Update("notes", one.ID, map[string]any{"n": 10}, sovereign.ExpectVersion(one.Version+1)).
		Run(ctx)
	fmt.Println("conflict:", sovereign.IsConflict(err))

	n, _, err := posts.Count(ctx, sovereign.Query{}, sovereign.CountExact)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("records:", n)
	// Output:
	// 2 created; the first is one
	// conflict: true
	// records: 2
}

// Collections change in place, and every change is kept in the history.
func ExampleCollections_Alter() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	createPosts(ctx, c, "pages")
	spec, err := c.Collections().Alter(ctx, "pages",
		sovereign.AddField(sovereign.Field{Name: "views", Type: sovereign.FieldInteger, Default: 0}),
		sovereign.RenameField("title", "heading"),
		sovereign.AddIndex(sovereign.Index{Fields: []string{"views"}}),
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range spec.Fields {
		fmt.Println(f.Name, f.Type, "required:", f.Required)
	}

	changes, err := sovereign.Collect(c.Collections().History(ctx, "pages"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first change:", changes[0].Kind, changes[0].Collection)
	fmt.Println("last change:", changes[len(changes)-1].Kind)
	// Output:
	// heading text required: true
	// n integer required: false
	// views integer required: false
	// first change: create pages
	// last change: alter
}

// The builder writes filters in the platform's expression language,
// escaping every value, so user input cannot change a filter's meaning.
func ExampleWhere() {
	fmt.Println(sovereign.Where("n").Gt(5).And(sovereign.Where("title").StartsWith("a")))
	fmt.Println(sovereign.Or(sovereign.Where("status").In("open", "review"), sovereign.Where("due").IsNull()).And(sovereign.Where("n").Lte(10)))
	fmt.Println(sovereign.Not(sovereign.Where("title").Eq(`say "hi"` + "\n")))
	fmt.Println(sovereign.Where("created_at").Gte(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)))

	// A field name is checked; the error comes back from the call that
	// uses the filter, before anything is sent.
	fmt.Println(sovereign.Where("title) || (true").Eq(1).Err())
	// Output:
	// n > 5 && title.startsWith("a")
	// (status in ["open", "review"] || due == null) && n <= 10
	// !(title == "say \"hi\"\n")
	// created_at >= timestamp("2024-01-01T00:00:00Z")
	// sovereign: invalid_argument: filter: "title) || (true" is not a field name: use letters, digits and underscores, not starting with a digit
}
