// Package buckets is `sov storage buckets`: create, list, describe, change
// and delete a project's buckets.
package buckets

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/storage/internal/remote"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// NewCmdBuckets builds `sov storage buckets` and its subcommands.
func NewCmdBuckets(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "buckets",
		Short: "Create, list, describe, change and delete buckets",
		Long: `A bucket holds objects (files) under names, with a size limit, a list of
allowed content types, and rules in the platform's expression language that
decide who may read, write and delete its objects (auth.* and object.* in
scope; an empty rule lets only the secret key through). A public bucket serves
its objects to anyone, without a key.`,
	}
	cmd.AddCommand(NewCmdCreate(f, nil), NewCmdList(f, nil), NewCmdGet(f, nil), NewCmdUpdate(f, nil), NewCmdDelete(f, nil))
	return cmd
}

// Options are the inputs of the buckets commands.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	// Name is the bucket's.
	Name string
	// Bucket is the bucket to create (create).
	Bucket sovereign.Bucket
	// Update holds the fields to change (update).
	Update sovereign.BucketUpdate
	// Force deletes a bucket with its objects (delete).
	Force bool
	JSON  bool
}

// settings are the flags that describe a bucket, shared by create and
// update.
type settings struct {
	public                          bool
	maxBytes                        int64
	maxSize                         string
	types                           []string
	readRule, writeRule, deleteRule string
}

func (s *settings) add(fs *pflag.FlagSet) {
	fs.BoolVar(&s.public, "public", false, "serve the bucket's objects to anyone, without a key (--public=false to make it private)")
	fs.Int64Var(&s.maxBytes, "max-object-bytes", 0, "the largest object the bucket takes, in bytes (0: the platform's limit)")
	fs.StringVar(&s.maxSize, "max-object-size", "", "the largest object the bucket takes, e.g. 10MiB or 1.5GB")
	fs.StringArrayVar(&s.types, "allow-type", nil, "a content type the bucket takes, e.g. image/* or text/plain (repeat; none: any type)")
	fs.StringVar(&s.readRule, "read-rule", "", "who may read objects, e.g. \"auth.uid != ''\"")
	fs.StringVar(&s.writeRule, "write-rule", "", "who may upload objects, e.g. \"object.name.startsWith(auth.uid + '/')\"")
	fs.StringVar(&s.deleteRule, "delete-rule", "", "who may delete objects")
}

// maxObjectBytes reads --max-object-bytes or --max-object-size.
func (s *settings) maxObjectBytes(fs *pflag.FlagSet) (int64, bool, error) {
	bytesSet, sizeSet := fs.Changed("max-object-bytes"), fs.Changed("max-object-size")
	switch {
	case bytesSet && sizeSet:
		return 0, false, factory.UsageError("give --max-object-bytes or --max-object-size, not both")
	case sizeSet:
		n, err := remote.ParseSize(s.maxSize)
		if err != nil {
			return 0, false, factory.UsageError("--max-object-size: %v", err)
		}
		return n, true, nil
	case bytesSet:
		if s.maxBytes < 0 {
			return 0, false, factory.UsageError("--max-object-bytes: %d is negative", s.maxBytes)
		}
		return s.maxBytes, true, nil
	}
	return 0, false, nil
}

func (s *settings) rules() sovereign.BucketRules {
	return sovereign.BucketRules{Read: s.readRule, Write: s.writeRule, Delete: s.deleteRule}
}

func newOptions(f *factory.Factory, cmd *cobra.Command) *Options {
	return &Options{IO: f.IO, Now: f.Now, Client: shared.Client(f, cmd)}
}

