#!/usr/bin/env bash
# Regenerates pkg/k8sschema/data from the Kubernetes release of
# hack/tools/kube:
#   definitions.json.gz  from k8s.io/kubernetes/pkg/generated/openapi
#                        (hack/tools/kube/genk8sschema)
#   discovery.json.gz    from the test control plane's kube-apiserver
#                        (pkg/k8sschema TestDiscoveryData -update), built or
#                        reused by hack/envtest.sh
# Run it after changing the Kubernetes version, then commit the data.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
go="${GO:-go}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# CGO_ENABLED=0 shares the build cache with hack/envtest.sh.
(cd "$root/hack/tools/kube" &&
	CGO_ENABLED=0 "$go" run ./genk8sschema -o "$root/pkg/k8sschema/data/definitions.json.gz")

KUBEBUILDER_ASSETS="$("$root/hack/envtest.sh")"
export KUBEBUILDER_ASSETS MAMORI_REQUIRE_ENVTEST=1
(cd "$root" && "$go" test -count=1 -run '^TestDiscoveryData$' ./pkg/k8sschema/ -args -update)
