#!/bin/sh
# Regenerates hello-auditable: a tiny static ELF (no libc) with a
# cargo-auditable .dep-v0 section (the zlib-compressed dep-v0.json), the
# way cargo-auditable's linker arguments add it. Needs cc, objcopy, python3.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'void _start(void) { for (;;) __asm__ volatile("mov $60, %%eax; xor %%edi, %%edi; syscall"); }\n' >"$tmp/hello.c"
cc -Os -s -static -nostdlib -fno-asynchronous-unwind-tables -o "$tmp/hello" "$tmp/hello.c"
python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(open("dep-v0.json", "rb").read().strip(), 9))' >"$tmp/dep-v0.z"
objcopy --add-section .dep-v0="$tmp/dep-v0.z" --set-section-flags .dep-v0=noload,readonly "$tmp/hello" hello-auditable
chmod 755 hello-auditable
