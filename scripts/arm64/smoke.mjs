// arm64 smoke check (run by scripts/arm64-check.sh under qemu-user, but plain node works too).
//   EDGETRAIN_ADDON=/abs/path/edgetrain.node node scripts/arm64/smoke.mjs [bundle.js]
// Part 1 drives the raw addon through the meta protocol of bindings/exec.cpp (its layout read
// from addon.callLayout): alloc/upload/exec/download of matmuls (every NEON micro-kernel
// path: full 8x12 tiles, edge tiles, transposed and strided operands, batches, GEMV) and a few
// elementwise / row ops, each compared with a JS reference. It needs nothing from lib/.
// Part 2, when a bundle of lib/index.ts is given (tsup output), runs the same kind of checks
// through the public Tensor API including one backward pass.
// Exits 1 on any mismatch. Prints timings.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require_ = createRequire(import.meta.url);
const addonPath = process.env.EDGETRAIN_ADDON;
if (!addonPath) {
  console.error('smoke: set EDGETRAIN_ADDON to the edgetrain.node to test');
  process.exit(2);
}
const t0 = performance.now();
const addon = require_(addonPath);
const ms = (t) => (performance.now() - t).toFixed(0) + ' ms';
console.log(`smoke: node ${process.version} ${process.arch}, addon loaded in ${ms(t0)}`);

let failures = 0;
const fail = (msg) => {
  failures++;
  console.error('FAIL ' + msg);
};
const ok = (msg) => console.log('ok   ' + msg);

// ---------------------------------------------------------------------------------------------
// ISA
const isa = addon.cpuIsa();
const cpu = addon.devices().find((d) => d.name === 'cpu');
console.log(`cpuIsa() = ${isa}; cpu: ${cpu?.description}`);
const wantIsa = process.env.SMOKE_EXPECT_ISA ?? (process.arch === 'arm64' ? 'neon' : null);
if (wantIsa && isa !== wantIsa) fail(`cpuIsa() is '${isa}', expected '${wantIsa}'`);
else if (wantIsa) ok(`cpuIsa() === '${wantIsa}'`);

// ---------------------------------------------------------------------------------------------
// meta protocol (addon.callLayout: header, then per argument dtype, ndim, offset, shape, strides)
const OPS = addon.opNames();
const L = addon.callLayout;
const meta = new Float64Array(L.size);
addon.setMeta(meta);
const DT = { f32: 0, i32: 3, u8: 4 };
const live = [];

const contig = (shape) => {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
};
const numel = (shape) => shape.reduce((a, b) => a * b, 1);

