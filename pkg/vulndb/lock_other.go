//go:build !unix

package vulndb

// lockFile does nothing where flock is missing: concurrent builds of one
// database there are the caller's to avoid.
func lockFile(string) (func(), error) { return func() {}, nil }
