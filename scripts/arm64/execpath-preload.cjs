// Preloaded (`node -r`) into the arm64 node under qemu: child processes started with
// process.execPath (child_process.fork, vitest's forks pool) must go through qemu too, since the
// host kernel cannot exec an arm64 binary without binfmt_misc. See scripts/arm64/node-qemu.sh.
if (process.env.ET_ARM64_NODE_WRAPPER) process.execPath = process.env.ET_ARM64_NODE_WRAPPER;
