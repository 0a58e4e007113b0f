// Package advise turns what the runtime sensor observed into
// least-privilege artefacts: seccomp profiles allowing exactly the
// syscalls a container made (as an OCI/Docker profile, a Security Profiles
// Operator SeccompProfile, or the runtime-spec filter runc takes), and
// NetworkPolicies allowing exactly the connections a pod made and
// accepted.
package advise

//go:generate go run ./internal/gensyscalls
