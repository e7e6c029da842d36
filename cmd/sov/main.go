// Command sov is Sovereign's customer command line.
package main

import (
	"os"

	"github.com/sovereign-backend/sovereign/cli/root"
)

func main() { os.Exit(root.Main()) }
