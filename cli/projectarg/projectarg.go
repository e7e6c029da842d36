// Package projectarg resolves the --project flag of the commands that act
// on one project. The flag takes a project's ref, its id, or its name; a
// name is looked up among the live projects of every organization of the
// caller, and must name exactly one.
package projectarg

import (
	"context"
	"slices"
	"strings"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Usage is the help text of the --project flag.
const Usage = "project ref, id or name (required)"

// Resolve finds the caller's project whose ref, id or name is value. A ref
// or id is asked for directly; only when the platform knows no such project
// (or value is not shaped like one) are the names searched.
func Resolve(ctx context.Context, mc *sovereign.ManagementClient, value string) (*sovereign.Project, error) {
	p, err := mc.GetProject(ctx, value)
	if err == nil {
		return p, nil
	}
	if c, ok := sovereign.ErrorCode(err); !ok || (c != sovereign.CodeNotFound && c != sovereign.CodeInvalidArgument) {
		return nil, err
	}
	match, err := byName(ctx, mc, value)
	if err != nil {
		return nil, err
	}
	switch len(match) {
	case 1:
		return match[0].project, nil
	case 0:
		return nil, factory.NotFoundError("no project of yours has the ref, id or name %q: `sov projects list` shows them", value)
	default:
		where := make([]string, len(match))
		for i, m := range match {
			where[i] = m.project.Ref + " in " + m.org
		}
		return nil, factory.UsageError("%d of your projects are named %q (%s): pass its ref to --project", len(match), value, strings.Join(where, ", "))
	}
}

type named struct {
	project *sovereign.Project
	org     string
}

// byName lists the live projects named name, exactly, else ignoring case.
func byName(ctx context.Context, mc *sovereign.ManagementClient, name string) ([]named, error) {
	orgs, err := sovereign.Collect(mc.Organizations(ctx))
	if err != nil {
		return nil, err
	}
	var all []named
	for _, o := range orgs {
		for p, err := range mc.Projects(ctx, sovereign.ListProjectsParams{OrganizationID: o.ID}) {
			if err != nil {
				return nil, err
			}
			all = append(all, named{p, o.Name})
		}
	}
	exact := slices.DeleteFunc(slices.Clone(all), func(n named) bool { return n.project.Name != name })
	if len(exact) > 0 {
		return exact, nil
	}
	return slices.DeleteFunc(all, func(n named) bool { return !strings.EqualFold(n.project.Name, name) }), nil
}
