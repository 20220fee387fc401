import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as et from '../lib/index.js';
import { Module, parameter } from '../lib/nn/module.js';
import { Linear } from '../lib/nn/linear.js';
import { ModuleList, Sequential } from '../lib/nn/container.js';
import { GELU, Identity, ReLU, SiLU } from '../lib/nn/activation.js';
import { Dropout, Embedding, LayerNorm, RMSNorm } from '../lib/nn/index.js';

const arr = (t: et.Tensor) => Array.from(t.dataSync());
const close = (got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!)));
};

/** y[r, o] = sum_i x[r, i] * w[o, i] + b[o] in float64. */
function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, rows: number, inF: number, outF: number): number[] {
  const y: number[] = [];
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
      y.push(s);
    }
  return y;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-nn-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Block extends Module {
  declare fc1: Linear;
  declare fc2: Linear;
  declare scale: et.Tensor;
  declare table: et.Tensor;
  constructor(seed: number) {
    super();
    this.registerParameter('scale', et.ones([4]));
    this.registerModule('fc1', new Linear(4, 8, { seed }));
    this.registerModule('fc2', new Linear(8, 4, { seed: seed + 10, bias: false }));
    this.registerBuffer('table', et.arange(3));
  }
  forward(x: et.Tensor): et.Tensor {
    return this.fc2.forward(this.fc1.forward(x).relu()).mul(this.scale);
  }
}

class Net extends Module {
  declare blocks: ModuleList<Block>;
  declare head: Linear;
  constructor(seed = 0) {
    super();
    this.registerModule('blocks', new ModuleList([new Block(seed), new Block(seed + 100)]));
    this.registerModule('head', new Linear(4, 2, { seed: seed + 200 }));
  }
  forward(x: et.Tensor): et.Tensor {
    for (const b of this.blocks) x = b.forward(x);
    return this.head.forward(x);
  }
}

