// Package orgarg resolves the --org flag of the commands that act in an
// organization. The flag takes an organization's id or name; when it is
// empty, the caller's only organization is taken.
package orgarg

import (
	"context"
	"strings"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Resolve finds the caller's organization whose id or name is value.
func Resolve(ctx context.Context, mc *sovereign.ManagementClient, value string) (*sovereign.Organization, error) {
	orgs, err := sovereign.Collect(mc.Organizations(ctx))
	if err != nil {
		return nil, err
	}
	if value == "" {
		switch len(orgs) {
		case 0:
			return nil, factory.NotFoundError("you have no organization yet: create one with `sov orgs create NAME`")
		case 1:
			return orgs[0], nil
		default:
			names := make([]string, len(orgs))
			for i, o := range orgs {
				names[i] = o.Name
			}
			return nil, factory.UsageError("you belong to %d organizations: choose one with --org (%s)", len(orgs), strings.Join(names, ", "))
		}
	}
	for _, o := range orgs {
		if o.ID == value {
			return o, nil
		}
	}
	var match []*sovereign.Organization
	for _, o := range orgs {
		if o.Name == value {
			match = append(match, o)
		}
	}
	if len(match) == 0 {
		for _, o := range orgs {
			if strings.EqualFold(o.Name, value) {
				match = append(match, o)
			}
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, factory.NotFoundError("no organization of yours has the id or name %q: `sov orgs list` shows them", value)
	default:
		return nil, factory.UsageError("%d of your organizations are named %q: pass its id to --org", len(match), value)
	}
}

// Usage is the help text of the --org flag.
const Usage = "organization id or name (default: your only organization)"
