// Package parity holds the test that keeps mamori's enforcement points in
// agreement: one set of manifests judged by `mamori scan config`, by the
// `mamori webhook` command registered with a real API server, and by the
// exported ValidatingAdmissionPolicies applied to that API server.
package parity
