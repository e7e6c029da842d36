// Package projects is `sov projects`: projects (tenants) and their life
// cycle.
package projects

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/projects/create"
	deletecmd "github.com/sovereign-backend/sovereign/cli/projects/delete"
	"github.com/sovereign-backend/sovereign/cli/projects/get"
	"github.com/sovereign-backend/sovereign/cli/projects/list"
	"github.com/sovereign-backend/sovereign/cli/projects/pause"
	"github.com/sovereign-backend/sovereign/cli/projects/resume"
)

// NewCmdProjects builds `sov projects` and its subcommands.
func NewCmdProjects(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "projects",
		Aliases: []string{"project"},
		Short:   "Create, list, pause, resume and delete projects",
	}
	cmd.AddCommand(
		create.NewCmdCreate(f, nil), list.NewCmdList(f, nil), get.NewCmdGet(f, nil),
		pause.NewCmdPause(f, nil), resume.NewCmdResume(f, nil), deletecmd.NewCmdDelete(f, nil),
	)
	return cmd
}
