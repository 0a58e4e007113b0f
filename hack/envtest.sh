#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver and etcd) from the Go module
# proxy, once per version, and prints the directory that holds the binaries:
#
#   export KUBEBUILDER_ASSETS="$(hack/envtest.sh)"
#
# Versions come from the tool modules: k8s.io/kubernetes in hack/tools/kube,
# go.etcd.io/etcd/server/v3 in hack/tools/etcd. The cache directory is
#   ${MAMORI_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mamori/envtest}/k8s-<ver>-etcd-<ver>/
# and a build that finds both binaries there does nothing. A build goes to a
# temporary directory beside it and is renamed into place only when complete,
# so an interrupted build leaves no half cache. A cold build takes about
# 8 minutes on 2 cores.
#
# Only the directory goes to stdout; progress goes to stderr.
# Environment: GO (go command, default go), MAMORI_ENVTEST_CACHE (cache root),
# MAMORI_ENVTEST_BUILD_P (go build -p, default 2).
set -euo pipefail

# The whole script is one function, read in full before it runs, so that
# editing this file during a build does not break the build.
main() {
	root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
	go="${GO:-go}"
	export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
	export GOFLAGS="${GOFLAGS:--buildvcs=false}"
	# Static binaries, as Kubernetes and etcd release them; no C compiler needed.
	export CGO_ENABLED=0

	log() { printf 'envtest: %s\n' "$*" >&2; }

	modversion() { # dir module
		(cd "$root/$1" && "$go" list -m -f '{{.Version}}' "$2")
	}

	kube_version="$(modversion hack/tools/kube k8s.io/kubernetes)"
	etcd_version="$(modversion hack/tools/etcd go.etcd.io/etcd/server/v3)"
	# Kubernetes builds against the etcd release it is tested with.
	kube_etcd="$(modversion hack/tools/kube go.etcd.io/etcd/server/v3)"
	if [ "$kube_etcd" != "$etcd_version" ]; then
		log "warning: hack/tools/etcd builds etcd $etcd_version but Kubernetes $kube_version uses $kube_etcd"
	fi
	cache_root="${MAMORI_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mamori/envtest}"
	dir="$cache_root/k8s-${kube_version#v}-etcd-${etcd_version#v}"

	if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ]; then
		log "using $dir"
		printf '%s\n' "$dir"
		exit 0
	fi

	mkdir -p "$cache_root"
	tmp="$(mktemp -d "$cache_root/.build-XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT

	p="${MAMORI_ENVTEST_BUILD_P:-2}"
	minor="${kube_version#v1.}"
	minor="${minor%%.*}"
	# The version stamps the Kubernetes release build sets (hack/lib/version.sh),
	# so /version and the binary's --version report the real release.
	kube_ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done

	start=$SECONDS
	log "building kube-apiserver $kube_version and etcd $etcd_version into $dir (-p $p; a cold build takes ~8 min on 2 cores)"
	(cd "$root/hack/tools/etcd" &&
		"$go" build -p "$p" -trimpath -ldflags="-s -w" -o "$tmp/etcd" .)
	log "etcd built after $((SECONDS - start))s"
	(cd "$root/hack/tools/kube" &&
		"$go" build -p "$p" -trimpath -ldflags="$kube_ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
	log "kube-apiserver built after $((SECONDS - start))s"

	"$tmp/etcd" --version >&2
	"$tmp/kube-apiserver" --version >&2

	chmod 0755 "$tmp"
	if ! mv -T "$tmp" "$dir" 2>/dev/null; then
		# Another build finished first; use its result.
		[ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ] || { log "cannot move the build into $dir"; exit 1; }
	fi
	log "ready in $dir"
	printf '%s\n' "$dir"
}

main "$@"
