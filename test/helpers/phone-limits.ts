// Imported first by test/parity-phone.test.ts: forces a phone's limits on every Vulkan device of
// this test process (a fresh one per file: vitest's forks pool) before the addon opens them.
export const PHONE_LIMITS = { EDGETRAIN_VULKAN_MAX_BUFFER: '1048576', EDGETRAIN_VULKAN_NO_FP16: '1' } as const;
Object.assign(process.env, PHONE_LIMITS);
