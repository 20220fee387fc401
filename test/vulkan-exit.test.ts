// Process memory and exit on vulkan, in child processes on the built package (dist/):
// - allocating dispatches (a fresh output buffer each, in tidy) keep the process's RSS flat: on
//   lavapipe a meta block bound as a uniform buffer made the driver compile (and keep) a copy of
//   the shader at every dispatch, ~0.5 MB each;
// - a process whose device was lost mid-training exits at once with code 0, also with the meta
//   block as a uniform buffer (EDGETRAIN_VULKAN_META=uniform), where lavapipe's queue thread was
//   still compiling when the static destructors ran and hung in LLVM.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { requireVulkan } from './helpers/devices.js';
import { finetuneOnDist, lastJson, MODEL, runOnDist, TASK } from './helpers/dist-child.js';

const hasVulkan = et.devices().some((d) => d.name === 'vulkan' && d.available);
const describeVk = hasVulkan || requireVulkan ? describe : describe.skip;

const dir = mkdtempSync(join(tmpdir(), 'et-vk-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeVk('vulkan process memory and exit', () => {
  test('400 dispatches into freshly allocated outputs grow the RSS by less than 60 MB', () => {
    const code = `
      const x = et.randn([64, 256], { device: 'vulkan' });
      const step = (i) => et.tidy(() => { const y = x.add(x).mul(x); if (i % 50 === 49) y.dataSync(); });
      for (let i = 0; i < 50; i++) step(i);
      et.synchronize('vulkan');
      const r0 = process.memoryUsage().rss;
      for (let i = 0; i < 400; i++) step(i);
      et.synchronize('vulkan');
      console.log(JSON.stringify({ grew: process.memoryUsage().rss - r0 }));`;
    const r = runOnDist(code);
    expect(r.status, r.stderr).toBe(0);
    const { grew } = lastJson<{ grew: number }>(r.stdout);
    // 800 dispatches: ~400 MB before the fix, a few MB after
    expect(grew / 1e6, 'MB of RSS growth').toBeLessThan(60);
  });

  for (const meta of ['storage', 'uniform']) {
    test(`a process whose device is lost mid-training exits at once with code 0 (meta block: ${meta})`, { timeout: 300_000 }, () => {
      const opts = { model: MODEL, device: 'vulkan', data: TASK, out: join(dir, meta), seqLen: 64, batchSize: 1, maxSteps: 6, lr: 3e-3, lora: { rank: 16, alpha: 32 }, evalEvery: 0, checkpointEvery: 0, seed: 3 };
      // ~1200 dispatches a step: lost during step 3, with frames still queued on the device
      const { r, outcome, endMs, exitedMs } = finetuneOnDist(opts, { EDGETRAIN_VULKAN_FAIL_AFTER: '3000', EDGETRAIN_VULKAN_META: meta }, 200_000);
      expect(r.signal, `killed (hung at exit?): ${r.stderr}`).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      expect(outcome, r.stdout).toMatch(/^error /);
      expect(exitedMs - endMs, 'ms from the script end to the process exit').toBeLessThan(10_000);
    });
  }
});
