// Process memory and exit on vulkan, in child processes on the built package (dist/):
// - allocating dispatches (a fresh output buffer each, in tidy) keep the process's RSS flat: on
//   lavapipe a meta block bound as a uniform buffer made the driver compile (and keep) a copy of
//   the shader at every dispatch, ~0.5 MB each;
// - a process whose device was lost mid-training exits at once with code 0, also with the meta
//   block as a uniform buffer (EDGETRAIN_VULKAN_META=uniform), where lavapipe's queue thread was
//   still compiling when the static destructors ran and hung in LLVM.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { requireVulkan } from './helpers/devices.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist', 'index.cjs');
const MODEL = join(ROOT, 'models', 'moby-4m.gguf');
const TASK = join(ROOT, 'data', 'reverse-words', 'train.jsonl');
const hasVulkan = et.devices().some((d) => d.name === 'vulkan' && d.available);
const describeVk = hasVulkan || requireVulkan ? describe : describe.skip;

const dir = mkdtempSync(join(tmpdir(), 'et-vk-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function node(code: string, env: Record<string, string> = {}, timeout = 120_000) {
  if (!existsSync(DIST)) throw new Error('dist/index.cjs is missing: run npx tsup');
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, ...env }, timeout });
}

describeVk('vulkan process memory and exit', () => {
  test('400 dispatches into freshly allocated outputs grow the RSS by less than 60 MB', () => {
    const code = `
      const et = require(${JSON.stringify(DIST)});
      const x = et.randn([64, 256], { device: 'vulkan' });
      const step = (i) => et.tidy(() => { const y = x.add(x).mul(x); if (i % 50 === 49) y.dataSync(); });
      for (let i = 0; i < 50; i++) step(i);
      et.synchronize('vulkan');
      const r0 = process.memoryUsage().rss;
      for (let i = 0; i < 400; i++) step(i);
      et.synchronize('vulkan');
      console.log(JSON.stringify({ grew: process.memoryUsage().rss - r0 }));`;
    const r = node(code);
    expect(r.status, r.stderr).toBe(0);
    const { grew } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { grew: number };
    // 800 dispatches: ~400 MB before the fix, a few MB after
    expect(grew / 1e6, 'MB of RSS growth').toBeLessThan(60);
  });

  for (const meta of ['storage', 'uniform']) {
    test(`a process whose device is lost mid-training exits at once with code 0 (meta block: ${meta})`, { timeout: 300_000 }, () => {
      const opts = { model: MODEL, device: 'vulkan', data: TASK, out: join(dir, meta), seqLen: 64, batchSize: 1, maxSteps: 6, lr: 3e-3, lora: { rank: 16, alpha: 32 }, evalEvery: 0, checkpointEvery: 0, seed: 3 };
      const code = `
        const et = require(${JSON.stringify(DIST)});
        (async () => {
          const run = et.finetune(${JSON.stringify(opts)});
          try {
            for await (const e of run) if (e.type === 'step') console.log('step ' + e.step);
            await run.result;
            console.log('finished');
          } catch (e) { console.log('error ' + e.constructor.name); }
          console.log('end ' + Date.now());
        })();`;
      // ~1200 dispatches a step: lost during step 3, with frames still queued on the device
      const r = node(code, { EDGETRAIN_VULKAN_FAIL_AFTER: '3000', EDGETRAIN_VULKAN_META: meta }, 200_000);
      const exited = Date.now();
      expect(r.signal, `killed (hung at exit?): ${r.stderr}`).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines.some((l) => l.startsWith('error ')), r.stdout).toBe(true);
      const end = +lines.find((l) => l.startsWith('end '))!.slice(4);
      expect(exited - end, 'ms from the script end to the process exit').toBeLessThan(10_000);
    });
  }
});
