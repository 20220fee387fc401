import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as et from '../lib/index.js';
import { AdamW, type AdamWOptions } from '../lib/optim/adamw.js';
import { SGD, type SGDOptions } from '../lib/optim/sgd.js';
import { clipGradNorm } from '../lib/optim/clip.js';
import { LRScheduler, constant, warmupConstant, warmupCosine, warmupLinear } from '../lib/optim/schedule.js';
import { Linear } from '../lib/nn/linear.js';
import { Sequential } from '../lib/nn/container.js';
import { ReLU } from '../lib/nn/activation.js';

const arr = (t: et.Tensor) => Array.from(t.dataSync());
const close = (got: ArrayLike<number>, want: ArrayLike<number>, tol = 2e-6) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i]! - want[i]!), `element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!)));
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-optim-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic pseudo-random values in [-1, 1), float32-representable. */
function values(n: number, seed: number): number[] {
  let s = seed * 2654435761 + 12345;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out.push(Math.fround((s / 2 ** 32) * 2 - 1));
  }
  return out;
}

const SHAPES = [[3, 4], [5], [2, 1, 3]];
const makeParams = () => SHAPES.map((s, i) => et.tensor(values(s.reduce((a, b) => a * b, 1), 100 + i), s, { requiresGrad: true }));
/** Gradient of parameter i at step t; parameter 1 has no gradient on step 2 (skipped). */
const gradAt = (i: number, t: number): number[] | null => (i === 1 && t === 2 ? null : values(SHAPES[i]!.reduce((a, b) => a * b, 1), 1000 * t + i).map((v) => v * (1 + t)));
function setGrads(ps: et.Tensor[], t: number): void {
  ps.forEach((p, i) => {
    p.grad?.dispose();
    const g = gradAt(i, t);
    p.grad = g ? et.tensor(g, p.shape) : null;
  });
}

/** torch.optim.AdamW's update in float64. */
class AdamWRef {
  m: number[][];
  v: number[][];
  steps: number[];
  constructor(
    public ps: number[][],
    public o: AdamWOptions,
  ) {
    this.m = ps.map((p) => p.map(() => 0));
    this.v = ps.map((p) => p.map(() => 0));
    this.steps = ps.map(() => 0);
  }
  step(grads: (number[] | null)[], scale = 1): void {
    const { lr, betas: [b1, b2], eps, weightDecay: wd } = this.o;
    grads.forEach((g, i) => {
      if (!g) return;
      const t = ++this.steps[i]!;
      const p = this.ps[i]!;
      const [m, v] = [this.m[i]!, this.v[i]!];
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      for (let k = 0; k < p.length; k++) {
        const gk = g[k]! * scale;
        p[k] = p[k]! * (1 - lr * wd);
        m[k] = b1 * m[k]! + (1 - b1) * gk;
        v[k] = b2 * v[k]! + (1 - b2) * gk * gk;
        p[k] = p[k]! - (lr / bc1) * (m[k]! / (Math.sqrt(v[k]!) / Math.sqrt(bc2) + eps));
      }
    });
  }
}

/** torch.optim.SGD's update in float64. */
class SGDRef {
  buf: (number[] | null)[];
  constructor(
    public ps: number[][],
    public o: SGDOptions,
  ) {
    this.buf = ps.map(() => null);
  }
  step(grads: (number[] | null)[]): void {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = this.o;
    grads.forEach((g, i) => {
      if (!g) return;
      const p = this.ps[i]!;
      const d = g.map((x, k) => x + wd * p[k]!);
      let upd = d;
      if (mu !== 0) {
        const b = this.buf[i];
        this.buf[i] = b ? b.map((x, k) => mu * x + (1 - dampening) * d[k]!) : [...d];
        upd = nesterov ? d.map((x, k) => x + mu * this.buf[i]![k]!) : this.buf[i]!;
      }
      for (let k = 0; k < p.length; k++) p[k] = p[k]! - lr * upd[k]!;
    });
  }
}

describe('AdamW', () => {
  test('matches torch.optim.AdamW over several steps, with weight decay and a skipped parameter', () => {
    const opts: AdamWOptions = { lr: 0.01, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.1 };
    const ps = makeParams();
    const ref = new AdamWRef(ps.map(arr), opts);
    const opt = new AdamW(ps, opts);
    for (let t = 1; t <= 6; t++) {
      setGrads(ps, t);
      opt.step();
      ref.step(ps.map((_, i) => gradAt(i, t)));
      ps.forEach((p, i) => close(arr(p), ref.ps[i]!));
    }
    expect(opt.state.get(ps[0]!)!.step).toBe(6);
    expect(opt.state.get(ps[1]!)!.step).toBe(5);
  });

  test('defaults are lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01', () => {
    const opt = new AdamW([et.zeros([1], { requiresGrad: true })]);
    const { params: _, ...o } = opt.paramGroups[0]!;
    expect(o).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  });

  test('gradScale scales the gradients inside the update', () => {
    const opts: AdamWOptions = { lr: 0.05, betas: [0.8, 0.9], eps: 1e-6, weightDecay: 0 };
    const ps = makeParams();
    const ref = new AdamWRef(ps.map(arr), opts);
    const opt = new AdamW(ps, opts);
    for (let t = 1; t <= 3; t++) {
      setGrads(ps, t);
      opt.step({ gradScale: 0.25 });
      ref.step(ps.map((_, i) => gradAt(i, t)), 0.25);
    }
    ps.forEach((p, i) => close(arr(p), ref.ps[i]!));
  });

  test('parameter groups carry their own options; lr get/set', () => {
    const [a, b] = [et.ones([2], { requiresGrad: true }), et.ones([2], { requiresGrad: true })];
    const opt = new AdamW([{ params: [a] }, { params: [b], lr: 0.1, weightDecay: 0 }], { lr: 0.01 });
    expect(opt.paramGroups.map((g) => [g.lr, g.weightDecay])).toEqual([[0.01, 0.01], [0.1, 0]]);
    expect(opt.lr).toBe(0.01);
    opt.lr = 0.5;
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.5]);
    expect(() => (opt.lr = -1)).toThrow(et.ValueError);
  });

  test('invalid options throw ValueError', () => {
    const p = [et.zeros([1], { requiresGrad: true })];
    expect(() => new AdamW(p, { lr: -1 })).toThrow(et.ValueError);
    expect(() => new AdamW(p, { lr: NaN })).toThrow(et.ValueError);
    expect(() => new AdamW(p, { lr: Infinity })).toThrow(et.ValueError);
    expect(() => new AdamW(p, { betas: [1, 0.9] })).toThrow(/betas\[0\] must be in \[0, 1\)/);
    expect(() => new AdamW(p, { betas: [0.9, -0.1] })).toThrow(et.ValueError);
    expect(() => new AdamW(p, { eps: 0 })).toThrow(/eps must be > 0/);
    expect(() => new AdamW(p, { weightDecay: -0.1 })).toThrow(et.ValueError);
    expect(() => new AdamW([p[0]!, p[0]!])).toThrow(/appears twice/);
    expect(() => new AdamW([])).toThrow(/empty parameter list/);
  });

  test('refuses non-float32 parameters and mismatched grads', () => {
    const p = et.ones([2], { dtype: 'bfloat16' });
    p.requiresGrad = true;
    p.grad = et.ones([2], { dtype: 'bfloat16' });
    expect(() => new AdamW([p]).step()).toThrow(et.DTypeError);
    const q = et.ones([2], { requiresGrad: true });
    q.grad = et.ones([3]);
    expect(() => new AdamW([q]).step()).toThrow(et.ShapeError);
  });

  test('stateDict round trip (in memory and through a file) gives identical next steps', () => {
    const opts: AdamWOptions = { lr: 0.02, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.05 };
    const ps = makeParams();
    const opt = new AdamW(ps, opts);
    for (let t = 1; t <= 3; t++) {
      setGrads(ps, t);
      opt.step();
    }
    const qs = ps.map((p) => p.clone().detach());
    const rs = ps.map((p) => p.clone().detach());
    for (const t of [...qs, ...rs]) t.requiresGrad = true;
    const viaMemory = new AdamW(qs, { lr: 1 });
    viaMemory.loadStateDict(opt.stateDict());
    const file = join(dir, 'adamw.safetensors');
    opt.save(file);
    const viaFile = new AdamW(rs, { lr: 1 });
    viaFile.load(file);
    expect(viaFile.lr).toBe(0.02);
    expect(viaFile.state.get(rs[1]!)!.step).toBe(2);
    for (let t = 4; t <= 5; t++) {
      for (const group of [ps, qs, rs]) setGrads(group, t);
      opt.step();
      viaMemory.step();
      viaFile.step();
    }
    ps.forEach((p, i) => {
      expect(arr(qs[i]!)).toEqual(arr(p));
      expect(arr(rs[i]!)).toEqual(arr(p));
    });
  });

  test('loadStateDict refuses a state of another shape and leaves the optimizer as it was', () => {
    const a = new AdamW([et.ones([2], { requiresGrad: true })]);
    a.params()[0]!.grad = et.ones([2]);
    a.step();
    const b = new AdamW([et.ones([3], { requiresGrad: true })]);
    expect(() => b.loadStateDict(a.stateDict())).toThrow(et.ShapeError);
    expect(b.state.size).toBe(0);
  });
});

describe('SGD', () => {
  const configs: [string, SGDOptions][] = [
    ['plain', { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false }],
    ['momentum, dampening, weight decay', { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01, nesterov: false }],
    ['nesterov', { lr: 0.05, momentum: 0.8, dampening: 0, weightDecay: 0.05, nesterov: true }],
  ];
  for (const [name, opts] of configs) {
    test(`matches torch.optim.SGD: ${name}`, () => {
      const ps = makeParams();
      const ref = new SGDRef(ps.map(arr), opts);
      const opt = new SGD(ps, opts);
      for (let t = 1; t <= 5; t++) {
        setGrads(ps, t);
        const gradsBefore = ps.map((p) => (p.grad ? arr(p.grad) : null));
        opt.step();
        ref.step(ps.map((_, i) => gradAt(i, t)));
        ps.forEach((p, i) => close(arr(p), ref.ps[i]!));
        // the update never writes into the gradients
        ps.forEach((p, i) => expect(p.grad ? arr(p.grad) : null).toEqual(gradsBefore[i]));
      }
      expect(opt.state.get(ps[0]!)!.buffers.momentum === undefined).toBe(opts.momentum === 0);
    });
  }

  test('invalid options throw ValueError', () => {
    const p = [et.zeros([1], { requiresGrad: true })];
    expect(() => new SGD(p, { lr: -0.1 })).toThrow(et.ValueError);
    expect(() => new SGD(p, { lr: 0.1, momentum: -1 })).toThrow(et.ValueError);
    expect(() => new SGD(p, { lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    expect(() => new SGD(p, { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(et.ValueError);
  });

  test('stateDict round trip keeps the momentum buffers', () => {
    const opts = { lr: 0.05, momentum: 0.9 };
    const ps = makeParams();
    const opt = new SGD(ps, opts);
    for (let t = 1; t <= 2; t++) {
      setGrads(ps, t);
      opt.step();
    }
    const qs = ps.map((p) => p.clone().detach());
    for (const q of qs) q.requiresGrad = true;
    const opt2 = new SGD(qs, { lr: 1 });
    opt2.loadStateDict(opt.stateDict());
    setGrads(ps, 3);
    setGrads(qs, 3);
    opt.step();
    opt2.step();
    ps.forEach((p, i) => expect(arr(qs[i]!)).toEqual(arr(p)));
  });
});

describe('zeroGrad', () => {
  test('disposes and nulls every gradient', () => {
    const ps = makeParams();
    setGrads(ps, 1);
    const grads = ps.map((p) => p.grad).filter((g): g is et.Tensor => g !== null);
    const opt = new SGD(ps, { lr: 0.1 });
    opt.zeroGrad();
    expect(ps.every((p) => p.grad === null)).toBe(true);
    expect(grads.every((g) => g.isDisposed)).toBe(true);
    opt.step(); // nothing to do
  });
});

describe('clipGradNorm', () => {
  test('returns the global L2 norm and scales the gradients when above maxNorm', () => {
    const ps = makeParams();
    setGrads(ps, 1);
    const g = ps.map((p) => arr(p.grad!));
    const norm = Math.sqrt(g.flat().reduce((a, b) => a + b * b, 0));
    const old = ps[0]!.grad!;
    const got = clipGradNorm(ps, norm / 4);
    expect(got).toBeCloseTo(norm, 4);
    expect(old.isDisposed).toBe(true);
    const coef = norm / 4 / (norm + 1e-6);
    ps.forEach((p, i) => close(arr(p.grad!), g[i]!.map((v) => v * coef), 1e-5));
    expect(clipGradNorm(ps, norm)).toBeCloseTo(norm / 4, 4);
  });

  test('leaves gradients alone below maxNorm; skips null grads; infinity norm; non-finite', () => {
    const ps = makeParams();
    setGrads(ps, 2); // parameter 1 has no grad
    const g0 = ps[0]!.grad!;
    const flat = [ps[0]!, ps[2]!].flatMap((p) => arr(p.grad!));
    expect(clipGradNorm(ps, 1e6)).toBeCloseTo(Math.sqrt(flat.reduce((a, b) => a + b * b, 0)), 4);
    expect(ps[0]!.grad).toBe(g0);
    expect(clipGradNorm(ps, 1e6, { normType: Infinity })).toBeCloseTo(Math.max(...flat.map(Math.abs)), 6);
    expect(clipGradNorm(ps, 1e6, { normType: 1 })).toBeCloseTo(flat.reduce((a, b) => a + Math.abs(b), 0), 3);
    expect(clipGradNorm([et.ones([1], { requiresGrad: true })], 1)).toBe(0);
    const bad = et.ones([2], { requiresGrad: true });
    bad.grad = et.tensor([1, Infinity]);
    expect(clipGradNorm([bad], 1)).toBe(Infinity);
    expect(() => clipGradNorm([bad], 1, { errorIfNonfinite: true })).toThrow(et.ValueError);
    expect(() => clipGradNorm(ps, -1)).toThrow(et.ValueError);
  });
});

describe('learning-rate schedules', () => {
  test('warmupCosine', () => {
    const f = warmupCosine({ warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 });
    expect([0, 5, 10, 60, 110, 500].map(f)).toEqual([0, 0.5, 1, expect.closeTo(0.55, 12), expect.closeTo(0.1, 12), expect.closeTo(0.1, 12)]);
    expect(f(35)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.25)), 12);
    expect(warmupCosine({ totalSteps: 4 })(0)).toBe(1);
  });

  test('warmupLinear, warmupConstant and constant', () => {
    const f = warmupLinear({ warmupSteps: 10, totalSteps: 110 });
    expect([0, 4, 10, 60, 110, 200].map(f)).toEqual([0, 0.4, 1, 0.5, 0, 0]);
    expect(warmupLinear({ warmupSteps: 0, totalSteps: 100, minLrRatio: 0.2 })(50)).toBeCloseTo(0.6, 12);
    expect([0, 2, 4, 100].map(warmupConstant({ warmupSteps: 4 }))).toEqual([0, 0.5, 1, 1]);
    expect(constant()(1234)).toBe(1);
  });

  test('bad schedule options throw ValueError', () => {
    expect(() => warmupCosine({ warmupSteps: 10, totalSteps: 5 })).toThrow(et.ValueError);
    expect(() => warmupLinear({ warmupSteps: -1, totalSteps: 5 })).toThrow(et.ValueError);
    expect(() => warmupCosine({ totalSteps: 5, minLrRatio: 2 })).toThrow(et.ValueError);
  });

  test('LRScheduler multiplies each group base rate, LambdaLR style', () => {
    const opt = new AdamW([{ params: [et.ones([1], { requiresGrad: true })] }, { params: [et.ones([1], { requiresGrad: true })], lr: 0.1 }], { lr: 1e-3 });
    const sched = new LRScheduler(opt, warmupLinear({ warmupSteps: 4, totalSteps: 8 }));
    expect(sched.getLastLr()).toEqual([0, 0]);
    for (let i = 0; i < 2; i++) sched.step();
    expect(opt.lr).toBeCloseTo(5e-4, 15);
    expect(sched.getLastLr()[1]).toBeCloseTo(0.05, 15);
    const saved = sched.stateDict();
    const opt2 = new AdamW([{ params: [et.ones([1], { requiresGrad: true })] }, { params: [et.ones([1], { requiresGrad: true })], lr: 0.1 }], { lr: 1e-3 });
    const sched2 = new LRScheduler(opt2, warmupLinear({ warmupSteps: 4, totalSteps: 8 }));
    sched2.loadStateDict(saved);
    expect(sched2.getLastLr()).toEqual(sched.getLastLr());
    sched.step();
    sched2.step();
    expect(sched2.getLastLr()).toEqual(sched.getLastLr());
    expect(sched.lastStep).toBe(3);
  });
});

describe('a training loop', () => {
  test('fits a small regression, and steps after the first allocate nothing that survives', () => {
    const model = new Sequential(new Linear(4, 16, { seed: 1 }), new ReLU(), new Linear(16, 1, { seed: 2 }));
    const opt = new AdamW(model.parameters(), { lr: 0.02, weightDecay: 0 });
    const sched = new LRScheduler(opt, warmupCosine({ warmupSteps: 5, totalSteps: 200, minLrRatio: 0.1 }));
    const x = et.tensor(values(64 * 4, 7), [64, 4]);
    const target = et.tensor(Array.from({ length: 64 }, (_, r) => values(64 * 4, 7).slice(r * 4, r * 4 + 4).reduce((a, v, i) => a + v * (i + 1), 0)), [64, 1]);
    const losses: number[] = [];
    let live = 0;
    for (let step = 0; step < 200; step++) {
      const loss = et.tidy(() => {
        const d = model.forward(x).sub(target);
        const l = d.mul(d).mean();
        l.backward();
        return l.item();
      });
      losses.push(loss);
      clipGradNorm(model.parameters(), 1.0);
      opt.step();
      opt.zeroGrad();
      sched.step();
      if (step === 1) live = et.memory().cpu!.liveTensors;
      if (step > 1) expect(et.memory().cpu!.liveTensors).toBe(live);
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.05);
    expect(opt.lr).toBeCloseTo(0.002, 10);
  });
});
