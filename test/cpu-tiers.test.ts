// CPU kernel tiers (csrc/cpu/cpuid.h): the best tier the CPU has is picked at start-up, and
// EDGETRAIN_CPU_ISA forces a lower one (each in a fresh process, since the table is chosen once).
// Every tier the CPU runs gives the same matmul, quantized matmul and row-op results within
// float tolerance against float64 references; a name that is no tier, or a tier beyond this CPU,
// fails the import with a ValueError that says why, never silently running another tier.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native/addon.js';
import { runChild } from './helpers/child.js';

const X86 = ['generic', 'avx2', 'avx2vnni', 'avx512', 'avx512vnni', 'avx512bf16'];
const ARM = ['neon', 'dotprod', 'i8mm'];
const tiers = process.arch === 'arm64' ? ARM : process.arch === 'x64' ? X86 : ['generic'];
const best = native.cpuIsa();
const runnable = tiers.slice(0, tiers.indexOf(best) + 1);

// Deterministic inputs, a float64 reference and the worst relative error, all in the child.
const code = `
const rnd = (n, s) => { const a = new Float32Array(n); let x = s; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) % 2147483648; a[i] = x / 2147483648 - 0.5; } return a; };
const M = 37, K = 300, N = 53;
const a = rnd(M * K, 1), b = rnd(K * N, 2);
const y = et.matmul(et.tensor(a, [M, K]), et.tensor(b, [K, N])).dataSync();
let err = 0;
for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
  let s = 0, mag = 0;
  for (let k = 0; k < K; k++) { s += a[i * K + k] * b[k * N + j]; mag += Math.abs(a[i * K + k] * b[k * N + j]); }
  err = Math.max(err, Math.abs(y[i * N + j] - s) / mag);
}
const x = rnd(4 * 64, 3);
const sm = et.softmax(et.tensor(x, [4, 64]), -1).dataSync();
let serr = 0;
for (let r = 0; r < 4; r++) {
  let m = -Infinity, z = 0;
  for (let c = 0; c < 64; c++) m = Math.max(m, x[r * 64 + c]);
  for (let c = 0; c < 64; c++) z += Math.exp(x[r * 64 + c] - m);
  for (let c = 0; c < 64; c++) serr = Math.max(serr, Math.abs(sm[r * 64 + c] - Math.exp(x[r * 64 + c] - m) / z));
}
// Q8_0 weight [64, 256]: the float path (exact) and the 8-bit decode path (3 rows), against the
// JS dequantization multiplied in float64
const NQ = 64, KQ = 256;
const bytes = et.quant.quantize('Q8_0', rnd(NQ * KQ, 4));
const wd = et.quant.dequantize('Q8_0', bytes, NQ * KQ);
const qw = new et.quant.QuantizedWeight('Q8_0', [NQ, KQ], bytes);
const xv = rnd(3 * KQ, 5);
const xq = et.tensor(xv, [3, KQ]);
const yq = et.quant.matmulQ(xq, qw, { exact: true }).dataSync();
const y8 = et.quant.matmulQ(xq, qw).dataSync();
let qerr = 0, q8err = 0;
for (let i = 0; i < 3; i++) for (let n = 0; n < NQ; n++) {
  let s = 0, mag = 0;
  for (let k = 0; k < KQ; k++) { s += xv[i * KQ + k] * wd[n * KQ + k]; mag += Math.abs(xv[i * KQ + k] * wd[n * KQ + k]); }
  qerr = Math.max(qerr, Math.abs(yq[i * NQ + n] - s) / mag);
  q8err = Math.max(q8err, Math.abs(y8[i * NQ + n] - s) / mag);
}
console.log(JSON.stringify({ isa: et.cpuInfo().isa, devIsa: et.devices()[0].features.isa, err, serr, qerr, q8err }));
`;

describe('CPU kernel tiers', () => {
  test('the tier in use is the best this CPU has, or the forced one', () => {
    expect(tiers).toContain(best);
    if (!process.env.EDGETRAIN_CPU_ISA) {
      // the best tier is the last this CPU passes: the next one up (if any) must be refused
      const next = tiers[tiers.indexOf(best) + 1];
      if (next) expect(() => runChild('', { EDGETRAIN_CPU_ISA: next })).toThrow(/this CPU lacks/);
    }
  });

  test.each(runnable)('tier %s: forced, named in devices(), and its kernels agree with float64', (tier) => {
    const r = JSON.parse(runChild(code, { EDGETRAIN_CPU_ISA: tier })) as Record<string, number | string>;
    expect(r.isa).toBe(tier);
    expect(r.devIsa).toBe(tier);
    expect(r.err as number).toBeLessThan(1e-5);
    expect(r.serr as number).toBeLessThan(1e-6);
    expect(r.qerr as number).toBeLessThan(1e-5);
    expect(r.q8err as number).toBeLessThan(2e-2);
  });

  test.runIf(process.platform === 'linux' && process.arch === 'x64')('extensions named as /proc/cpuinfo lists them (AMX included)', async () => {
    const { readFileSync } = await import('node:fs');
    const flags = new Set((/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
    const listed = new Set(native.cpuFeatures().split(' '));
    // the kernel lists what both the CPU and the OS support, as cpuid.cpp requires
    for (const [ours, proc] of [['avx512f', 'avx512f'], ['avx512_vnni', 'avx512_vnni'], ['avx512_bf16', 'avx512_bf16'], ['amx_bf16', 'amx_bf16']] as const) {
      const want = proc === 'amx_bf16' ? flags.has('amx_bf16') && flags.has('amx_tile') && flags.has('avx512_bf16') : flags.has(proc);
      expect(listed.has(ours), `${ours}: /proc/cpuinfo ${want ? 'has' : 'lacks'} it`).toBe(want);
    }
  });

  test('a name that is no tier fails the import with a ValueError listing the tiers', () => {
    let msg = '';
    try {
      runChild('', { EDGETRAIN_CPU_ISA: 'avx9000' });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('ValueError');
    expect(msg).toContain(`EDGETRAIN_CPU_ISA=avx9000 names no CPU kernel tier of this build; tiers: ${tiers.join(', ')}`);
  });
});
