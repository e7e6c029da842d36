// Package flagenv fills command-line flags from SOVEREIGN_* environment
// variables, so every server setting can come from either place. A flag given
// on the command line wins over the environment.
package flagenv

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Prefix starts the name of every environment variable the servers read.
const Prefix = "SOVEREIGN_"

// EnvName is the environment variable for a flag: "database-url" becomes
// "SOVEREIGN_DATABASE_URL".
func EnvName(flag string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag in fs that was not given on the command line from its
// environment variable, when that is set. The error names the variable and
// what is wrong with its value.
func Apply(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := EnvName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("environment variable %s: %w", name, serr)
		}
	})
	return err
}
