// The op table test: every op on every available device.
//  - forward against PyTorch reference values (test/fixtures/ops.json, from scripts/gen-fixtures.py),
//  - backward (for a stored upstream gradient dy) against PyTorch's gradients,
//  - backward against central finite differences of sum(y * dy), on the device itself,
//  - dropout and the random generators by their properties (their values are not PyTorch's).
// A device other than cpu may lack an op: then the op must throw et.DeviceError naming the op and
// the device, which the test asserts (and lists at the end) instead of skipping. cpu runs everything.
// EDGETRAIN_REQUIRE_VULKAN=1 makes a missing Vulkan device a failure.
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { backward } from '../lib/autograd/engine.js';
import { expectClose, expectEqual, expectGradClose, expectShape } from './helpers/compare.js';
import { allDevices, orUnsupported, requireVulkan, testDevices, unsupported } from './helpers/devices.js';
import { finiteDifferences } from './helpers/fd.js';
import { isFloatDType, loadFixtures, makeTensor, type OpCase } from './helpers/fixtures.js';
import { api, OPS } from './helpers/op-table.js';
import { runCase } from './helpers/run-case.js';

const fixtures = loadFixtures();
const CASES = fixtures.cases;
const FD_CASES = CASES.filter((c) => c.fd);
/** Finite differences vs autograd: |fd - grad| <= FD_REL * max|grad| + FD_ABS. */
const FD_REL = 1e-2;
const FD_ABS = 1e-3;

/** Every op of the public API the table must exercise (fixture ops, plus the property-tested ones). */
const API_OPS = [
  'zeros', 'ones', 'full', 'arange', 'randn', 'rand', 'dropout',
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'relu', 'gelu', 'silu', 'sigmoid', 'tanh', 'pow',
  'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq', 'ne', 'where', 'maskedFill',
  'sum', 'mean', 'max', 'min', 'argmax', 'matmul', 'softmax', 'logSoftmax', 'crossEntropy', 'embedding',
  'reshape', 'transpose', 'permute', 'slice', 'expand', 'squeeze', 'unsqueeze', 'flatten', 'cat', 'split', 'stack',
  'contiguous', 'cast', 'rmsNorm', 'layerNorm', 'rope', 'swiglu', 'scaledDotProductAttention',
];
const PROPERTY_OPS = ['randn', 'rand', 'dropout'];

interface Grads {
  /** Read-back gradient of each input (null where none is expected). */
  values: (Float32Array | null)[];
}

/** Runs forward + backward(dy) on the device and reads the leaf gradients back. */
function autogradGrads(c: OpCase, device: string, leaves: Tensor[], outputs: Tensor[]): Grads {
  const roots: Tensor[] = [];
  const seeds: Tensor[] = [];
  outputs.forEach((y, k) => {
    const dy = c.dy[k];
    if (!dy) return;
    roots.push(y);
    seeds.push(makeTensor(dy, device));
  });
  backward(roots, seeds);
  const values = leaves.map((leaf, i) => {
    const expected = c.grads[i];
    if (!expected) return null;
    const g = leaf.grad;
    if (!g) return null;
    expectShape(`grad of input ${i}`, g.shape, leaf.shape);
    expect(g.dtype, `grad of input ${i} dtype`).toBe(leaf.dtype);
    expect(g.device, `grad of input ${i} device`).toBe(device);
    return Float32Array.from(g.dataSync());
  });
  return { values };
}

function checkCase(c: OpCase, device: string): void {
  et.tidy(() => {
    // forward
    const fwd = orUnsupported(device, c.op, 'forward', () => {
      const run = runCase(c, device, true);
      return { run, data: run.outputs.map((y) => y.dataSync()) };
    });
    if (fwd === 'unsupported') return;
    const { run, data } = fwd;
    expect(run.outputs.length, 'number of outputs').toBe(c.outputs.length);
    run.outputs.forEach((y, k) => {
      const e = c.outputs[k]!;
      const label = `output ${k}`;
      expectShape(label, y.shape, e.shape);
      expect(y.dtype, `${label} dtype`).toBe(e.dtype);
      expect(y.device, `${label} device`).toBe(device);
      if (isFloatDType(e.dtype)) expectClose(label, data[k]!, e.data, c.tol.fwd);
      else expectEqual(label, data[k]!, e.data);
    });

    // backward vs PyTorch
    if (!c.dy.some((d) => d)) {
      expect(c.grads.every((g) => g === null), 'fixture: gradients without an upstream gradient').toBe(true);
      return;
    }
    run.outputs.forEach((y, k) => {
      if (c.dy[k]) expect(y.requiresGrad, `output ${k} requires grad`).toBe(true);
    });
    const grads = orUnsupported(device, c.op, 'backward', () => autogradGrads(c, device, run.leaves, run.outputs));
    if (grads === 'unsupported') return;
    c.grads.forEach((e, i) => {
      if (!e) return;
      const got = grads.values[i] ?? null;
      // a leaf untouched by the graph may keep grad null where PyTorch reports zeros
      if (got === null) {
        expect(e.data.every((v) => v === 0), `input ${i} got no gradient`).toBe(true);
        return;
      }
      const tol = c.tol.grad;
      expectGradClose(`grad of input ${i}`, got, e.data, tol);
    });
  });
}

