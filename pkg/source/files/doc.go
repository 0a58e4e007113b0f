// Package files decides which files of a directory tree a secret scan
// reads: it walks the tree in a stable order, honours git's ignore rules
// exactly (gitignore(5)), skips what only gives noise (lock files, vendored
// dependencies, version-control metadata, binary formats) and files over a
// size limit, and reports what it cannot read instead of skipping it
// silently.
//
// The gitignore matcher (ParseGitignore, Matcher) is usable on its own.
package files
