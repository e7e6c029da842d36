// Package create is `sov db collections create`.
package create

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db collections create`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	// Spec is the collection to create, from NAME, --field and --index or
	// from --file.
	Spec sovereign.CollectionSpec
	JSON bool
}

// NewCmdCreate builds the command; runF replaces the run function in tests.
func NewCmdCreate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	var fields, indexes []string
	var file string
	cmd := &cobra.Command{
		Use:   "create [NAME] [--field SPEC]... [--index SPEC]...",
		Short: "Create a collection: a table with typed fields and indexes",
		Long: `Create a collection from flags, or from its JSON description with --file (- for
stdin), as ` + "`sov db collections describe NAME --json`" + ` prints it:

  {"name": "posts",
   "fields": [{"name": "title", "type": "text", "required": true}, {"name": "n", "type": "integer"}],
   "indexes": [{"fields": ["n"]}]}

NAME overrides the name in the file, which makes a copy of the collection it
describes: indexes named after that collection as the platform names them
(COLLECTION_FIELDS_idx) are named after the copy instead, since index names
are unique in a project.

Every collection also has the system fields id, created_at, updated_at and
version.

--field is ` + shared.FieldSyntax + `.
--index is ` + shared.IndexSyntax + `.`,
		Example: `  sov db collections create posts --field title:text:required --field n:integer:default=0 --index n
  sov db collections create comments --field post:relation(posts):required --field body:text
  sov db collections create --file posts.json
  sov db collections describe posts --json | sov db collections create posts_copy --file -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			if file != "" {
				if len(fields)+len(indexes) > 0 {
					return factory.UsageError("give the collection with --file or with --field and --index, not both")
				}
				spec, err := readSpec(opts.IO.In, file)
				if err != nil {
					return err
				}
				opts.Spec = spec
			}
			if len(args) == 1 {
				if file != "" && opts.Spec.Name != "" && args[0] != opts.Spec.Name {
					unnameIndexes(&opts.Spec)
				}
				opts.Spec.Name = args[0]
			}
			if opts.Spec.Name == "" {
				return factory.UsageError("name the collection: sov db collections create NAME --field …")
			}
			for _, s := range fields {
				fd, err := shared.ParseField(s)
				if err != nil {
					return factory.UsageError("--field: %v", err)
				}
				opts.Spec.Fields = append(opts.Spec.Fields, fd)
			}
			for _, s := range indexes {
				ix, err := shared.ParseIndex(s)
				if err != nil {
					return factory.UsageError("--index: %v", err)
				}
				opts.Spec.Indexes = append(opts.Spec.Indexes, ix)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&fields, "field", nil, "a field: "+shared.FieldSyntax)
	cmd.Flags().StringArrayVar(&indexes, "index", nil, "an index: "+shared.IndexSyntax)
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the collection's JSON description from this file (- for stdin)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// unnameIndexes clears the names of spec's indexes that are named after
// spec's collection as the platform names them (<collection>_<fields…>_idx,
// maybe with _2 or a hash before _idx), so that a copy under another name
// gets index names made from its own rather than ones the original holds.
func unnameIndexes(spec *sovereign.CollectionSpec) {
	for i, ix := range spec.Indexes {
		if strings.HasPrefix(ix.Name, spec.Name+"_") && strings.HasSuffix(ix.Name, "_idx") {
			spec.Indexes[i].Name = ""
		}
	}
}

func readSpec(stdin io.Reader, file string) (sovereign.CollectionSpec, error) {
	var spec sovereign.CollectionSpec
	r := stdin
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return spec, factory.UsageError("--file: %v", err)
		}
		defer fh.Close()
		r = fh
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, factory.UsageError("--file %s: not a collection's JSON description: %v", file, err)
	}
	return spec, nil
}

// Run creates the collection.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	spec, err := c.Collections().Create(ctx, opts.Spec)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, spec)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Created collection %s (%s, %s)\n", spec.Name,
			plural(len(spec.Fields), "field"), plural(len(spec.Indexes), "index"))
	default:
		_, err = fmt.Fprintln(opts.IO.Out, spec.Name)
	}
	return err
}

func plural(n int, what string) string {
	switch {
	case n == 1:
		return "1 " + what
	case what == "index":
		return fmt.Sprintf("%d indexes", n)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
