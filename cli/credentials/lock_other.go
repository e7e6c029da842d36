//go:build !unix

package credentials

// lock does nothing where flock is missing: concurrent `sov` processes may
// then both refresh one session, and the platform ends that login.
func lock(string) (unlock func(), err error) { return func() {}, nil }