describe('Linear', () => {
  test('forward matches a float64 reference for batched input, with and without bias', () => {
    for (const bias of [true, false]) {
      const lin = new Linear(5, 3, { seed: 1, bias });
      const x = et.randn([2, 4, 5], { seed: 2 });
      const y = lin.forward(x);
      expect(y.shape).toEqual([2, 4, 3]);
      close(arr(y), linearRef(arr(x), arr(lin.weight), bias ? arr(lin.bias!) : null, 8, 5, 3));
      expect(lin.bias === null).toBe(!bias);
      expect(lin.parameters().length).toBe(bias ? 2 : 1);
    }
  });

  test('initial values are uniform in ±1/sqrt(in), seeded, and weight and bias differ', () => {
    const a = new Linear(64, 32, { seed: 7 });
    const b = new Linear(64, 32, { seed: 7 });
    const c = new Linear(64, 32, { seed: 8 });
    const w = arr(a.weight);
    const bound = 1 / 8;
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(bound * 0.9);
    expect(Math.max(...arr(a.bias!).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(arr(a.weight)).toEqual(arr(b.weight));
    expect(arr(a.weight)).not.toEqual(arr(c.weight));
    expect(arr(a.bias!)).not.toEqual(w.slice(0, 32));
    expect(a.weight.shape).toEqual([32, 64]);
    expect(a.weight.requiresGrad && a.weight.isLeaf).toBe(true);
  });

  test('gradients from backward match the reference', () => {
    const [rows, inF, outF] = [3, 4, 2];
    const lin = new Linear(inF, outF, { seed: 3 });
    const x = et.randn([rows, inF], { seed: 4, requiresGrad: true });
    const r = et.randn([rows, outF], { seed: 5 });
    lin.forward(x).mul(r).sum().backward();
    const [xv, wv, rv] = [arr(x), arr(lin.weight), arr(r)];
    const dw: number[] = [];
    for (let o = 0; o < outF; o++)
      for (let i = 0; i < inF; i++) {
        let s = 0;
        for (let n = 0; n < rows; n++) s += rv[n * outF + o]! * xv[n * inF + i]!;
        dw.push(s);
      }
    const db = [0, 1].map((o) => [0, 1, 2].reduce((s, n) => s + rv[n * outF + o]!, 0));
    const dx: number[] = [];
    for (let n = 0; n < rows; n++)
      for (let i = 0; i < inF; i++) {
        let s = 0;
        for (let o = 0; o < outF; o++) s += rv[n * outF + o]! * wv[o * inF + i]!;
        dx.push(s);
      }
    close(arr(lin.weight.grad!), dw);
    close(arr(lin.bias!.grad!), db);
    close(arr(x.grad!), dx);
  });

  test('bad sizes throw ValueError', () => {
    expect(() => new Linear(0, 3)).toThrow(et.ValueError);
    expect(() => new Linear(2.5, 3)).toThrow(et.ValueError);
  });
});

describe('Module', () => {
  test('named parameters use dotted paths in registration order; shared tensors appear once', () => {
    const net = new Net();
    const names = net.namedParameters().map(([n]) => n);
    expect(names).toEqual([
      'blocks.0.scale', 'blocks.0.fc1.weight', 'blocks.0.fc1.bias', 'blocks.0.fc2.weight',
      'blocks.1.scale', 'blocks.1.fc1.weight', 'blocks.1.fc1.bias', 'blocks.1.fc2.weight',
      'head.weight', 'head.bias',
    ]);
    expect(net.parameters().length).toBe(10);
    expect(net.numParameters()).toBe(2 * (4 + 32 + 8 + 32) + 8 + 2);
    expect([...net.namedModules()].map(([n]) => n)).toEqual(['', 'blocks', 'blocks.0', 'blocks.0.fc1', 'blocks.0.fc2', 'blocks.1', 'blocks.1.fc1', 'blocks.1.fc2', 'head']);
    expect([...net.children()].length).toBe(2);
    expect(net.namedBuffers().map(([n]) => n)).toEqual(['blocks.0.table', 'blocks.1.table']);
    expect([...net.stateDict().keys()]).toEqual([...names, 'blocks.0.table', 'blocks.1.table']);

    const seq = new Sequential(new Linear(2, 2), new ReLU(), new Linear(2, 2));
    expect(seq.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const shared = new Linear(2, 2);
    const twice = new Sequential(shared, shared);
    expect(twice.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias']);
  });

  test('registration rejects duplicates and dotted names', () => {
    class Bad extends Module {
      forward() {}
    }
    const m = new Bad();
    m.registerParameter('w', et.ones([1]));
    expect(() => m.registerParameter('w', et.ones([1]))).toThrow(/already registered/);
    expect(() => m.registerModule('a.b', new ReLU())).toThrow(/invalid name/);
  });

  test('parameters made inside tidy() survive it', () => {
    const lin = et.tidy(() => new Linear(3, 3));
    expect(lin.weight.isDisposed).toBe(false);
    expect(lin.forward(et.ones([1, 3])).shape).toEqual([1, 3]);
    expect(parameter(et.ones([2])).requiresGrad).toBe(true);
  });

  test('train()/eval() reach every descendant', () => {
    const net = new Net();
    expect([...net.modules()].every((m) => m.training)).toBe(true);
    expect(net.eval()).toBe(net);
    expect([...net.modules()].every((m) => !m.training)).toBe(true);
    net.blocks.at(1)!.train();
    expect(net.training).toBe(false);
    expect(net.blocks.at(1)!.fc1.training).toBe(true);
    net.train();
    expect([...net.modules()].every((m) => m.training)).toBe(true);
  });

  test('stateDict round trip through save/load gives byte-identical files and identical outputs', () => {
    const a = new Net(0);
    const b = new Net(1000);
    const x = et.randn([3, 4], { seed: 9 });
    expect(arr(a.forward(x))).not.toEqual(arr(b.forward(x)));
    const pa = join(dir, 'a.safetensors');
    const pb = join(dir, 'b.safetensors');
    a.save(pa, { step: '12' });
    const wBefore = b.head.weight;
    const res = b.load(pa);
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [], metadata: { step: '12' } });
    expect(b.head.weight).toBe(wBefore); // copied in place: optimizers holding it stay valid
    b.save(pb, { step: '12' });
    expect(readFileSync(pb).equals(readFileSync(pa))).toBe(true);
    expect(arr(b.forward(x))).toEqual(arr(a.forward(x)));
  });

  test('loadStateDict: strict lists missing and unexpected keys; shape mismatch names the key and both shapes', () => {
    const a = new Net(0);
    const b = new Net(5);
    const sd = new Map(a.stateDict());
    sd.delete('head.bias');
    sd.delete('blocks.0.scale');
    sd.set('extra.weight', et.ones([1]));
    const before = arr(b.head.weight);
    let err: Error | undefined;
    try {
      b.loadStateDict(sd);
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(et.EdgeTrainError);
    expect(err!.message).toMatch(/missing keys: blocks\.0\.scale, head\.bias/);
    expect(err!.message).toMatch(/unexpected keys: extra\.weight/);
    expect(arr(b.head.weight)).toEqual(before); // nothing copied

    const res = b.loadStateDict(sd, { strict: false });
    expect(res).toEqual({ missingKeys: ['blocks.0.scale', 'head.bias'], unexpectedKeys: ['extra.weight'] });
    expect(arr(b.head.weight)).toEqual(arr(a.head.weight));

    const bad = new Map(a.stateDict());
    bad.set('head.weight', et.ones([3, 4]));
    expect(() => b.loadStateDict(bad)).toThrow(et.ShapeError);
    expect(() => b.loadStateDict(bad)).toThrow(/'head\.weight' has shape \[3, 4\] in the state dict but \[2, 4\] in the module/);
  });

  test('tied weights: saved once, loadable under any of their names, never reported missing twice', () => {
    const shared = new Linear(2, 2, { seed: 1 });
    const tied = new Sequential(shared, new ReLU(), shared);
    expect([...tied.stateDict().keys()]).toEqual(['0.weight', '0.bias']);
    const w = et.tensor([[1, 2], [3, 4]]);
    const b = et.tensor([5, 6]);
    expect(tied.loadStateDict({ '2.weight': w, '2.bias': b })).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(arr(shared.weight)).toEqual([1, 2, 3, 4]);
    expect(() => tied.loadStateDict({ '2.weight': w })).toThrow(/missing keys: 0\.bias$|missing keys: 0\.bias /);
  });

  test('loadStateDict converts dtypes (bf16 checkpoint into f32 parameters)', () => {
    const lin = new Linear(2, 2, { bias: false });
    lin.loadStateDict({ weight: et.tensor([[1, 2], [3, 0.5]], { dtype: 'bfloat16' }) });
    expect(lin.weight.dtype).toBe('float32');
    expect(arr(lin.weight)).toEqual([1, 2, 3, 0.5]);
  });

  test('zeroGrad, freeze/unfreeze, requiresGrad_, to() and dispose()', () => {
    const net = new Net();
    net.forward(et.ones([1, 4])).sum().backward();
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);

    net.blocks.freeze();
    expect(net.numParameters({ trainableOnly: true })).toBe(10);
    net.forward(et.ones([1, 4])).sum().backward();
    expect(net.blocks.at(0)!.fc1.weight.grad).toBeNull();
    expect(net.head.weight.grad).not.toBeNull();
    net.unfreeze();
    expect(net.parameters({ trainableOnly: true }).length).toBe(10);
    expect(net.requiresGrad_(false).parameters().every((p) => !p.requiresGrad)).toBe(true);

    const w = net.head.weight;
    expect(net.to('cpu')).toBe(net);
    expect(net.head.weight).toBe(w); // already there: untouched

    const live = et.memory().cpu!.liveTensors;
    net.dispose();
    expect(net.parameters().every((p) => p.isDisposed)).toBe(true);
    expect(net.namedBuffers().every(([, t]) => t.isDisposed)).toBe(true);
    expect(et.memory().cpu!.liveTensors).toBeLessThan(live - 10);
  });

  test('to() moves parameters to another device when one is available', () => {
    const other = et.devices().find((d) => d.available && d.name !== 'cpu');
    if (!other) return;
    const lin = new Linear(3, 2, { seed: 1 });
    const before = arr(lin.weight);
    lin.to(other.name);
    expect(lin.weight.device).toBe(other.name);
    expect(lin.weight.requiresGrad).toBe(true);
    expect(arr(lin.weight)).toEqual(before);
  });

  test('activations and Sequential', () => {
    const x = et.tensor([[-1, 0.5, 2]]);
    expect(arr(new ReLU().forward(x))).toEqual([0, 0.5, 2]);
    close(arr(new SiLU().forward(x)), [-1, 0.5, 2].map((v) => v / (1 + Math.exp(-v))));
    close(arr(new GELU({ approximate: 'tanh' }).forward(x)), [-1, 0.5, 2].map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))), 1e-4);
    expect(new Identity().forward(x)).toBe(x);
    const seq = new Sequential(new Linear(3, 4, { seed: 1 }), new ReLU(), new Linear(4, 2, { seed: 2 }));
    const l0 = seq.at(0) as Linear;
    const l2 = seq.at(2) as Linear;
    const h = linearRef(arr(x), arr(l0.weight), arr(l0.bias!), 1, 3, 4).map((v) => Math.max(0, v));
    close(arr(seq.forward(x)), linearRef(h, arr(l2.weight), arr(l2.bias!), 1, 4, 2));
    expect(seq.toString()).toMatch(/Sequential\(\n {2}\(0\): Linear\(in=3, out=4, bias=true\)/);
  });
});

