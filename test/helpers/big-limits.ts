// Imported first by test/vulkan-big.test.ts: a phone's 1 MiB storage-binding limit on every
// Vulkan device of this test process (a fresh one per file: vitest's forks pool), set before the
// addon opens the devices, so tensors of a few MiB span several windows (csrc/vulkan/window.h).
export const BIG_LIMITS = { EDGETRAIN_VULKAN_MAX_BUFFER: '1048576' } as const;
Object.assign(process.env, BIG_LIMITS);
