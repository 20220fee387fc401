import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { native } from '../lib/native/addon.js';
import { Storage } from '../lib/tensor.js';

const live = () => et.memory().cpu!;

describe('memory', () => {
  test('tidy disposes everything it made except what it returns', () => {
    const before = live();
    const kept = et.tidy(() => {
      const a = et.randn([100, 100], { seed: 1 });
      const b = et.matmul(a, a).relu();
      et.sum(b);
      return et.mul(b, 2);
    });
    const after = live();
    expect(after.liveTensors).toBe(before.liveTensors + 1);
    expect(after.liveBytes).toBe(before.liveBytes + 100 * 100 * 4);
    kept.dispose();
    expect(live().liveTensors).toBe(before.liveTensors);
    expect(live().liveBytes).toBe(before.liveBytes);
  });

  test('nested tidy returns move to the outer scope; keep() escapes all scopes', () => {
    const before = live().liveTensors;
    let escaped: et.Tensor | undefined;
    et.tidy(() => {
      const inner = et.tidy(() => et.ones([4]));
      escaped = et.keep(et.add(inner, 1));
      et.zeros([3]);
    });
    expect(live().liveTensors).toBe(before + 1);
    expect(Array.from(escaped!.dataSync())).toEqual([2, 2, 2, 2]);
    escaped!.dispose();
  });

  test('a view keeps its storage alive after the base is disposed', () => {
    const base = et.arange(6).reshape([2, 3]);
    const t = base.transpose();
    base.dispose();
    expect(t.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    t.dispose();
  });

  test('using a disposed tensor throws DisposedError naming the op', () => {
    const t = et.ones([2, 2]);
    t.dispose();
    expect(() => t.dataSync()).toThrow(et.DisposedError);
    expect(() => et.add(t, 1)).toThrow(/affine/);
    expect(() => et.matmul(t, t)).toThrow(et.DisposedError);
    t.dispose(); // idempotent
  });

  test('`using` disposes at the end of the block', () => {
    const before = live().liveTensors;
    {
      using t = et.ones([8]);
      expect(t.numel).toBe(8);
      expect(live().liveTensors).toBe(before + 1);
    }
    expect(live().liveTensors).toBe(before);
  });

  test('backward frees the saved activations of the graph', () => {
    const w = et.randn([32, 32], { seed: 5, requiresGrad: true });
    const before = live().liveBytes;
    et.tidy(() => {
      let h = et.randn([16, 32], { seed: 6 });
      for (let i = 0; i < 4; i++) h = et.gelu(et.matmul(h, w));
      h.sum().backward();
    });
    // only w.grad remains
    expect(live().liveBytes - before).toBe(32 * 32 * 4);
    w.grad!.dispose();
    w.grad = null;
  });

  test('a long loop of train steps keeps live bytes flat', () => {
    const w1 = et.randn([16, 32], { seed: 7, std: 0.3, requiresGrad: true });
    const w2 = et.randn([32, 4], { seed: 8, std: 0.3, requiresGrad: true });
    const x = et.randn([64, 16], { seed: 9 });
    const y = et.randn([64, 4], { seed: 10 });
    const step = () =>
      et.tidy(() => {
        const h = et.relu(et.matmul(x, w1));
        const d = et.sub(et.matmul(h, w2), y);
        const loss = et.mean(et.mul(d, d));
        loss.backward();
        for (const p of [w1, w2]) {
          const upd = et.noGrad(() => et.sub(p, et.mul(p.grad!, 0.05)));
          // write the update into the parameter's storage
          et.copyInto(p, upd);
          p.grad!.dispose();
          p.grad = null;
        }
        return loss.item();
      });
    const first = step();
    for (let i = 0; i < 20; i++) step();
    const mid = live();
    let last = 0;
    for (let i = 0; i < 200; i++) last = step();
    const end = live();
    expect(end.liveBytes).toBe(mid.liveBytes);
    expect(end.liveTensors).toBe(mid.liveTensors);
    expect(last).toBeLessThan(first);
  });

  test('memory() reports per-device figures; peak >= live', () => {
    const m = et.memory();
    expect(m.cpu).toBeDefined();
    expect(m.cpu!.peakBytes).toBeGreaterThanOrEqual(m.cpu!.liveBytes);
  });
});

describe('storage the program forgot', () => {
  test('is freed once collected: tensors never disposed, and a storage no tensor holds', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // finalization callbacks run on later turns of the event loop
    const collect = async () => {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    };
    // first let what earlier tests forgot go (three rounds without change), so the figures below
    // are this test's alone
    for (let i = 0, still = 0, prev = -1; i < 100 && still < 3; i++) {
      still = live().liveBytes === prev ? still + 1 : 0;
      prev = live().liveBytes;
      await collect();
    }
    const before = live().liveBytes;
    (() => {
      et.keep(et.zeros([1000]));
      // a storage outside any tensor, as a mapped file's own hold is
      void new Storage(native.alloc('cpu', 4096), 4096, 'cpu');
    })();
    expect(live().liveBytes).toBe(before + 4000 + 4096);
    for (let i = 0; i < 50 && live().liveBytes !== before; i++) await collect();
    expect(live().liveBytes).toBe(before);
  });
});
