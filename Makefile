# Developer entry points. `make test` is what CI runs (see .ci/run).
GO ?= go

.PHONY: test demo bench fuzz docs

# The whole test suite: formatting, vet, tests with the race detector.
# Tests that need a Kubernetes control plane get it from hack/envtest.sh,
# which builds kube-apiserver and etcd once per version (about 8 minutes on
# 2 cores) and reuses them after; MAMORI_REQUIRE_ENVTEST=1 makes those tests
# fail rather than skip when it is missing. As root (CI), the eBPF sensor
# and runc container tests must run: MAMORI_REQUIRE_RUNTIME=1.
test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	KUBEBUILDER_ASSETS="$$(GO=$(GO) hack/envtest.sh)" && export KUBEBUILDER_ASSETS MAMORI_REQUIRE_ENVTEST=1 MAMORI_REQUIRE_DATA=1 && \
	MAMORI_DEBIAN_ROOTFS="$$(hack/debian-rootfs.sh 2>/dev/null || true)" && export MAMORI_DEBIAN_ROOTFS && \
	MAMORI_REQUIRE_RUNTIME="$$([ "$$(id -u)" = 0 ] && echo 1 || echo 0)" && export MAMORI_REQUIRE_RUNTIME && \
	$(GO) test -race -count=1 ./...

# Scan the bundled examples (no network, no cluster).
demo:
	$(GO) run ./cmd/mamori scan config --exit-code 0 examples/

# The scan benchmarks: 10,000 workloads in 1,000 files, and the writers.
# GOGC and GOMEMLIMIT are what the mamori command sets for itself
# (internal/cli tuneGC), so the figures are what users get.
bench:
	GOGC=400 GOMEMLIMIT=210MiB $(GO) test -run '^$$' -bench . -benchmem -count 6 ./pkg/misconfig/ ./pkg/report/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./pkg/source/manifest/

# Regenerate docs/checks.md from the catalogue.
docs:
	$(GO) run ./cmd/mamori checks list --format markdown > docs/checks.md
