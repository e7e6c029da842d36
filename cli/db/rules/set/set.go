// Package set is `sov db rules set`.
package set

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// ops are the rules' names, in the order they are shown.
var ops = []string{"list", "view", "create", "update", "delete"}

// Options are the inputs of `sov db rules set`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client     func() (*sovereign.Client, error)
	Collection string
	// Rules from the flags, or read from File.
	Rules sovereign.Rules
	// File is a JSON file of rules, "-" for stdin; empty when the rules
	// come from flags.
	File string
	JSON bool
}

// NewCmdSet builds the command; runF replaces the run function in tests.
func NewCmdSet(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	exprs := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "set COLLECTION",
		Short: "Replace a collection's access rules",
		Long: `Replace all five of a collection's access rules at once, from flags or from a
JSON file (--file, "-" for stdin) like the one ` + "`sov db rules get`" + ` prints:

  {"list": "auth.uid != ''", "view": "record.owner == auth.uid",
   "create": "auth.uid != ''", "update": "record.owner == auth.uid", "delete": "false"}

A rule you leave out denies that operation to everyone but the secret key
(which bypasses the rules): setting only --view leaves list, create, update
and delete denied, whatever they were before. "true" allows everyone with
the project's publishable key, signed in or not.

Each rule is checked against the collection's fields before anything
changes; a mistake names the rule and the position, and changes nothing.`,
		Example: `  sov db rules set posts --list "true" --view "true" \
    --create "auth.uid != ''" --update "record.owner == auth.uid" --delete "auth.role == 'moderator'"
  sov db rules set posts --file rules.json
  echo '{}' | sov db rules set posts --file -    # deny everything to publishable keys`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection = args[0]
			given := 0
			for _, op := range ops {
				if !cmd.Flags().Changed(op) {
					continue
				}
				given++
				if strings.TrimSpace(*exprs[op]) == "" {
					return factory.UsageError("--%s is empty: leave it out to deny %s, or give an expression such as \"false\"", op, op)
				}
			}
			switch {
			case opts.File != "" && given > 0:
				return factory.UsageError("--file and the rule flags do not go together")
			case opts.File == "" && given == 0:
				return factory.UsageError("give the rules with --list, --view, --create, --update and --delete, or --file")
			case opts.File != "":
				r, err := readFile(opts.IO.In, opts.File)
				if err != nil {
					return err
				}
				opts.Rules = r
			default:
				pick := func(op string) *string {
					if cmd.Flags().Changed(op) {
						return exprs[op]
					}
					return nil
				}
				opts.Rules = sovereign.Rules{List: pick("list"), View: pick("view"), Create: pick("create"),
					Update: pick("update"), Delete: pick("delete")}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	for _, op := range ops {
		exprs[op] = new("")
		cmd.Flags().StringVar(exprs[op], op, "", "an expression: who may "+what[op]+" (left out: denied)")
	}
	cmd.Flags().StringVarP(&opts.File, "file", "f", "", `read the rules from a JSON file ("-" for stdin)`)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the rules as set, as JSON")
	return cmd
}

// what says what each rule allows, for the flags' help.
var what = map[string]string{
	"list": "list and query records", "view": "read a record by id", "create": "create records",
	"update": "update records", "delete": "delete records",
}

// readFile reads rules from the JSON file at path ("-": in). Unknown keys
// and non-string rules are refused, so that a misspelt rule does not
// silently deny.
func readFile(in io.Reader, path string) (sovereign.Rules, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(in)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return sovereign.Rules{}, factory.UsageError("--file: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r sovereign.Rules
	if err := dec.Decode(&r); err != nil {
		return sovereign.Rules{}, factory.UsageError("--file %s: not a rules object (keys %s, string values): %v", path, strings.Join(ops, ", "), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return sovereign.Rules{}, factory.UsageError("--file %s: more than one JSON value", path)
	}
	return r, nil
}

// Run sets the rules. On a terminal it says which operations are allowed by
// a rule and which are denied; in a pipe it prints nothing.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	r, err := c.Collections().SetRules(ctx, opts.Collection, opts.Rules)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, r)
	case opts.IO.OutTTY:
		var set, denied []string
		for i, rule := range []*string{r.List, r.View, r.Create, r.Update, r.Delete} {
			if rule == nil {
				denied = append(denied, ops[i])
			} else {
				set = append(set, ops[i])
			}
		}
		msg := fmt.Sprintf("✓ Set the rules of %s", opts.Collection)
		if len(set) > 0 {
			msg += ": " + strings.Join(set, ", ")
		}
		if len(denied) > 0 {
			msg += fmt.Sprintf(" (no rule, denied: %s)", strings.Join(denied, ", "))
		}
		_, err = fmt.Fprintln(opts.IO.Out, msg)
	}
	return err
}
