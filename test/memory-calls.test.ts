// Native memory stays flat over many generate() and forward() calls of the shipped model (a
// process-level RSS check: not run under qemu by scripts/arm64-check.sh, where it takes minutes
// and measures nothing that differs by architecture).
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import type { LlamaModel } from '../lib/models/llama.js';

// Native memory: the process's resident set less V8's heap, whose size is the collector's choice
// (it grows towards a steady state under the allocation rate of a model loop and would mask or
// fake a trend). The loops below never yield to the event loop, as a `for await` over generate()
// does not: memory released only by callbacks queued for a later turn of the loop counts as kept.
const nativeMiB = () => {
  const m = process.memoryUsage();
  return (m.rss - m.heapTotal) / 2 ** 20;
};
// The least of samples taken after n successive calls: a leak raises every sample, while the
// collector's passing buffers (worklists, a heap being resized) inflate only some.
async function settledNativeMiB(n: number, call: () => unknown): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < n; i++) {
    await call();
    least = Math.min(least, nativeMiB());
  }
  return least;
}

describe('native memory over many model calls', () => {
  let model: LlamaModel;
  let threads0 = 1;
  beforeAll(async () => {
    // one thread: the figures do not depend on it, and it keeps the loops quick on a busy machine
    threads0 = et.getThreads();
    et.setThreads(1);
    model = (await et.loadModel(resolve(new URL('..', import.meta.url).pathname, 'models/moby-4m.gguf'))).model;
  });
  afterAll(() => {
    model?.dispose();
    et.setThreads(threads0);
  });

  // Buffer handles freed by finalizers queued for the event loop leaked about 0.4 MiB per
  // 16-token generation here (50 MiB over these 120 calls); now the figure stays within 1-2 MiB.
  test('generate: native memory stays flat over 120 generations of 16 tokens', async () => {
    let tokens = 0;
    const once = async () => {
      for await (const _ of et.models.generate(model, [1, 2, 3, 4], { maxTokens: 16, temperature: 0, stopTokens: [], seed: 1 })) tokens++;
    };
    for (let i = 0; i < 20; i++) await once();
    const before = await settledNativeMiB(5, once);
    const live = et.memory().cpu!;
    tokens = 0;
    for (let i = 0; i < 120; i++) await once();
    const grown = (await settledNativeMiB(5, once)) - before;
    expect(tokens).toBe(125 * 16);
    expect(et.memory().cpu!.liveBytes).toBe(live.liveBytes);
    expect(grown).toBeLessThan(15);
  }, 120_000);

  // (about 0.03 MiB per call before: 40 MiB over these 1500)
  test('forward under tidy and noGrad: native memory stays flat over 1500 calls', async () => {
    const x = et.tensor(Int32Array.from([5, 6, 7, 8]), [1, 4]);
    const once = () => et.noGrad(() => et.tidy(() => model.forward(x).dataSync()[0]!));
    const first = once();
    for (let i = 0; i < 30; i++) once();
    const before = await settledNativeMiB(5, once);
    const live = et.memory().cpu!;
    let same = 0;
    for (let i = 0; i < 1500; i++) if (once() === first) same++;
    const grown = (await settledNativeMiB(5, once)) - before;
    x.dispose();
    expect(same).toBe(1500);
    expect(et.memory().cpu!.liveBytes).toBe(live.liveBytes - 16);
    expect(grown).toBeLessThan(15);
  }, 120_000);
});
