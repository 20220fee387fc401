import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';

const arr = (t: et.Tensor) => Array.from(t.dataSync());

describe('autograd', () => {
  test('leaf gradients accumulate across backward calls', () => {
    const x = et.tensor([1, 2, 3], { requiresGrad: true });
    et.mul(x, x).sum().backward();
    expect(arr(x.grad!)).toEqual([2, 4, 6]);
    et.mul(x, 3).sum().backward();
    expect(arr(x.grad!)).toEqual([5, 7, 9]);
  });

  test('a non-scalar root needs a seed gradient of its shape', () => {
    const x = et.tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const y = et.mul(x, 2);
    expect(() => y.backward()).toThrow(et.ShapeError);
    expect(() => y.backward(et.ones([3]))).toThrow(/seed gradient of shape \[3\]/);
    y.backward(et.tensor([[1, 0], [0, 1]]));
    expect(arr(x.grad!)).toEqual([2, 0, 0, 2]);
  });

  test('a graph is freed by backward: a second backward through it is refused', () => {
    const x = et.tensor([1, 2], { requiresGrad: true });
    const y = et.exp(x).sum();
    y.backward();
    expect(() => y.backward()).toThrow(/already freed/);
  });

  test('gradients reach a leaf used several times (diamond graph)', () => {
    const x = et.tensor([0.5, -1.5], { requiresGrad: true });
    const a = et.tanh(x);
    const b = et.sigmoid(x);
    et.mul(a, b).sum().backward();
    const xs = [0.5, -1.5];
    const expected = xs.map((v) => {
      const t = Math.tanh(v);
      const s = 1 / (1 + Math.exp(-v));
      return (1 - t * t) * s + t * s * (1 - s);
    });
    arr(x.grad!).forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 5));
  });

  test('noGrad records nothing; detach cuts the graph', () => {
    const x = et.tensor([1, 2], { requiresGrad: true });
    const y = et.noGrad(() => et.mul(x, 2));
    expect(y.requiresGrad).toBe(false);
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(arr(d)).toEqual([1, 2]);
    const z = et.mul(d, x).sum();
    z.backward();
    expect(arr(x.grad!)).toEqual([1, 2]);
  });

  test('frozen inputs get no gradient and none is computed', () => {
    const w = et.tensor([[1, 2], [3, 4]]); // frozen
    const x = et.tensor([[1, 1]], { requiresGrad: true });
    et.matmul(x, w).sum().backward();
    expect(w.grad).toBeNull();
    expect(arr(x.grad!)).toEqual([3, 7]);
  });

  test('valueAndGrad returns the value and gradients without touching .grad', () => {
    const f = et.valueAndGrad((a: et.Tensor, b: et.Tensor) => et.mul(a, b).sum());
    const a = et.tensor([1, 2, 3]);
    const b = et.tensor([4, 5, 6]);
    const { value, grads } = f(a, b);
    expect(value.item()).toBe(32);
    expect(arr(grads[0]!)).toEqual([4, 5, 6]);
    expect(arr(grads[1]!)).toEqual([1, 2, 3]);
    expect(a.grad).toBeNull();
  });

  test('checkpoint gives the same gradients, recomputes the forward, and reaches closed-over parameters', () => {
    const w = et.randn([8, 8], { seed: 1, requiresGrad: true });
    const x0 = et.randn([4, 8], { seed: 2 });
    let calls = 0;
    const block = (x: et.Tensor) => {
      calls++;
      return et.tanh(et.matmul(x, w));
    };
    const run = (ckpt: boolean) => {
      const x = x0.detach();
      x.requiresGrad = true;
      const h = ckpt ? et.checkpoint(block, x) : block(x);
      et.mul(h, h).sum().backward();
      const gx = arr(x.grad!);
      const gw = arr(w.grad!);
      w.grad!.dispose();
      w.grad = null;
      return { gx, gw };
    };
    const plain = run(false);
    calls = 0;
    const ck = run(true);
    expect(calls).toBe(2); // forward, then the recomputation in backward
    ck.gx.forEach((v, i) => expect(v).toBeCloseTo(plain.gx[i]!, 5));
    ck.gw.forEach((v, i) => expect(v).toBeCloseTo(plain.gw[i]!, 5));
  });

  test('checkpoint still works when its input was disposed before backward (as tidy does)', () => {
    const w = et.randn([4, 4], { seed: 11, requiresGrad: true });
    const x = et.randn([2, 4], { seed: 12, requiresGrad: true });
    const y = et.tidy(() => {
      const h = et.tanh(x); // an intermediate the scope disposes
      return et.checkpoint((t: et.Tensor) => et.matmul(t, w), h);
    });
    y.sum().backward();
    const ref = et.tanh(x.detach());
    const dw = et.matmul(ref.transpose(), et.ones([2, 4]));
    Array.from(w.grad!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(dw.dataSync()[i]!, 5));
    expect(x.grad).not.toBeNull();
  });

  test('checkpoint keeps less alive between forward and backward', () => {
    const w = et.randn([64, 64], { seed: 3, requiresGrad: true });
    const x = et.randn([256, 64], { seed: 4, requiresGrad: true });
    const deep = (h: et.Tensor) => {
      for (let i = 0; i < 6; i++) h = et.tanh(et.matmul(h, w));
      return h;
    };
    const live = (ckpt: boolean) =>
      et.tidy(() => {
        const base = et.memory().cpu!.liveBytes;
        const y = ckpt ? et.checkpoint(deep, x) : deep(x);
        const held = et.memory().cpu!.liveBytes - base;
        y.sum().backward();
        return held;
      });
    const plain = live(false);
    const ck = live(true);
    expect(ck).toBeLessThan(plain / 3);
  });
});
