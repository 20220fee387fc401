// Native-level checks of the Vulkan backend: every op it supports is run through the raw addon
// (shared meta protocol, bindings/exec.cpp) and compared with a JS reference.
// Skips when no Vulkan device is available, unless EDGETRAIN_REQUIRE_VULKAN=1 (CI), where it fails.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require_ = createRequire(import.meta.url);
// EDGETRAIN_ADDON points at another build folder (several people building at once)
const addonPath = process.env.EDGETRAIN_ADDON ?? require_.resolve('../build/Release/edgetrain.node');
const addon = require_(addonPath);
const vk = (addon.devices() as { name: string; available: boolean; reason?: string }[]).find(
  (d) => d.name === 'vulkan',
)!;
const required = process.env.EDGETRAIN_REQUIRE_VULKAN === '1';

// ---------------------------------------------------------------------------------------------
// meta protocol
const OPS: string[] = addon.opNames();
const L = addon.callLayout;
const meta = new Float64Array(L.size);
addon.setMeta(meta);

const DT = { f32: 0, f16: 1, bf16: 2, i32: 3, u8: 4 } as const;
type Dt = keyof typeof DT;
const SIZE: Record<Dt, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, u8: 1 };

interface T {
  h: unknown;
  dtype: Dt;
  shape: number[];
  strides: number[];
  offset: number;
  elems: number; // buffer capacity in elements
}