// NewCmdCreate builds `sov storage buckets create`; runF replaces the run
// function in tests.
func NewCmdCreate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	var s settings
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME [--public] [--max-object-size SIZE] [--allow-type TYPE]... [--read-rule EXPR] [--write-rule EXPR] [--delete-rule EXPR]",
		Short: "Create a bucket",
		Long: `Create a bucket. NAME is 3 to 63 characters: lowercase letters, digits, '.',
'_' and '-', starting with a letter or digit.`,
		Example: `  sov storage buckets create avatars --public --max-object-size 2MiB --allow-type 'image/*'
  sov storage buckets create docs --read-rule "auth.uid != ''" --write-rule "object.name.startsWith(auth.uid + '/')"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := newOptions(f, cmd)
			opts.Name, opts.JSON = args[0], asJSON
			maxBytes, _, err := s.maxObjectBytes(cmd.Flags())
			if err != nil {
				return err
			}
			opts.Bucket = sovereign.Bucket{Name: args[0], Public: s.public, MaxObjectBytes: maxBytes,
				AllowedContentTypes: s.types, Rules: s.rules()}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return CreateRun(cmd.Context(), opts)
		},
	}
	s.add(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// CreateRun creates opts.Bucket and prints it: its name in a pipe, the
// bucket with --json.
func CreateRun(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	b, err := c.Storage().CreateBucket(ctx, opts.Bucket)
	if err != nil {
		return err
	}
	return printDone(opts, "created", b)
}

func printDone(opts *Options, verb string, b *sovereign.Bucket) error {
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, b)
	case opts.IO.OutTTY:
		_, err := fmt.Fprintf(opts.IO.Out, "✓ %s bucket %s\n", verb, b.Name)
		return err
	default:
		_, err := fmt.Fprintln(opts.IO.Out, b.Name)
		return err
	}
}

// NewCmdList builds `sov storage buckets list`.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the project's buckets",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := newOptions(f, cmd)
			opts.JSON = asJSON
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return ListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// ListRun prints the project's buckets.
func ListRun(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	bs, err := c.Storage().ListBuckets(ctx)
	if err != nil {
		return err
	}
	return remote.PrintBuckets(opts.IO, opts.Now(), bs, opts.JSON)
}

// NewCmdGet builds `sov storage buckets get`.
func NewCmdGet(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "get NAME",
		Aliases: []string{"describe"},
		Short:   "Describe a bucket: its limits, rules, objects and size",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := newOptions(f, cmd)
			opts.Name, opts.JSON = args[0], asJSON
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return GetRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// GetRun prints one bucket.
func GetRun(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	b, err := c.Storage().GetBucket(ctx, opts.Name)
	if err != nil {
		return err
	}
	return remote.PrintBucket(opts.IO, opts.Now(), b, opts.JSON)
}

// NewCmdUpdate builds `sov storage buckets update`.
func NewCmdUpdate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	var s settings
	var asJSON, anyType bool
	cmd := &cobra.Command{
		Use:   "update NAME [--public=true|false] [--max-object-size SIZE] [--allow-type TYPE]... [--any-type] [--read-rule EXPR] [--write-rule EXPR] [--delete-rule EXPR]",
		Short: "Change a bucket's visibility, limit, allowed types or rules",
		Long: `Change the settings the flags name; the others stay as they are. --allow-type
replaces the whole list; --any-type clears it. Giving one rule flag replaces
all three rules: those not given become empty (only the secret key passes).`,
		Example: `  sov storage buckets update avatars --public=false
  sov storage buckets update docs --max-object-size 50MiB --allow-type application/pdf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := newOptions(f, cmd)
			opts.Name, opts.JSON = args[0], asJSON
			fs := cmd.Flags()
			if fs.Changed("public") {
				opts.Update.Public = &s.public
			}
			maxBytes, ok, err := s.maxObjectBytes(fs)
			if err != nil {
				return err
			}
			if ok {
				opts.Update.MaxObjectBytes = &maxBytes
			}
			switch {
			case anyType && fs.Changed("allow-type"):
				return factory.UsageError("give --allow-type or --any-type, not both")
			case anyType:
				opts.Update.AllowedContentTypes = &[]string{}
			case fs.Changed("allow-type"):
				opts.Update.AllowedContentTypes = &s.types
			}
			if fs.Changed("read-rule") || fs.Changed("write-rule") || fs.Changed("delete-rule") {
				r := s.rules()
				opts.Update.Rules = &r
			}
			if opts.Update == (sovereign.BucketUpdate{}) {
				return factory.UsageError("nothing to change: give --public, --max-object-size, --allow-type, --any-type or a rule")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return UpdateRun(cmd.Context(), opts)
		},
	}
	s.add(cmd.Flags())
	cmd.Flags().BoolVar(&anyType, "any-type", false, "take objects of any content type")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// UpdateRun changes the bucket and prints it as stored.
func UpdateRun(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	b, err := c.Storage().UpdateBucket(ctx, opts.Name, opts.Update)
	if err != nil {
		return err
	}
	return printDone(opts, "updated", b)
}

// NewCmdDelete builds `sov storage buckets delete`.
func NewCmdDelete(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:   "delete NAME [--force]",
		Short: "Delete a bucket; with --force, with its objects",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := newOptions(f, cmd)
			opts.Name, opts.Force, opts.JSON = args[0], force, asJSON
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return DeleteRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete the bucket's objects too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// DeleteRun deletes the bucket and says how many objects went with it.
func DeleteRun(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	n, err := c.Storage().DeleteBucket(ctx, opts.Name, opts.Force)
	if err != nil {
		if sovereign.IsNotFound(err) {
			return factory.NotFoundError("no bucket %q in this project", opts.Name)
		}
		if code, _ := sovereign.ErrorCode(err); code == sovereign.CodeFailedPrecondition && !opts.Force {
			return fmt.Errorf("%w\nDelete its objects first, or pass --force to delete them with it", err)
		}
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, map[string]any{"deleted_objects": n})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ deleted bucket %s and %d objects\n", opts.Name, n)
	default:
		_, err = fmt.Fprintf(opts.IO.Out, "%s\t%d\n", opts.Name, n)
	}
	return err
}