/** f32 tensor on the cpu device: buffer holds `storage`, viewed as shape/strides/offset. */
function tensorRaw(storage, shape, strides, offset = 0) {
  const h = addon.alloc('cpu', Math.max(1, storage.length) * 4);
  live.push(h);
  if (storage.length) addon.upload(h, 0, Float32Array.from(storage));
  return { h, dtype: 'f32', shape, strides: strides ?? contig(shape), offset, elems: storage.length };
}
const empty = (shape) => tensorRaw(new Float32Array(numel(shape)), shape);
function read(t) {
  const raw = new Float32Array(addon.download(t.h, 0, t.elems * 4));
  const out = new Float64Array(numel(t.shape));
  for (let i = 0; i < out.length; i++) {
    let rem = i;
    let off = t.offset;
    for (let d = t.shape.length - 1; d >= 0; d--) {
      off += (rem % t.shape[d]) * t.strides[d];
      rem = Math.floor(rem / t.shape[d]);
    }
    out[i] = raw[off];
  }
  return out;
}
function call(op, ins, outs, params = []) {
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

let seed = 12345;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0), seed / 2 ** 32);
const randArr = (n, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

function compare(what, got, want, rtol, atol) {
  if (got.length !== want.length) return fail(`${what}: ${got.length} values, want ${want.length}`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    const err = Math.abs(g - w);
    if (!(err <= atol + rtol * Math.abs(w))) return fail(`${what}[${i}]: got ${g}, want ${w}`);
    worst = Math.max(worst, err);
  }
  ok(`${what} (max abs err ${worst.toExponential(1)})`);
}

// ---------------------------------------------------------------------------------------------
// matmul: out[b] = A[b] (M x K) . B[b] (K x N). A / B given as logical row-major values, stored
// either row-major or transposed (unit stride in the other dim), optionally with padded rows.
function matmulCase({ batch = 1, M, K, N, ta = false, tb = false, pad = 0, bcastB = false }) {
  const A = randArr(batch * M * K);
  const nb = bcastB ? 1 : batch;
  const B = randArr(nb * K * N);
  // storage
  const store = (vals, bt, R, C, trans, count) => {
    const ld = (trans ? R : C) + pad; // leading dim of the stored matrix
    const rows = trans ? C : R;
    const per = rows * ld;
    const s = new Float32Array(count * per);
    for (let b = 0; b < count; b++)
      for (let i = 0; i < R; i++)
        for (let j = 0; j < C; j++) {
          const v = vals[b * R * C + i * C + j];
          s[b * per + (trans ? j * ld + i : i * ld + j)] = v;
        }
    const strides = trans ? [1, ld] : [ld, 1];
    return { s, strides, per };
  };
  const sa = store(A, 'a', M, K, ta, batch);
  const sb = store(B, 'b', K, N, tb, nb);
  const a = tensorRaw(sa.s, [batch, M, K], [sa.per, ...sa.strides]);
  const b = tensorRaw(sb.s, [batch, K, N], [bcastB ? 0 : sb.per, ...sb.strides]);
  const y = empty([batch, M, N]);
  const t = performance.now();
  call('matmul', [a, b], [y]);
  const dt = performance.now() - t;
  const got = read(y);
  const want = new Float64Array(batch * M * N);
  for (let q = 0; q < batch; q++) {
    const bo = bcastB ? 0 : q * K * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[q * M * K + i * K + k] * B[bo + k * N + j];
        want[q * M * N + i * N + j] = s;
      }
  }
  const tag = `matmul ${batch > 1 ? batch + 'x' : ''}${M}x${K}x${N}${ta ? ' At' : ''}${tb ? ' Bt' : ''}${pad ? ' pad' + pad : ''}${bcastB ? ' bcastB' : ''}`;
  compare(`${tag} [${dt.toFixed(1)} ms]`, got, want, 1e-4, 1e-4 * Math.sqrt(K) + 1e-5);
}

const tm = performance.now();
for (const c of [
  { M: 3, K: 5, N: 4 }, // naive path
  { M: 8, K: 64, N: 12 }, // exactly one 8x12 NEON tile
  { M: 16, K: 96, N: 24 }, // 2x2 tiles, B read in place (direct_b)
  { M: 17, K: 33, N: 29 }, // edge tiles in both dims
  { M: 40, K: 130, N: 50, ta: true }, // A transposed (rsa == 1 pack path)
  { M: 40, K: 130, N: 50, tb: true }, // B transposed (Linear weight)
  { M: 37, K: 70, N: 45, ta: true, tb: true, pad: 3 },
  { M: 64, K: 600, N: 52 }, // K split into 2 blocks (KC 512): beta = 1 accumulate path
  { M: 150, K: 64, N: 100 }, // several MC blocks (MC 144), threaded
  { M: 1, K: 300, N: 70 }, // GEMV (M == 1)
  { M: 1, K: 300, N: 70, tb: true },
  { M: 70, K: 300, N: 1 }, // GEMV (N == 1)
  { batch: 3, M: 20, K: 30, N: 26 },
  { batch: 4, M: 9, K: 16, N: 13, bcastB: true },
])
  matmulCase(c);
console.log(`matmul checks: ${ms(tm)}`);

