// Command sovereign runs Sovereign's servers: the control plane, a data plane
// node, or both together as a local platform (`sovereign dev`).
package main

import (
	"os"

	"github.com/sovereign-backend/sovereign/internal/servercmd"
)

func main() { os.Exit(servercmd.Main()) }