const contig = (shape: number[]) => {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1]! * shape[d + 1]!;
  return s;
};
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------------------------------------
// host-side dtype conversions (round to nearest even, as csrc/dtype.h)
const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
function f32ToBits(x: number) {
  f32buf[0] = x;
  return u32buf[0]!;
}
function bitsToF32(b: number) {
  u32buf[0] = b >>> 0;
  return f32buf[0]!;
}
function f32ToF16(x: number): number {
  const u = f32ToBits(x);
  const sign = (u >>> 16) & 0x8000;
  const e = ((u >>> 23) & 0xff) - 127 + 15;
  let man = u & 0x7fffff;
  if (((u >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    man |= 0x800000;
    const shift = 14 - e;
    const half = 2 ** (shift - 1);
    let r = Math.floor(man / 2 ** shift);
    const rem = man % 2 ** shift;
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}
function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
function f32ToBf16(x: number): number {
  let u = f32ToBits(x);
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  u = (u + 0x7fff + ((u >>> 16) & 1)) >>> 0;
  return u >>> 16;
}
const bf16ToF32 = (b: number) => bitsToF32(b << 16);

// raw storage value of a logical number
function encode(dt: Dt, x: number): number {
  switch (dt) {
    case 'f32':
      return Math.fround(x);
    case 'f16':
      return f32ToF16(x);
    case 'bf16':
      return f32ToBf16(x);
    case 'i32':
      return x | 0;
    case 'u8':
      return x & 0xff;
  }
}
function decode(dt: Dt, v: number): number {
  if (dt === 'f16') return f16ToF32(v);
  if (dt === 'bf16') return bf16ToF32(v);
  return v;
}
function typed(dt: Dt, n: number) {
  switch (dt) {
    case 'f32':
      return new Float32Array(n);
    case 'f16':
    case 'bf16':
      return new Uint16Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u8':
      return new Uint8Array(n);
  }
}
function view(dt: Dt, ab: ArrayBuffer) {
  switch (dt) {
    case 'f32':
      return new Float32Array(ab);
    case 'f16':
    case 'bf16':
      return new Uint16Array(ab);
    case 'i32':
      return new Int32Array(ab);
    case 'u8':
      return new Uint8Array(ab);
  }
}

// ---------------------------------------------------------------------------------------------
// tensors on the vulkan device
const live: unknown[] = [];

/** A buffer of `elems` elements filled with `storage` (raw values), viewed as shape/strides/offset. */
function tensorRaw(dt: Dt, storage: ArrayLike<number>, shape: number[], strides?: number[], offset = 0): T {
  const elems = storage.length;
  const h = addon.alloc('vulkan', elems * SIZE[dt]);
  live.push(h);
  const arr = typed(dt, elems);
  for (let i = 0; i < elems; i++) arr[i] = storage[i]!;
  if (elems) addon.upload(h, 0, arr);
  return { h, dtype: dt, shape, strides: strides ?? contig(shape), offset, elems };
}
/** Contiguous tensor from logical values. */
function tensor(dt: Dt, values: ArrayLike<number>, shape: number[]): T {
  return tensorRaw(dt, Array.from(values, (x) => encode(dt, x)), shape);
}
function empty(dt: Dt, shape: number[]): T {
  return tensorRaw(dt, new Array(Math.max(numel(shape), 0)).fill(0), shape);
}
/** All raw storage of the tensor's buffer. */
function storage(t: T): number[] {
  if (!t.elems) return [];
  return Array.from(view(t.dtype, addon.download(t.h, 0, t.elems * SIZE[t.dtype])));
}
/** Logical values of the view, row-major. */
function read(t: T): number[] {
  const raw = storage(t);
  const out: number[] = [];
  const n = numel(t.shape);
  for (let i = 0; i < n; i++) out.push(decode(t.dtype, raw[elemOffset(t, i)]!));
  return out;
}
function elemOffset(t: T, i: number) {
  let off = t.offset;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    const idx = i % t.shape[d]!;
    i = Math.floor(i / t.shape[d]!);
    off += idx * t.strides[d]!;
  }
  return off;
}
/** Logical values of any view (inputs too), for references. */
const values = read;

function call(op: string, ins: T[], outs: T[], params: number[] = []) {
  const id = OPS.indexOf(op);
  if (id < 0) throw new Error(`unknown op ${op}`);
  meta.fill(0);
  meta[0] = id;
  meta[1] = ins.length;
  meta[2] = outs.length;
  [...ins, ...outs].forEach((t, i) => {
    const b = L.header + L.slot * i;
    meta[b] = DT[t.dtype];
    meta[b + 1] = t.shape.length;
    meta[b + 2] = t.offset;
    t.shape.forEach((s, d) => (meta[b + 3 + d] = s));
    t.strides.forEach((s, d) => (meta[b + 3 + L.maxDims + d] = s));
  });
  params.forEach((p, j) => (meta[L.params + j] = p));
  addon.exec(...[...ins, ...outs].map((t) => t.h));
}

// deterministic random numbers
let seed = 12345;
function rand() {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
}
const randn = (n: number, lo = -1, hi = 1) => Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * rand()));

