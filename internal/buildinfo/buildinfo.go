// Package buildinfo reports the version a binary was built as.
package buildinfo

import "runtime/debug"

// version is set at link time: -ldflags "-X github.com/sovereign-backend/sovereign/internal/buildinfo.version=v1.2.3".
var version string

// Version is the link-time version, else the module version, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
