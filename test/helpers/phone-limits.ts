// Imported first by test/parity-phone.test.ts: forces a phone's limits on every Vulkan device of
// this test process (a fresh one per file: vitest's forks pool) before the addon opens them.
// No subgroup arithmetic or int8 dot products either, so the plain shaders that devices without
// them run are checked too (the other parity files take the variants where lavapipe has them).
export const PHONE_LIMITS = {
  EDGETRAIN_VULKAN_MAX_BUFFER: '1048576',
  EDGETRAIN_VULKAN_NO_FP16: '1',
  EDGETRAIN_VULKAN_NO_SUBGROUP: '1',
  EDGETRAIN_VULKAN_NO_INT8: '1',
} as const;
Object.assign(process.env, PHONE_LIMITS);
