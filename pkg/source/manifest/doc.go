// Package manifest reads Kubernetes manifests (YAML or JSON, multi-document,
// kind: List) into unstructured objects that remember where every field came
// from, so that a finding can point at the exact line of the offending field.
//
// Plain YAML scalars are resolved the way kubectl resolves them (YAML 1.1, as
// sigs.k8s.io/yaml does): `privileged: yes` is the boolean true the cluster
// will see, not the string "yes".
package manifest