function checkFiniteDifferences(c: OpCase, device: string): void {
  et.tidy(() => {
    const ag = orUnsupported(device, c.op, 'backward', () => {
      const run = runCase(c, device, true);
      return autogradGrads(c, device, run.leaves, run.outputs);
    });
    if (ag === 'unsupported') return;
    const fd = finiteDifferences(c, device);
    expect(fd.length, 'inputs probed').toBeGreaterThan(0);
    for (const { input, index, grad } of fd) {
      const full = ag.values[input] ?? new Float32Array(c.inputs[input]!.data.length);
      const at = index.map((j) => full[j]!);
      let scale = 0;
      for (const v of full) scale = Math.max(scale, Math.abs(v));
      const bound = FD_REL * scale + FD_ABS;
      index.forEach((j, n) => {
        const err = Math.abs(grad[n]! - at[n]!);
        if (!(err <= bound))
          throw new Error(
            `input ${input} element ${j}: finite difference ${grad[n]}, autograd ${at[n]} ` +
              `(error ${err.toExponential(2)} > ${FD_REL} * max|grad| ${scale.toExponential(2)} + ${FD_ABS})`,
          );
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// properties of the random ops

const count = (a: ArrayLike<number>, f: (v: number) => boolean): number => {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (f(a[i]!)) n++;
  return n;
};
const meanStd = (a: ArrayLike<number>) => {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < a.length; i++) {
    s += a[i]!;
    s2 += a[i]! * a[i]!;
  }
  const m = s / a.length;
  return { mean: m, std: Math.sqrt(s2 / a.length - m * m) };
};

/** Deterministic normal-ish host data (so property tests do not depend on the device's randn). */
function hostRandn(shape: number[], seed: number, device: string, requiresGrad = false): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  for (let i = 0; i < n; i++) v[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return et.tensor(v, shape, { device, requiresGrad });
}

/** The dropout mask (kept = 1) for a seed, read from dropout(ones) on a device. */
function dropoutMask(device: string, p: number, seed: number, shape = [64, 64]): Uint8Array {
  return et.tidy(() => {
    const y = api('dropout')(et.ones(shape, { device }), p, { training: true, seed }) as Tensor;
    return Uint8Array.from(y.dataSync(), (v) => (v !== 0 ? 1 : 0));
  });
}

function checkDropout(device: string): void {
  et.tidy(() => {
    const r = orUnsupported(device, 'dropout', 'forward', () => {
      const x = et.ones([64, 64], { device });
      const y = api('dropout')(x, 0.25, { training: true, seed: 7 }) as Tensor;
      return { y, v: y.dataSync() };
    });
    if (r === 'unsupported') return;
    const { y, v } = r;
    expectShape('dropout output', y.shape, [64, 64]);
    expect(y.device).toBe(device);
    const kept = count(v, (t) => t !== 0) / v.length;
    expect(Math.abs(kept - 0.75), `fraction kept ${kept}, expected ~0.75`).toBeLessThan(0.03);
    for (const t of v) if (t !== 0) expect(Math.abs(t - 1 / 0.75)).toBeLessThan(1e-6);
    // same seed, same mask; another seed, another mask
    const a = dropoutMask(device, 0.25, 7);
    expectEqual('same seed', a, Uint8Array.from(v, (t) => (t !== 0 ? 1 : 0)));
    const b = dropoutMask(device, 0.25, 8);
    expect(count(a.map((m, i) => (m !== b[i] ? 1 : 0)), (t) => t === 1), 'different seeds give different masks').toBeGreaterThan(200);
    // the mask depends only on (seed, position): the same as cpu's
    if (device !== 'cpu') expectEqual('mask equals cpu mask', a, dropoutMask('cpu', 0.25, 7));
    // eval mode and p = 0 are the identity
    const xr = hostRandn([5, 7], 1, device);
    expectEqual('training false', (api('dropout')(xr, 0.5, { training: false, seed: 3 }) as Tensor).dataSync(), xr.dataSync());
    expectEqual('p = 0', (api('dropout')(xr, 0, { training: true, seed: 3 }) as Tensor).dataSync(), xr.dataSync());
    // non-contiguous input: same values as its contiguous copy
    const xt = et.transpose(hostRandn([6, 10], 2, device), 0, 1);
    const yt = api('dropout')(xt, 0.3, { training: true, seed: 5 }) as Tensor;
    const yc = api('dropout')(et.contiguous(xt), 0.3, { training: true, seed: 5 }) as Tensor;
    expectEqual('transposed input', yt.dataSync(), yc.dataSync());
  });
  // gradient = mask / (1 - p) * dy
  et.tidy(() => {
    const p = 0.4;
    const x = hostRandn([32, 16], 4, device, true);
    const dyv = hostRandn([32, 16], 6, device);
    const r = orUnsupported(device, 'dropout', 'backward', () => {
      const y = api('dropout')(x, p, { training: true, seed: 9 }) as Tensor;
      y.backward(dyv);
      return { y: y.dataSync(), g: x.grad!.dataSync() };
    });
    if (r === 'unsupported') return;
    const xs = x.dataSync();
    const dys = dyv.dataSync();
    const expectedY = Array.from(xs, (t, i) => (r.y[i] !== 0 ? t / (1 - p) : 0));
    expectClose('dropout values', r.y, expectedY, 1e-6);
    const expectedG = Array.from(dys, (t, i) => (r.y[i] !== 0 ? t / (1 - p) : 0));
    expectGradClose('dropout grad', r.g, expectedG, 1e-6);
  });
}

function checkRandom(device: string): void {
  et.tidy(() => {
    const r = orUnsupported(device, 'randn', 'forward', () => et.randn([4096], { device, seed: 11 }).dataSync());
    if (r !== 'unsupported') {
      const { mean, std } = meanStd(r);
      expect(Math.abs(mean), `randn mean ${mean}`).toBeLessThan(0.06);
      expect(Math.abs(std - 1), `randn std ${std}`).toBeLessThan(0.05);
      expectEqual('randn same seed', et.randn([4096], { device, seed: 11 }).dataSync(), r);
      const shifted = et.randn([4096], { device, seed: 11, mean: 2, std: 0.5 }).dataSync();
      expectClose('randn mean/std', shifted, Array.from(r, (v) => 2 + 0.5 * v), 1e-6);
      if (device !== 'cpu') expectClose('randn equals cpu', r, et.randn([4096], { seed: 11, device: 'cpu' }).dataSync(), 1e-5);
      et.manualSeed(42);
      const a = et.randn([16], { device }).dataSync();
      et.manualSeed(42);
      expectEqual('manualSeed repeats', et.randn([16], { device }).dataSync(), a);
    }
    const u = orUnsupported(device, 'rand', 'forward', () => et.rand([4096], { device, seed: 5, low: -2, high: 3 }).dataSync());
    if (u !== 'unsupported') {
      expect(count(u, (v) => v < -2 || v >= 3), 'rand values outside [-2, 3)').toBe(0);
      const { mean, std } = meanStd(u);
      expect(Math.abs(mean - 0.5), `rand mean ${mean}`).toBeLessThan(0.12);
      expect(Math.abs(std - 5 / Math.sqrt(12)), `rand std ${std}`).toBeLessThan(0.07);
      expectEqual('rand same seed', et.rand([4096], { device, seed: 5, low: -2, high: 3 }).dataSync(), u);
      if (device !== 'cpu') expectClose('rand equals cpu', u, et.rand([4096], { seed: 5, low: -2, high: 3, device: 'cpu' }).dataSync(), 1e-6);
    }
  });
}

// ---------------------------------------------------------------------------------------------

test('fixtures: every API op has cases, every fixture op has an entry', () => {
  const fixtureOps = new Set(CASES.map((c) => c.op));
  const missing = API_OPS.filter((op) => !fixtureOps.has(op) && !PROPERTY_OPS.includes(op));
  expect(missing, 'API ops without fixture cases').toEqual([]);
  const noEntry = [...fixtureOps].filter((op) => !OPS[op]);
  expect(noEntry, 'fixture ops without an entry in test/helpers/op-table.ts').toEqual([]);
  expect(new Set(CASES.map((c) => c.name)).size, 'case names are unique').toBe(CASES.length);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  for (const c of CASES)
    for (const t of [...c.inputs, ...c.outputs, ...c.dy, ...c.grads])
      if (t) expect(t.data.length, `${c.name}: data of shape [${t.shape}]`).toBe(size(t.shape));
});

test('devices: vulkan present when EDGETRAIN_REQUIRE_VULKAN=1', () => {
  expect(testDevices).toContain('cpu');
  const vk = allDevices.find((d) => d.name === 'vulkan');
  if (requireVulkan) expect(vk?.available, `vulkan required but not available: ${vk?.reason ?? 'not built'}`).toBe(true);
  else if (!vk?.available) console.info(`vulkan not tested: ${vk?.reason ?? 'not built into this addon'}`);
});

describe.each(testDevices)('%s', (device) => {
  test.each(CASES.map((c) => [c.name, c] as const))(`${device} %s`, (_name, c) => checkCase(c, device));
  test.each(FD_CASES.map((c) => [c.name, c] as const))(`${device} %s (finite differences)`, (_name, c) => checkFiniteDifferences(c, device));
  test(`${device} dropout properties`, () => checkDropout(device));
  test(`${device} randn/rand properties`, () => checkRandom(device));
});

afterAll(() => {
  const lines = [...unsupported].map(([d, ops]) => `  ${d}: ${[...ops].join(', ')}`);
  if (lines.length) console.info(`ops answered with DeviceError (not implemented on that device):\n${lines.join('\n')}`);
});