function close(got: number[], want: number[], rtol: number, atol = rtol, what = '') {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w)) {
      if (!Number.isNaN(g)) throw new Error(`${what}[${i}]: got ${g}, want NaN`);
      continue;
    }
    if (!Number.isFinite(w)) {
      if (g !== w) throw new Error(`${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) throw new Error(`${what}[${i}]: got ${g}, want ${w}`);
  }
}

// erf to ~1e-12 (series / continued fraction); JS has no Math.erf
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = 0;
    let term = ax;
    for (let n = 0; n < 100; n++) {
      sum += term / (2 * n + 1);
      term *= (-ax * ax) / (n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc continued fraction
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

const SQ2PI = Math.sqrt(2 / Math.PI);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const UNARY: Record<string, [(x: number, p: number[]) => number, number[], number, [number, number]]> = {
  // op: [reference, params, rtol, input range]
  affine: [(x, p) => x * p[0]! + p[1]!, [1.5, -0.25], 1e-5, [-2, 2]],
  exp: [Math.exp, [], 1e-3, [-5, 5]],
  log: [Math.log, [], 1e-3, [0.01, 10]],
  sqrt: [Math.sqrt, [], 1e-5, [0, 10]],
  rsqrt: [(x) => 1 / Math.sqrt(x), [], 1e-5, [0.01, 10]],
  abs: [Math.abs, [], 1e-6, [-3, 3]],
  sign: [Math.sign, [], 0, [-3, 3]],
  relu: [(x) => Math.max(x, 0), [], 0, [-3, 3]],
  geluTanh: [(x) => 0.5 * x * (1 + Math.tanh(SQ2PI * (x + 0.044715 * x ** 3))), [], 1e-3, [-5, 5]],
  geluErf: [(x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), [], 1e-3, [-5, 5]],
  silu: [(x) => x * sigmoid(x), [], 1e-3, [-8, 8]],
  sigmoid: [sigmoid, [], 1e-3, [-8, 8]],
  tanh: [Math.tanh, [], 1e-3, [-4, 4]],
  powScalar: [(x, p) => x ** p[0]!, [2.5], 1e-3, [0, 3]],
};
const BINARY: Record<string, [(a: number, b: number) => number, number]> = {
  add: [(a, b) => a + b, 1e-6],
  sub: [(a, b) => a - b, 1e-6],
  mul: [(a, b) => a * b, 1e-6],
  div: [(a, b) => a / b, 1e-5],
  maximum: [Math.max, 0],
  minimum: [Math.min, 0],
  reluBwd: [(x, dy) => (x > 0 ? dy : 0), 0],
  geluTanhBwd: [
    (x, dy) => {
      const t = Math.tanh(SQ2PI * (x + 0.044715 * x ** 3));
      return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQ2PI * (1 + 3 * 0.044715 * x * x));
    },
    1e-3,
  ],
  geluErfBwd: [
    (x, dy) => dy * (0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI)),
    1e-3,
  ],
  siluBwd: [
    (x, dy) => {
      const s = sigmoid(x);
      return dy * s * (1 + x * (1 - s));
    },
    1e-3,
  ],
};
const CMP: Record<string, (a: number, b: number) => boolean> = {
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
};

function refMatmul(a: T, b: T, oshape: number[]): { want: number[]; scale: number[] } {
  const av = values(a);
  const bv = values(b);
  const nd = oshape.length;
  const [M, N] = [oshape[nd - 2]!, oshape[nd - 1]!];
  const K = a.shape[a.shape.length - 1]!;
  const batch = numel(oshape.slice(0, -2));
  const abatch = numel(a.shape.slice(0, -2));
  const bbatch = numel(b.shape.slice(0, -2));
  const want: number[] = [];
  const scale: number[] = [];
  for (let z = 0; z < batch; z++) {
    const za = abatch === 1 ? 0 : z; // tests broadcast whole batches only
    const zb = bbatch === 1 ? 0 : z;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        let sa = 0;
        for (let k = 0; k < K; k++) {
          const p = av[za * M * K + i * K + k]! * bv[zb * K * N + k * N + j]!;
          s += p;
          sa += Math.abs(p);
        }
        want.push(s);
        scale.push(sa);
      }
  }
  return { want, scale };
}

// ---------------------------------------------------------------------------------------------
describe('vulkan backend availability', () => {
  it.runIf(required)('is available (EDGETRAIN_REQUIRE_VULKAN=1)', () => {
    expect(vk.available, `vulkan unavailable: ${vk.reason}`).toBe(true);
  });
  it('reports a description or a reason', () => {
    if (vk.available) expect(typeof (vk as { description?: string }).description).toBe('string');
    else expect(vk.reason).toMatch(/\w/);
  });
});

describe('vulkan without a driver', () => {
  it('the addon loads and reports vulkan unavailable with a reason', () => {
    const script =
      "const a = require(process.argv[1]); const v = a.devices().find((d) => d.name === 'vulkan');" +
      'console.log(JSON.stringify(v));';
    const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: '/nonexistent', VK_DRIVER_FILES: '/nonexistent' };
    delete env.VK_ADD_DRIVER_FILES;
    const r = spawnSync(process.execPath, ['-e', script, addonPath], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout.trim());
    expect(v.available).toBe(false);
    expect(v.reason).toMatch(/vulkan/i);
  });
});

describe.skipIf(!vk.available)('vulkan ops', () => {
  it('supports exactly the implemented ops', () => {
    const want = new Set([
      'fill', 'copy', 'sum', 'matmul', ...Object.keys(UNARY), ...Object.keys(BINARY), ...Object.keys(CMP), 'where',
    ]);
    for (const [i, name] of OPS.entries()) expect(addon.supportsOp('vulkan', i), name).toBe(want.has(name));
  });

  it('fill writes every dtype, including partial words at odd offsets', () => {
    for (const dt of ['f32', 'f16', 'bf16', 'i32', 'u8'] as Dt[]) {
      const base = tensorRaw(dt, new Array(23).fill(dt === 'f32' ? 7 : 7), [23]);
      const v: T = { ...base, shape: [3, 5], strides: [5, 1], offset: 3 };
      const value = dt === 'u8' ? 200 : dt === 'i32' ? -123456789 : -2.75;
      call('fill', [], [v], [value]);
      const raw = storage(base);
      for (let i = 0; i < 23; i++) {
        const want = i >= 3 && i < 18 ? encode(dt, value) : 7;
        expect(raw[i], `${dt}[${i}]`).toBe(want);
      }
    }
    // strided output with gaps
    const base = tensorRaw('u8', new Array(20).fill(9), [20]);
    call('fill', [], [{ ...base, shape: [4], strides: [5], offset: 1 }], [1]);
    expect(storage(base)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 5 === 1 && i < 20 ? 1 : 9)));
  });

  it('copy converts between dtypes', () => {
    const src = [0, 1, -1, 0.5, -2.75, 3.14159, 65504, 1e-5, -1e-7, 123.456, 70000, -0.0];
    const ints = [0, 1, -1, 2, 255, 256, -300, 2 ** 30, -(2 ** 31)];
    const cases: [Dt, Dt, number[]][] = [
      ['f32', 'f32', src],
      ['f32', 'f16', src],
      ['f32', 'bf16', src],
      ['f16', 'f32', src],
      ['bf16', 'f32', src],
      ['f32', 'i32', [0, 1.9, -1.9, 100.5, -7.2, 1e6]],
      ['f32', 'u8', [-1, -2.5, 256, 300.7]],
      ['i32', 'f32', [0, 1, -1, 16777216, -5, 123456]],
      ['u8', 'f32', [0, 1, 127, 128, 255, 3, 17]],
      ['f32', 'u8', [0, 1, 2.7, 255, 100]],
      ['i32', 'i32', ints],
      ['i32', 'u8', ints],
      ['u8', 'i32', [0, 1, 255, 77]],
      ['f16', 'bf16', [1, -2.5, 0.1]],
      ['u8', 'u8', [1, 2, 3, 4, 5, 6, 7]],
      ['f16', 'f16', [1, 2, 3, 4, 5]],
    ];
    for (const [from, to, vals] of cases) {
      const x = tensor(from, vals, [vals.length]);
      const y = empty(to, [vals.length]);
      call('copy', [x], [y]);
      const want = values(x).map((v) => decode(to, encode(to, v)));
      expect(read(y), `${from}->${to}`).toEqual(want);
    }
  });

  it('copy handles strided inputs and strided outputs (writing into a slice)', () => {
    // transpose a [5,7] into [7,5]
    const a = tensor('f32', randn(35), [5, 7]);
    const at: T = { ...a, shape: [7, 5], strides: [1, 7] };
    const y = empty('f32', [7, 5]);
    call('copy', [at], [y]);
    expect(read(y)).toEqual(values(at));
    // write [3,4] into columns 2..5 of a [3,9] buffer, other elements untouched (f32, f16, u8)
    for (const dt of ['f32', 'f16', 'u8'] as Dt[]) {
      const src = tensor('f32', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 4]);
      const dst = tensorRaw(dt, new Array(27).fill(encode(dt, 99)), [27]);
      const slice: T = { ...dst, shape: [3, 4], strides: [9, 1], offset: 2 };
      call('copy', [src], [slice]);
      const raw = storage(dst).map((v) => decode(dt, v));
      const want = new Array(27).fill(99);
      for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) want[i * 9 + 2 + j] = 1 + i * 4 + j;
      expect(raw, dt).toEqual(want);
    }
    // negative strides (reversal)
    const r = tensor('f32', [1, 2, 3, 4, 5, 6], [6]);
    const rev = empty('f32', [6]);
    call('copy', [{ ...r, strides: [-1], offset: 5 }], [rev]);
    expect(read(rev)).toEqual([6, 5, 4, 3, 2, 1]);
    // broadcast (stride 0) input
    const row = tensor('f32', [1, 2, 3], [3]);
    const out = empty('f16', [4, 3]);
    call('copy', [{ ...row, shape: [4, 3], strides: [0, 1] }], [out]);
    expect(read(out)).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
  });

  it('unary ops match the reference (contiguous and transposed inputs)', () => {
    for (const [op, [ref, params, rtol, [lo, hi]]] of Object.entries(UNARY)) {
      const x = tensor('f32', randn(6 * 37, lo, hi), [6, 37]);
      const y = empty('f32', [6, 37]);
      call(op, [x], [y], params);
      close(read(y), values(x).map((v) => ref(v, params)), rtol, rtol === 0 ? 0 : 1e-6, op);
      const xt: T = { ...x, shape: [37, 6], strides: [1, 37] };
      const yt = empty('f32', [37, 6]);
      call(op, [xt], [yt], params);
      close(read(yt), values(xt).map((v) => ref(v, params)), rtol, rtol === 0 ? 0 : 1e-6, `${op} transposed`);
    }
  });

  it('unary edge cases: sign(0), log/sqrt of 0 and negatives, pow with integer exponents', () => {
    const x = tensor('f32', [0, -0, 2, -2, -0.5, 1], [6]);
    const run = (op: string, p: number[] = []) => {
      const y = empty('f32', [6]);
      call(op, [x], [y], p);
      return read(y);
    };
    expect(run('sign')).toEqual([0, 0, 1, -1, -1, 1]);
    const special = tensor('f32', [NaN, Infinity, -Infinity, 3e9, -3e9], [5]);
    const sy = empty('f32', [5]);
    call('sign', [special], [sy]);
    expect(read(sy)).toEqual([0, 1, -1, 1, -1]);
    const si = empty('i32', [5]);
    call('copy', [special], [si]);
    expect(read(si)).toEqual([0, 2147483647, -2147483648, 2147483647, -2147483648]);
    const su = empty('u8', [5]);
    call('copy', [special], [su]);
    expect(read(su)).toEqual([0, 0, 0, 0, 0]);
    const lg = run('log');
    expect(lg[0]).toBe(-Infinity);
    expect(lg[3]).toBeNaN();
    expect(run('sqrt')[3]).toBeNaN();
    expect(run('rsqrt')[0]).toBe(Infinity);
    close(run('powScalar', [3]), [0, 0, 8, -8, -0.125, 1], 1e-6, 0, 'pow3');
    close(run('powScalar', [2]), [0, 0, 4, 4, 0.25, 1], 1e-6, 0, 'pow2');
    close(run('powScalar', [-2]).slice(2), [0.25, 0.25, 4, 1], 1e-5, 0, 'pow-2');
    expect(run('powScalar', [0.5])[3]).toBeNaN();
    const big = tensor('f32', [-100, 100, -30, 30], [4]);
    for (const op of ['tanh', 'sigmoid', 'geluTanh', 'geluErf', 'silu']) {
      const y = empty('f32', [4]);
      call(op, [big], [y]);
      for (const v of read(y)) expect(Number.isFinite(v), op).toBe(true);
    }
  });

  it('binary ops match the reference, with broadcasting', () => {
    for (const [op, [ref, rtol]] of Object.entries(BINARY)) {
      const a = tensor('f32', randn(4 * 5 * 3, -3, 3), [4, 5, 3]);
      const b0 = tensor('f32', randn(5 * 3, -3, 3).map((v) => (op === 'div' && Math.abs(v) < 0.1 ? 0.5 : v)), [5, 3]);
      const b: T = { ...b0, shape: [4, 5, 3], strides: [0, 3, 1] }; // broadcast over dim 0
      const y = empty('f32', [4, 5, 3]);
      call(op, [a, b], [y]);
      const av = values(a);
      const bv = values(b);
      close(read(y), av.map((v, i) => ref(v, bv[i]!)), rtol, 1e-6, op);
      // scalar-broadcast lhs, transposed rhs
      const s = tensor('f32', [0.75], [1]);
      const sb: T = { ...s, shape: [3, 4], strides: [0, 0] };
      const c0 = tensor('f32', randn(12, 0.5, 2), [4, 3]);
      const ct: T = { ...c0, shape: [3, 4], strides: [1, 3] };
      const y2 = empty('f32', [3, 4]);
      call(op, [sb, ct], [y2]);
      const cv = values(ct);
      close(read(y2), cv.map((v) => ref(0.75, v)), rtol, 1e-6, `${op} scalar`);
    }
  });

  it('maximum/minimum propagate NaN', () => {
    const a = tensor('f32', [NaN, 1, 2], [3]);
    const b = tensor('f32', [0, NaN, 1], [3]);
    const y = empty('f32', [3]);
    call('maximum', [a, b], [y]);
    const r = read(y);
    expect(r[0]).toBeNaN();
    expect(r[1]).toBeNaN();
    expect(r[2]).toBe(2);
  });

  it('comparisons write uint8 0/1 (odd sizes, offsets and broadcasts)', () => {
    for (const [op, ref] of Object.entries(CMP)) {
      const av = randn(7 * 5, -2, 2).map((v, i) => (i % 4 === 0 ? 0.5 : v));
      const a = tensor('f32', av, [7, 5]);
      const b0 = tensor('f32', [0.5, -1, 0, 1, 0.5], [5]);
      const b: T = { ...b0, shape: [7, 5], strides: [0, 1] };
      const y = empty('u8', [7, 5]);
      call(op, [a, b], [y]);
      const bv = values(b);
      expect(read(y), op).toEqual(values(a).map((v, i) => (ref(v, bv[i]!) ? 1 : 0)));
      // output at an odd offset inside a larger buffer: neighbours stay intact
      const base = tensorRaw('u8', new Array(40).fill(7), [40]);
      const yo: T = { ...base, shape: [7, 5], strides: [5, 1], offset: 3 };
      call(op, [a, b], [yo]);
      const raw = storage(base);
      expect(raw.slice(0, 3)).toEqual([7, 7, 7]);
      expect(raw.slice(38)).toEqual([7, 7]);
      expect(read(yo), `${op} offset`).toEqual(read(y));
    }
    const nan = tensor('f32', [NaN], [1]);
    const y = empty('u8', [1]);
    call('ne', [nan, nan], [y]);
    expect(read(y)).toEqual([1]);
    call('eq', [nan, nan], [y]);
    expect(read(y)).toEqual([0]);
  });

  it('where selects per element with broadcast operands', () => {
    const cond = tensor('u8', [1, 0, 0, 1, 1, 0, 2, 0, 1], [3, 3]);
    const a = tensor('f32', randn(9), [3, 3]);
    const b0 = tensor('f32', [10, 20, 30], [3]);
    const b: T = { ...b0, shape: [3, 3], strides: [1, 0] }; // column broadcast
    const y = empty('f32', [3, 3]);
    call('where', [cond, a, b], [y]);
    const cv = values(cond);
    const av = values(a);
    const bv = values(b);
    expect(read(y)).toEqual(cv.map((c, i) => (c ? av[i] : bv[i])));
  });

  it('sum reduces trailing dims of strided views', () => {
    const cases: [number[], number, number[] | null][] = [
      [[4, 6], 1, null],
      [[3, 4, 5], 2, null],
      [[3, 4, 5], 3, null],
      [[3, 4], 0, null],
      [[5, 1000], 1, null], // workgroup per row
      [[5000, 3], 1, null], // thread per row
      [[2, 3, 4], 1, [1, 8, 2]], // strided (permuted) input
      [[6, 7], 1, [1, 6]], // transposed
      [[1, 70000], 1, null],
    ];
    for (const [shape, red, strides] of cases) {
      const n = numel(shape);
      const span = strides ? shape.reduce((s, d, i) => s + (d - 1) * strides[i]!, 1) : n;
      const x0 = tensor('f32', randn(span), [span]);
      const x: T = { ...x0, shape, strides: strides ?? contig(shape) };
      const lead = shape.slice(0, shape.length - red);
      const y = empty('f32', lead.length ? lead : [1]);
      call('sum', [x], [{ ...y, shape: lead, strides: contig(lead) }], [red]);
      const xv = values(x);
      const rows = numel(lead);
      const cnt = n / rows;
      const want: number[] = [];
      const scale: number[] = [];
      for (let r = 0; r < rows; r++) {
        let s = 0;
        let sa = 0;
        for (let k = 0; k < cnt; k++) {
          s += xv[r * cnt + k]!;
          sa += Math.abs(xv[r * cnt + k]!);
        }
        want.push(s);
        scale.push(sa);
      }
      const got = read({ ...y, shape: [rows], strides: [1] });
      for (let i = 0; i < rows; i++)
        expect(Math.abs(got[i]! - want[i]!), `sum ${shape} red ${red} [${i}]`).toBeLessThanOrEqual(1e-5 * scale[i]! + 1e-6);
    }
  });

  it('matmul matches a naive loop (odd sizes, transposes, batch broadcast)', () => {
    const check = (a: T, b: T, oshape: number[], what: string) => {
      const y = empty('f32', oshape);
      call('matmul', [a, b], [y]);
      const { want, scale } = refMatmul(a, b, oshape);
      const got = read(y);
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++)
        if (!(Math.abs(got[i]! - want[i]!) <= 1e-5 * scale[i]! + 1e-6))
          throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
    };
    const mk = (shape: number[]) => tensor('f32', randn(numel(shape)), shape);
    // transposed view of a fresh [.., c, r] tensor: shape [.., r, c], unit stride on dim -2
    const mkT = (shape: number[]) => {
      const nd = shape.length;
      const st = [...shape];
      [st[nd - 2], st[nd - 1]] = [shape[nd - 1]!, shape[nd - 2]!];
      const t = mk(st);
      const s = [...t.strides];
      [s[nd - 2], s[nd - 1]] = [t.strides[nd - 1]!, t.strides[nd - 2]!];
      return { ...t, shape, strides: s };
    };
    check(mk([2, 3]), mk([3, 4]), [2, 3 + 1], '2x3x4');
    check(mk([37, 53]), mk([53, 29]), [37, 29], '37x53x29');
    check(mk([1, 300]), mk([300, 1]), [1, 1], '1x300x1');
    check(mk([130, 70]), mk([70, 200]), [130, 200], '130x70x200');
    check(mkT([37, 53]), mk([53, 29]), [37, 29], 'aT');
    check(mk([37, 53]), mkT([53, 29]), [37, 29], 'bT');
    check(mkT([65, 17]), mkT([17, 66]), [65, 66], 'aT bT');
    check(mk([3, 37, 53]), mk([3, 53, 29]), [3, 37, 29], 'batched');
    const b = mk([53, 29]);
    check(mk([3, 37, 53]), { ...b, shape: [3, 53, 29], strides: [0, 29, 1] }, [3, 37, 29], 'b broadcast');
    const a = mkT([37, 53]);
    check({ ...a, shape: [2, 37, 53], strides: [0, ...a.strides] }, mk([2, 53, 29]), [2, 37, 29], 'a broadcast');
    check(mk([4, 0]), mk([0, 5]), [4, 5], 'K=0');
  });

  it('queues work asynchronously: long chains, and free() of buffers still in use', () => {
    const n = 1000;
    const x = tensor('f32', randn(n), [n]);
    let cur = x;
    let want = values(x);
    for (let i = 0; i < 300; i++) {
      // more dispatches than one submitted batch holds
      const y = empty('f32', [n]);
      call('affine', [cur], [y], [1.001, 0.001]);
      if (cur !== x) addon.free(cur.h); // freed while the affine reading it is still queued
      want = want.map((v) => Math.fround(Math.fround(v * Math.fround(1.001)) + Math.fround(0.001)));
      cur = y;
    }
    close(read(cur), want, 1e-5, 1e-6, 'chain');
    addon.sync('vulkan');
    const mem = addon.memory().vulkan;
    expect(mem.liveBuffers).toBeGreaterThan(0);
    expect(mem.peakBytes).toBeGreaterThanOrEqual(mem.liveBytes);
  });

  it('upload after queued reads is ordered after them', () => {
    const a = tensor('f32', [1, 2, 3, 4], [4]);
    const y = empty('f32', [4]);
    call('affine', [a], [y], [2, 0]);
    addon.upload(a.h, 0, new Float32Array([10, 20, 30, 40])); // must not affect the queued affine
    const y2 = empty('f32', [4]);
    call('affine', [a], [y2], [2, 0]);
    expect(read(y)).toEqual([2, 4, 6, 8]);
    expect(read(y2)).toEqual([20, 40, 60, 80]);
    // partial download at an offset
    expect(Array.from(new Float32Array(addon.download(y2.h, 8, 8)))).toEqual([60, 80]);
  });

  it('holds 128 MiB buffers and rejects larger ones clearly', () => {
    const bytes = 128 * 1024 * 1024;
    const h = addon.alloc('vulkan', bytes);
    const n = bytes / 4;
    call('fill', [], [{ h, dtype: 'f32', shape: [n], strides: [1], offset: 0, elems: n }], [3.5]);
    expect(Array.from(new Float32Array(addon.download(h, bytes - 8, 8)))).toEqual([3.5, 3.5]);
    addon.free(h);
    expect(() => addon.alloc('vulkan', bytes * 2)).toThrow(/maxStorageBufferRange/);
    addon.emptyCache('vulkan');
  });

  it('returns errors naming the op and shapes', () => {
    const a = tensor('f32', randn(6), [2, 3]);
    const b = tensor('f32', randn(8), [4, 2]);
    const y = empty('f32', [2, 2]);
    expect(() => call('matmul', [a, b], [y])).toThrow(/^ShapeError: matmul: .*float32\[2,3\], float32\[4,2\]/);
    const i = tensor('i32', [1, 2], [2]);
    const yi = empty('f32', [2]);
    expect(() => call('exp', [i], [yi])).toThrow(/^DTypeError: exp: input x must be float32, got int32/);
    const y3 = empty('f32', [3]);
    expect(() => call('add', [i, i], [y3])).toThrow(/add/);
    expect(() => call('softmax', [a], [a])).toThrow(/^DeviceError: softmax/);
    const ym = empty('f32', [2]);
    expect(() => call('sum', [a], [ym], [1.5])).toThrow(/^ValueError: sum/);
  });
});
