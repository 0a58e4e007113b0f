#!/usr/bin/env bash
# Image verification benchmarks, all against an in-process registry on
# loopback with real ECDSA signatures: sigstore-go verification of one
# fetched image (pkg/imagesig), the policy engine cached and uncached
# (pkg/imagepolicy), and a whole `mamori verify image --key` in process,
# by tag (resolve + fetch + verify + print) and by digest (internal/cli).
set -euo pipefail
cd "$(dirname "$0")/../.."
time="${BENCHTIME:-2s}"
count="${COUNT:-3}"
go test -run '^$' -bench 'BenchmarkFetchVerifyKey' -benchtime "$time" -count "$count" ./pkg/imagesig/
go test -run '^$' -bench 'BenchmarkCheckCached|BenchmarkCheckUncachedKey' -benchtime "$time" -count "$count" -benchmem ./pkg/imagepolicy/
go test -run '^$' -bench 'BenchmarkVerifyImageKey' -benchtime "$time" -count "$count" -benchmem ./internal/cli/
