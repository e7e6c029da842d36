// Package alter is `sov db collections alter`.
package alter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Change is one change given on the command line: the flag (without its
// dashes) and its value.
type Change struct {
	Flag  string
	Value string
}

// Options are the inputs of `sov db collections alter`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	Name   string
	// Changes are the changes in the order given.
	Changes []Change
	// Ops are Changes as the SDK takes them.
	Ops  []sovereign.AlterOp
	JSON bool
}

// changeFlags are the flags that each add a change, with their help.
var changeFlags = []struct{ name, help string }{
	{"add-field", "add a field: " + shared.FieldSyntax},
	{"rename-field", "rename a field: OLD=NEW"},
	{"drop-field", "drop a field and its data: NAME"},
	{"set-required", "make a field required: NAME"},
	{"unset-required", "make a field optional: NAME"},
	{"set-unique", "make a field unique: NAME"},
	{"unset-unique", "make a field not unique: NAME"},
	{"set-default", "set a field's default: NAME=JSON"},
	{"drop-default", "remove a field's default: NAME"},
	{"add-index", "add an index: " + shared.IndexSyntax},
	{"drop-index", "drop an index: NAME"},
}

// changeValue is a flag whose every use appends a change, so that changes
// keep the order they were given in across flags.
type changeValue struct {
	flag    string
	changes *[]Change
}

func (v changeValue) String() string { return "" }
func (v changeValue) Type() string   { return "string" }
func (v changeValue) Set(s string) error {
	*v.changes = append(*v.changes, Change{Flag: v.flag, Value: s})
	return nil
}

// NewCmdAlter builds the command; runF replaces the run function in tests.
func NewCmdAlter(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "alter NAME CHANGE...",
		Short: "Change a collection's fields and indexes, all or nothing",
		Long: `Change a collection's fields and indexes. The changes apply in the order given,
in one transaction: all of them or none. Each is kept in the schema history
(` + "`sov db history`" + `).

Making a field required fails while a record has no value for it; making it
unique fails while two records share a value.`,
		Example: `  sov db collections alter posts --add-field views:integer:default=0 --add-index views
  sov db collections alter posts --rename-field n=count --set-required title
  sov db collections alter posts --set-default 'status="draft"' --drop-index posts_n_idx`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Name = args[0]
			if len(opts.Changes) == 0 {
				return factory.UsageError("give at least one change, e.g. --add-field views:integer (see --help)")
			}
			opts.Ops = opts.Ops[:0]
			for _, c := range opts.Changes {
				op, err := Op(c)
				if err != nil {
					return factory.UsageError("--%s %s: %v", c.Flag, c.Value, err)
				}
				opts.Ops = append(opts.Ops, op)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	for _, fl := range changeFlags {
		cmd.Flags().Var(changeValue{flag: fl.name, changes: &opts.Changes}, fl.name, fl.help)
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the collection after the changes as JSON")
	return cmd
}

// Op turns a change given on the command line into the SDK's.
func Op(c Change) (sovereign.AlterOp, error) {
	pair := func() (string, string, error) {
		a, b, ok := strings.Cut(c.Value, "=")
		if !ok || a == "" || b == "" {
			return "", "", fmt.Errorf("want NAME=VALUE")
		}
		return a, b, nil
	}
	if c.Value == "" {
		return sovereign.AlterOp{}, fmt.Errorf("empty value")
	}
	switch c.Flag {
	case "add-field":
		f, err := shared.ParseField(c.Value)
		return sovereign.AddField(f), err
	case "rename-field":
		from, to, err := pair()
		return sovereign.RenameField(from, to), err
	case "drop-field":
		return sovereign.DropField(c.Value), nil
	case "set-required", "unset-required":
		return sovereign.SetRequired(c.Value, c.Flag == "set-required"), nil
	case "set-unique", "unset-unique":
		return sovereign.SetUnique(c.Value, c.Flag == "set-unique"), nil
	case "set-default":
		name, js, err := pair()
		if err != nil {
			return sovereign.AlterOp{}, err
		}
		v, err := shared.ParseJSONValue(js)
		if err != nil {
			return sovereign.AlterOp{}, err
		}
		if v == nil {
			return sovereign.AlterOp{}, fmt.Errorf("a null default is no default: use --drop-default %s", name)
		}
		return sovereign.SetDefault(name, v), nil
	case "drop-default":
		return sovereign.SetDefault(c.Value, nil), nil
	case "add-index":
		ix, err := shared.ParseIndex(c.Value)
		return sovereign.AddIndex(ix), err
	case "drop-index":
		return sovereign.DropIndex(c.Value), nil
	}
	return sovereign.AlterOp{}, fmt.Errorf("unknown change")
}

// Run applies the changes.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	spec, err := c.Collections().Alter(ctx, opts.Name, opts.Ops...)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, spec)
	case opts.IO.OutTTY:
		n := "1 change"
		if len(opts.Ops) != 1 {
			n = fmt.Sprintf("%d changes", len(opts.Ops))
		}
		if _, err := fmt.Fprintf(opts.IO.Out, "✓ Altered collection %s (%s)\n\n", spec.Name, n); err != nil {
			return err
		}
		return shared.PrintCollection(opts.IO, opts.Now(), spec, false)
	default:
		_, err = fmt.Fprintln(opts.IO.Out, spec.Name)
	}
	return err
}