// ---------------------------------------------------------------------------------------------
// elementwise and row ops
{
  const te = performance.now();
  const n = 1000;
  const xv = randArr(n, -3, 3);
  const yv = randArr(n, -3, 3);
  const x = tensorRaw(xv, [n]);
  const y = tensorRaw(yv, [n]);
  const unary = {
    exp: [Math.exp, 1e-5],
    tanh: [Math.tanh, 1e-5],
    sigmoid: [(v) => 1 / (1 + Math.exp(-v)), 1e-5],
    silu: [(v) => v / (1 + Math.exp(-v)), 1e-5],
    relu: [(v) => Math.max(v, 0), 0],
    abs: [Math.abs, 0],
  };
  for (const [op, [f, tol]] of Object.entries(unary)) {
    const o = empty([n]);
    call(op, [x], [o]);
    compare(op, read(o), Array.from(xv, f), tol, 1e-6);
  }
  {
    const o = empty([n]);
    call('affine', [x], [o], [1.5, -0.25]);
    compare('affine', read(o), Array.from(xv, (v) => v * 1.5 - 0.25), 1e-6, 1e-6);
  }
  const binary = { add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, maximum: Math.max };
  for (const [op, f] of Object.entries(binary)) {
    const o = empty([n]);
    call(op, [x, y], [o]);
    compare(op, read(o), Array.from(xv, (v, i) => f(v, yv[i])), 1e-6, 1e-6);
  }
  // broadcast: [R, C] + [C] (stride 0 on the row dim)
  {
    const R = 25;
    const C = 40;
    const av = randArr(R * C);
    const bv = randArr(C);
    const o = empty([R, C]);
    call('add', [tensorRaw(av, [R, C]), tensorRaw(bv, [R, C], [0, 1])], [o]);
    compare('add broadcast [25,40]+[40]', read(o), Array.from(av, (v, i) => v + bv[i % C]), 1e-6, 1e-6);
  }
  // sum over the last dim, softmax rows
  {
    const R = 30;
    const C = 77;
    const v = randArr(R * C, -4, 4);
    const s = empty([R]);
    call('sum', [tensorRaw(v, [R, C])], [s], [1]);
    const ws = new Float64Array(R);
    for (let i = 0; i < R * C; i++) ws[Math.floor(i / C)] += v[i];
    compare('sum rows [30,77]', read(s), ws, 1e-5, 1e-5);
    const sm = empty([R, C]);
    call('softmax', [tensorRaw(v, [R, C])], [sm]);
    const w = new Float64Array(R * C);
    for (let r = 0; r < R; r++) {
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, v[r * C + c]);
      let z = 0;
      for (let c = 0; c < C; c++) z += Math.exp(v[r * C + c] - m);
      for (let c = 0; c < C; c++) w[r * C + c] = Math.exp(v[r * C + c] - m) / z;
    }
    compare('softmax [30,77]', read(sm), w, 1e-5, 1e-7);
  }
  console.log(`elementwise checks: ${ms(te)}`);
}

// ---------------------------------------------------------------------------------------------
// optimizer updates (csrc/cpu/optim.cpp has a NEON AdamW loop): two steps, in place
{
  const n = 1003; // vector body + scalar tail
  const p0 = randArr(n);
  const [lr, b1, b2, eps, wd, scale] = [1e-2, 0.9, 0.999, 1e-8, 0.1, 0.5];
  const P = tensorRaw(p0, [n]);
  const M = tensorRaw(new Float32Array(n), [n]);
  const V = tensorRaw(new Float32Array(n), [n]);
  const rp = Float64Array.from(p0);
  const rm = new Float64Array(n);
  const rv = new Float64Array(n);
  for (let step = 1; step <= 2; step++) {
    const gv = randArr(n);
    call('adamw', [P, tensorRaw(gv, [n]), M, V], [], [lr, b1, b2, eps, wd, step, scale]);
    for (let i = 0; i < n; i++) {
      const g = gv[i] * scale;
      rp[i] *= 1 - lr * wd;
      rm[i] = b1 * rm[i] + (1 - b1) * g;
      rv[i] = b2 * rv[i] + (1 - b2) * g * g;
      rp[i] -= (lr / (1 - b1 ** step)) * rm[i] / (Math.sqrt(rv[i]) / Math.sqrt(1 - b2 ** step) + eps);
    }
  }
  compare('adamw x2 param', read(P), rp, 1e-5, 1e-6);
  compare('adamw x2 exp_avg_sq', read(V), rv, 1e-5, 1e-9);
}

