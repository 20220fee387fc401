#!/bin/sh
# Runs the arm64 node under user-mode qemu: `scripts/arm64/node-qemu.sh args...` behaves like
# `node args...` on an arm64 machine. ET_ARM64_NODE (the arm64 node binary) and ET_ARM64_SYSROOT
# (default /usr/aarch64-linux-gnu) are set by scripts/arm64-check.sh.
# Child processes: without binfmt_misc the host kernel cannot exec an arm64 binary, so
# scripts/arm64/execpath-preload.cjs points process.execPath at this wrapper, and forks (vitest's
# forks pool, child_process.fork) go through qemu as well.
: "${ET_ARM64_NODE:?set ET_ARM64_NODE to the arm64 node binary}"
exec "${ET_QEMU:-qemu-aarch64-static}" -L "${ET_ARM64_SYSROOT:-/usr/aarch64-linux-gnu}" "$ET_ARM64_NODE" "$@"
