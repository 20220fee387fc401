// Asynchronous execution: ops are queued on the device's stream and return at once; reads wait
// for the work they depend on; kernel errors surface at the next sync; the event loop stays free
// while a training step runs; worker_threads compute at once, each with its own state.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { makeTinyModel } from '../lib/models/index.js';
import { native } from '../lib/native/addon.js';
import type { FinetuneEvent } from '../lib/train/finetune.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.EDGETRAIN_SHARED ?? join(ROOT, '..', 'shared');
const DIST = join(ROOT, 'dist', 'index.cjs');

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-async-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('queued execution', () => {
  test('ops return before their kernels have run; reads wait for them', async () => {
    if (native.syncMode) return; // EDGETRAIN_SYNC=1 runs every kernel at its call
    const a = et.randn([384, 384], { seed: 1 });
    let y = a;
    for (let i = 0; i < 12; i++) y = et.matmul(y, a).mul(1 / 384);
    expect(native.pending('cpu'), 'items still queued right after the calls').toBeGreaterThan(0);
    const want = y.dataSync();
    expect(native.pending('cpu')).toBe(0);
    expect(Array.from(await y.data())).toEqual(Array.from(want));
  });

  test('a tensor disposed while queued work still reads it is freed after that work', () => {
    const a = et.randn([256, 256], { seed: 2 });
    const b = et.randn([256, 256], { seed: 3 });
    const want = et.matmul(a, b).dataSync();
    const y = et.matmul(a, b);
    a.dispose();
    b.dispose();
    // a new allocation of the same size must not get the buffers the queued matmul reads
    const c = et.zeros([256, 256]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(want));
    expect(c.sum().item()).toBe(0);
  });

  test('an out-of-range embedding index inside a queued step surfaces at the next sync, naming embedding; later ops work', async () => {
    const w = et.randn([10, 4], { seed: 4, requiresGrad: true });
    const ids = et.tensor([[1, 2], [11, 3]], { dtype: 'int32' });
    // the whole step is queued without an error
    const loss = et.embedding(w, ids).mul(2).sum();
    loss.backward();
    const err = await loss.data().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(et.EdgeTrainError);
    expect(err).toBeInstanceOf(et.IndexError);
    expect(String(err)).toMatch(/embedding: index 11 at position 2 is outside \[0, 10\)/);
    // the error was reported once; the device and the other tensors stay usable
    await et.synchronize('cpu');
    expect(et.embedding(w, et.tensor([9], { dtype: 'int32' })).sum().item()).toBeCloseTo(Array.from(w.dataSync().slice(36, 40)).reduce((s, v) => s + v, 0), 5);
    expect(et.ones([3]).sum().item()).toBe(3);
  });

  test('the sync reads see a queued kernel error too', () => {
    const w = et.ones([3, 2]);
    const y = et.embedding(w, et.tensor([7], { dtype: 'int32' }));
    expect(() => y.dataSync()).toThrow(/embedding: index 7/);
    expect(et.embedding(w, et.tensor([2], { dtype: 'int32' })).sum().item()).toBe(2);
  });

  test('copies across devices are queued on both streams, after the work that writes the source', () => {
    const vk = et.devices().find((d) => d.name === 'vulkan');
    if (!vk?.available) return;
    const a = et.randn([96, 96], { seed: 5 });
    const want = et.matmul(a, a).dataSync();
    // the matmul is still queued on cpu when the copy to vulkan is queued; back to cpu the same way
    const round = et.matmul(a, a).to('vulkan').mul(2).to('cpu');
    const got = round.dataSync();
    for (let i = 0; i < want.length; i++) expect(got[i]).toBe(want[i]! * 2);
    // the source can be disposed at once: its memory waits for the copy
    const b = et.matmul(a, a);
    const onVk = b.to('vulkan');
    b.dispose();
    expect(Array.from(onVk.to('cpu').dataSync())).toEqual(Array.from(want));
  });

  test('EDGETRAIN_SYNC=1 runs each kernel at its call, so its error throws there', () => {
    if (!existsSync(DIST)) throw new Error('dist/index.cjs is missing: run npx tsup');
    const code = `
      const et = require(${JSON.stringify(DIST)});
      const w = et.ones([3, 2]);
      try { et.embedding(w, et.tensor([7], { dtype: 'int32' })); console.log('no error at the call'); }
      catch (e) { console.log(e.constructor.name + ' ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, EDGETRAIN_SYNC: '1' } });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^IndexError embedding: index 7/);
  });
});

describe('the event loop while training', () => {
  test('stays free while each step (> 200 ms) is awaited: the largest delay is under 50 ms', { timeout: 180_000 }, async () => {
    const model = makeTinyModel(join(dir, 'm'), {
      vocabFile: join(SHARED, 'vocab', 'ggml-vocab-llama-spm.gguf'),
      // one layer under a 32000-token head: few ops (milliseconds of JS to queue), much compute
      hiddenSize: 256,
      intermediateSize: 512,
      numLayers: 1,
      numHeads: 4,
      seed: 1,
      formats: ['gguf-f32'],
    }).ggufF32!;
    const data = join(dir, 'text.txt');
    writeFileSync(data, 'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money. '.repeat(800));
    const run = et.finetune({ model, data, out: join(dir, 'run'), seqLen: 256, batchSize: 12, maxSteps: 5, lr: 1e-3, checkpointEvery: 0, evalEvery: 0 });
    const h = monitorEventLoopDelay({ resolution: 5 });
    const stepMs: number[] = [];
    let last = 0;
    for await (const e of run as AsyncIterable<FinetuneEvent>) {
      if (e.type !== 'step') continue;
      const now = performance.now();
      // measure from the end of step 1 to the end of the last step: only the loop runs there
      if (e.step === 1) h.enable();
      else stepMs.push(now - last);
      if (e.step === 5) h.disable();
      last = now;
    }
    await run.result;
    stepMs.sort((a, b) => a - b);
    const median = stepMs[stepMs.length >> 1]!;
    expect(median, 'a training step must take > 200 ms for this check to mean anything').toBeGreaterThan(200);
    const maxDelayMs = h.max / 1e6;
    console.info(`event loop: steps ${stepMs.map((s) => s.toFixed(0)).join(', ')} ms, largest delay ${maxDelayMs.toFixed(1)} ms, mean ${(h.mean / 1e6).toFixed(1)} ms`);
    expect(maxDelayMs, `largest event-loop delay over steps of ${stepMs.map((s) => s.toFixed(0)).join(', ')} ms`).toBeLessThan(50);
  });
});

describe('worker_threads', () => {
  // a small MLP trained a few AdamW steps from a seed; returns the losses
  const TRAIN = `
    function train(et, seed) {
      const g = { seed };
      const x = et.randn([64, 32], { seed: seed + 1 });
      const t = et.randn([64, 8], { seed: seed + 2 });
      const w1 = et.randn([32, 64], { seed: seed + 3, std: 0.2, requiresGrad: true });
      const w2 = et.randn([64, 8], { seed: seed + 4, std: 0.2, requiresGrad: true });
      const opt = new et.optim.AdamW([w1, w2], { lr: 1e-2 });
      const losses = [];
      for (let i = 0; i < 20; i++) {
        opt.zeroGrad();
        const loss = et.tidy(() => {
          const d = x.matmul(w1).relu().matmul(w2).sub(t);
          return d.mul(d).mean();
        });
        loss.backward();
        opt.step();
        losses.push(loss.item());
        loss.dispose();
      }
      return losses;
    }`;

  test('two workers train at once and get the losses the main thread gets', { timeout: 60_000 }, async () => {
    if (!existsSync(DIST)) throw new Error('dist/index.cjs is missing: run npx tsup');
    const worker = (seed: number) =>
      new Promise<number[]>((res, rej) => {
        const w = new Worker(
          `${TRAIN}
          const { parentPort, workerData } = require('node:worker_threads');
          const et = require(workerData.dist);
          parentPort.postMessage(train(et, workerData.seed));`,
          { eval: true, workerData: { dist: DIST, seed } },
        );
        w.once('message', res);
        w.once('error', rej);
        w.once('exit', (code) => code !== 0 && rej(new Error(`worker exited with ${code}`)));
      });
    const [a, b] = await Promise.all([worker(10), worker(20)]);
    const train = new Function('et', 'seed', `${TRAIN}; return train(et, seed);`) as (e: typeof et, s: number) => number[];
    const mainA = train(et, 10);
    const mainB = train(et, 20);
    expect(a.length).toBe(20);
    // the same kernels; summation order can differ with the threads a kernel got, so 1e-5
    for (const [got, want] of [
      [a, mainA],
      [b, mainB],
    ] as const)
      got.forEach((v, i) => expect(Math.abs(v - want[i]!), `step ${i}: ${v} vs ${want[i]}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]!))));
    expect(a[19]!).toBeLessThan(a[0]!);
    expect(a).not.toEqual(b);
  });
});