// ---------------------------------------------------------------------------------------------
// timing: one square matmul (under qemu only indicative of nothing but "it runs")
{
  const n = Number(process.env.SMOKE_BENCH_N ?? 256);
  const a = tensorRaw(randArr(n * n), [n, n]);
  const b = tensorRaw(randArr(n * n), [n, n]);
  const y = empty([n, n]);
  call('matmul', [a, b], [y]); // warm-up (thread pool, packing buffers)
  const reps = 3;
  const t = performance.now();
  for (let r = 0; r < reps; r++) call('matmul', [a, b], [y]);
  const s = (performance.now() - t) / reps / 1e3;
  console.log(
    `timing: matmul ${n}x${n}x${n}: ${(s * 1e3).toFixed(1)} ms, ${((2 * n ** 3) / s / 1e9).toFixed(2)} GFLOP/s ` +
      `(${addon.getThreads()} threads)`,
  );
}
for (const h of live) addon.free(h);

// ---------------------------------------------------------------------------------------------
// Part 2: the public API from a bundle of lib/index.ts
const bundle = process.argv[2];
if (bundle) {
  const tb = performance.now();
  try {
    const et = await import(pathToFileURL(bundle).href);
    console.log(`bundle ${bundle} loaded in ${ms(tb)}`);
    const arr = (t) => Array.from(t.dataSync());
    const x = et.tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    const w = et.tensor([[1, 0], [0, 1], [1, -1]], { requiresGrad: true });
    const y = et.matmul(x, w);
    compare('api matmul [2,3]x[3,2]', arr(y), [4, -1, 10, -1], 1e-6, 1e-6);
    et.mul(y, y).sum().backward();
    // d/dx sum(y^2) = 2 y w^T, d/dw = 2 x^T y
    const Y = [[4, -1], [10, -1]];
    const X = [[1, 2, 3], [4, 5, 6]];
    const W = [[1, 0], [0, 1], [1, -1]];
    const gx = [];
    for (let i = 0; i < 2; i++) for (let k = 0; k < 3; k++) gx.push(2 * (Y[i][0] * W[k][0] + Y[i][1] * W[k][1]));
    const gw = [];
    for (let k = 0; k < 3; k++) for (let j = 0; j < 2; j++) gw.push(2 * (X[0][k] * Y[0][j] + X[1][k] * Y[1][j]));
    compare('api backward dx', arr(x.grad), gx, 1e-6, 1e-6);
    compare('api backward dw', arr(w.grad), gw, 1e-6, 1e-6);
    const s = et.softmax(et.tensor([1, 2, 3]));
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    compare('api softmax', arr(s), [1, 2, 3].map((v) => Math.exp(v) / z), 1e-6, 1e-7);
    const r = et.randn([64, 96]);
    const q = et.randn([96, 80]);
    const big = arr(et.matmul(r, q));
    const rv = arr(r);
    const qv = arr(q);
    const ref = new Float64Array(64 * 80);
    for (let i = 0; i < 64; i++)
      for (let j = 0; j < 80; j++) {
        let acc = 0;
        for (let k = 0; k < 96; k++) acc += rv[i * 96 + k] * qv[k * 80 + j];
        ref[i * 80 + j] = acc;
      }
    compare('api matmul randn [64,96]x[96,80]', big, ref, 1e-4, 1e-3);
    console.log(`api checks: ${ms(tb)}`);
  } catch (e) {
    fail(`public API via ${bundle}: ${e?.stack ?? e}`);
  }
}

console.log(`smoke: ${failures ? failures + ' FAILURE(S)' : 'all passed'} in ${ms(t0)}`);
process.exit(failures ? 1 : 0);
