// The float32 elementwise ops give the same bits whatever the operands' layout: contiguous
// (vulkan: elementwise_f32.comp with vec4 loads), contiguous at an offset that is not a
// multiple of 4 (its scalar loads), a broadcast scalar, and strided (the general
// elementwise.comp), on special values (NaN, +-inf, +-0, subnormals, huge) and ordinary ones.
// Every NaN counts as one: which NaN a product of two NaNs keeps (its sign) follows the operand
// order the compiler picked, on cpu (vector vs scalar loops) as on vulkan.
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { runKernel } from '../lib/native/run.js';
import type { OpName } from '../lib/native/ops.js';
import { testDevices } from './helpers/devices.js';

const UNARY: OpName[] = ['affine', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'relu', 'geluTanh', 'geluErf', 'silu', 'sigmoid', 'tanh', 'powScalar'];
const BINARY: OpName[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'reluBwd', 'geluTanhBwd', 'geluErfBwd', 'siluBwd'];
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 3.4e38, -3.4e38, 1, -1, 0.5, 2, 88.7, -88.7, 20, -20, 1e-8];
const n = 1003; // not a multiple of 4: the last invocation has a partial vec4

function data(): [Float32Array, Float32Array] {
  const a = new Float32Array(n), b = new Float32Array(n);
  const k = SPECIAL.length;
  for (let i = 0; i < n; i++) {
    a[i] = i < k * k ? SPECIAL[i % k]! : Math.sin(i * 1.3) * (i % 7 === 0 ? 100 : 4);
    b[i] = i < k * k ? SPECIAL[Math.floor(i / k)]! : Math.cos(i * 0.37) * 3;
  }
  return [a, b];
}

describe.each(testDevices)('%s', (device) => {
  const d = { device };
  const contiguous = (v: Float32Array) => et.tensor(v, [n], d);
  const atOffset1 = (v: Float32Array) => {
    const w = new Float32Array(n + 1);
    w.set(v, 1);
    return et.tensor(w, [n + 1], d).view([n], [1], 1);
  };
  const strided = (v: Float32Array) => {
    const w = new Float32Array(2 * n);
    v.forEach((x, i) => (w[2 * i] = x));
    return et.tensor(w, [2 * n], d).view([n], [2], 0);
  };
  const scalar = (x: number) => et.tensor(new Float32Array([x]), [1], d).view([n], [0], 0);
  const bits = (t: et.Tensor) =>
    Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer), (u) => ((u & 0x7fffffff) > 0x7f800000 ? 0x7fc00000 : u));
  const run = (op: OpName, ins: et.Tensor[]) =>
    bits(runKernel(op, ins, [{ shape: [n], dtype: 'float32' }], op === 'affine' ? [1.7, -0.3] : op === 'powScalar' ? [2.5] : [])[0]!);

  test.each([...UNARY, ...BINARY])('%s', (op) => {
    et.tidy(() => {
      const [a, b] = data();
      const unary = UNARY.includes(op);
      const ins = (mk: (v: Float32Array) => et.Tensor) => (unary ? [mk(a)] : [mk(a), mk(b)]);
      const want = run(op, ins(strided));
      expect(run(op, ins(contiguous))).toEqual(want);
      expect(run(op, ins(atOffset1))).toEqual(want);
      if (unary) return;
      for (const s of [NaN, -0, 2.5]) {
        const full = new Float32Array(n).fill(s);
        expect(run(op, [contiguous(a), scalar(s)])).toEqual(run(op, [strided(a), strided(full)]));
        expect(run(op, [scalar(s), atOffset1(a)])).toEqual(run(op, [strided(full), strided(a)]));
      }
    });
  });
});
