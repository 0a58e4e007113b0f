#!/usr/bin/env bash
# Builds a real Debian root filesystem with debootstrap, once per suite and
# variant, and prints its directory. Tests and benchmarks of the dpkg and
# os-release analyzers read it (they skip when it is absent):
#
#   hack/debian-rootfs.sh                      # bookworm minbase
#   hack/debian-rootfs.sh bookworm minbase
#   MAMORI_DEBIAN_ROOTFS="$(hack/debian-rootfs.sh)" go test ./pkg/inventory/dpkg/
#
# The cache directory is
#   ${MAMORI_ROOTFS_CACHE:-/var/cache/mamori-test}/debian<N>-<variant>/   (debian12-minbase)
# and a cached tree is reused as is. A build goes to a temporary directory
# beside it and is renamed into place only when debootstrap succeeded, so an
# interrupted build leaves no half tree. A cold minbase build takes about
# 1.5 minutes here (debootstrap downloads about 40 MB of packages).
#
# Needs root (debootstrap chroots) and debootstrap (apt-get install debootstrap).
# Only the directory goes to stdout; progress goes to stderr.
# Environment: MAMORI_ROOTFS_CACHE (cache root), DEBIAN_MIRROR (default
# http://deb.debian.org/debian).
set -euo pipefail

main() {
	suite="${1:-bookworm}"
	variant="${2:-minbase}"
	mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
	cache="${MAMORI_ROOTFS_CACHE:-/var/cache/mamori-test}"

	log() { printf 'debian-rootfs: %s\n' "$*" >&2; }

	case "$suite" in
	buster) n=10 ;;
	bullseye) n=11 ;;
	bookworm) n=12 ;;
	trixie) n=13 ;;
	*) log "unknown suite $suite (buster, bullseye, bookworm, trixie)"; exit 2 ;;
	esac
	case "$variant" in
	minbase | buildd | fakechroot) ;;
	*) log "unknown variant $variant (minbase, buildd, fakechroot)"; exit 2 ;;
	esac

	dest="$cache/debian$n-$variant"
	if [ -f "$dest/var/lib/dpkg/status" ] && [ -f "$dest/etc/os-release" ]; then
		echo "$dest"
		return
	fi
	if ! command -v debootstrap >/dev/null; then
		log "debootstrap not found (apt-get install debootstrap)"
		exit 1
	fi
	if [ "$(id -u)" != 0 ]; then
		log "debootstrap needs root"
		exit 1
	fi

	mkdir -p "$cache"
	tmp="$(mktemp -d "$cache/.debian$n-$variant.XXXXXX")"
	trap 'rm -rf -- "$tmp"' EXIT
	log "building $suite ($variant) in $tmp"
	start=$SECONDS
	debootstrap --variant="$variant" "$suite" "$tmp" "$mirror" >&2
	# Security updates, as a real system has them: the minbase set then
	# matches what apt resolves for bookworm, bookworm-updates and
	# bookworm-security.
	if [ "$n" -ge 11 ]; then
		cat >"$tmp/etc/apt/sources.list" <<-EOF
			deb $mirror $suite main
			deb $mirror $suite-updates main
			deb http://deb.debian.org/debian-security $suite-security main
		EOF
		chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
			sh -c 'apt-get -q update && apt-get -qy upgrade && apt-get clean' >&2
	fi
	mv -T "$tmp" "$dest"
	trap - EXIT
	log "built $dest in $((SECONDS - start)) s"
	echo "$dest"
}

main "$@"
