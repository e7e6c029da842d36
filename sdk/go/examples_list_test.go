package sovereign_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
)

// TestExampleList keeps TestMain's list of examples whole, so that running an
// example alone with -run still checks for the platform.
func TestExampleList(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "example_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Example") {
			found = append(found, fn.Name.Name)
		}
	}
	want := slices.Clone(examples)
	slices.Sort(found)
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Errorf("examples in example_test.go = %v; TestMain's list = %v", found, want)
	}
}
