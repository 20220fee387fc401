// The backend parity rows again with a phone's limits forced on the Vulkan device (1 MiB storage
// buffers, no float16 arithmetic, subgroup arithmetic or int8 dot products: EDGETRAIN_VULKAN_MAX_BUFFER
// / _NO_FP16 / _NO_SUBGROUP / _NO_INT8, csrc/vulkan/limits.h), as maxStorageBufferRange and the
// missing shaderFloat16 of many Adreno and Mali drivers would.
import { PHONE_LIMITS } from './helpers/phone-limits.js'; // first: before the addon opens the devices
import { expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { requireVulkan } from './helpers/devices.js';
import { ROWS_A } from './helpers/parity-rows-a.js';
import { ROWS_B } from './helpers/parity-rows-b.js';
import { parityTests } from './helpers/parity.js';

test('the limits are in force on every available Vulkan device', () => {
  const vk = et.devices().filter((d) => d.backend === 'vulkan' && d.available);
  if (requireVulkan) expect(vk.length, 'EDGETRAIN_REQUIRE_VULKAN=1 but no Vulkan device').toBeGreaterThan(0);
  for (const d of vk) {
    expect(d.features.maxBufferBytes, d.name).toBeLessThanOrEqual(Number(PHONE_LIMITS.EDGETRAIN_VULKAN_MAX_BUFFER));
    expect(d.features.fp16, d.name).toBe(false);
    expect(d.features.int8Dot, d.name).toBe(false);
    expect(d.features.forcedLimits, d.name).toContain('EDGETRAIN_VULKAN_MAX_BUFFER=1048576');
  }
});

parityTests(ROWS_A);
parityTests(ROWS_B);