describe('layers over other ops', () => {
  test('Embedding looks up rows; weight is N(0,1)', () => {
    const emb = new Embedding(1000, 16, { seed: 1 });
    const w = arr(emb.weight);
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(std - 1)).toBeLessThan(0.05);
    const ids = et.tensor([[3, 0], [999, 3]], { dtype: 'int32' });
    const y = emb.forward(ids);
    expect(y.shape).toEqual([2, 2, 16]);
    const yv = arr(y);
    const row = (r: number) => w.slice(r * 16, r * 16 + 16);
    expect(yv.slice(0, 16)).toEqual(row(3));
    expect(yv.slice(32, 48)).toEqual(row(999));
    expect(yv.slice(48, 64)).toEqual(row(3));
  });

  test('RMSNorm and LayerNorm match references and own the right parameters', () => {
    const x = et.randn([2, 3, 8], { seed: 3 });
    const xv = arr(x);
    const rms = new RMSNorm(8);
    expect(rms.namedParameters().map(([n]) => n)).toEqual(['weight']);
    rms.weight!.dispose();
    const ln = new LayerNorm(8);
    expect(ln.namedParameters().map(([n]) => n)).toEqual(['weight', 'bias']);
    const rmsW = et.randn([8], { seed: 4 });
    const lnW = et.randn([8], { seed: 5 });
    const lnB = et.randn([8], { seed: 6 });
    const r2 = new RMSNorm(8, { eps: 1e-5 });
    r2.loadStateDict({ weight: rmsW });
    ln.loadStateDict({ weight: lnW, bias: lnB });
    const [rw, lw, lb] = [arr(rmsW), arr(lnW), arr(lnB)];
    const wantR: number[] = [];
    const wantL: number[] = [];
    for (let r = 0; r < 6; r++) {
      const row = xv.slice(r * 8, r * 8 + 8);
      const ms = row.reduce((a, b) => a + b * b, 0) / 8;
      row.forEach((v, i) => wantR.push((v / Math.sqrt(ms + 1e-5)) * rw[i]!));
      const mu = row.reduce((a, b) => a + b, 0) / 8;
      const va = row.reduce((a, b) => a + (b - mu) ** 2, 0) / 8;
      row.forEach((v, i) => wantL.push(((v - mu) / Math.sqrt(va + 1e-5)) * lw[i]! + lb[i]!));
    }
    close(arr(r2.forward(x)), wantR, 1e-4);
    close(arr(ln.forward(x)), wantL, 1e-4);
  });

  test('Dropout drops and rescales in training, is the identity in eval', () => {
    expect(() => new Dropout(1)).toThrow(et.ValueError);
    const d = new Dropout(0.25);
    const x = et.ones([4000]);
    const y = arr(d.forward(x));
    const kept = y.filter((v) => v !== 0);
    kept.forEach((v) => expect(v).toBeCloseTo(1 / 0.75, 5));
    expect(Math.abs(kept.length / 4000 - 0.75)).toBeLessThan(0.04);
    d.eval();
    expect(arr(d.forward(x))).toEqual(arr(x));
  });
});
