// Shared bench helpers: medians, the machine (CPU model, ISA, clock, FMA peak), interleaved runs,
// LoRA step timing.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/**
 * The anchor LoRA task's model (bench/lora-anchor.mjs, ../shared/MACHINE.md): a 30.5M Llama, d512,
 * 8 layers, 8 heads, FFN 1408, vocabulary 4096, untied head; 256 tokens per step.
 */
export const ANCHOR = { hiddenSize: 512, numLayers: 8, numHeads: 8, numKvHeads: 8, intermediateSize: 1408, vocabSize: 4096 };
export const ANCHOR_TOKENS = 256;

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Times fn (ms) `reps` times after `warm` warm-up calls; returns the median. */
export function timeMs(fn, reps = 10, warm = 2) {
  for (let i = 0; i < warm; i++) fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

/** The CPU's flags (/proc/cpuinfo) and its widest f32 vector unit. */
export function cpuIsa() {
  let flags = new Set();
  try {
    const m = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) flags = new Set(m[1].trim().split(/\s+/));
  } catch {}
  const [unit, lanes] = flags.has('avx512f') ? ['AVX-512', 16] : flags.has('avx2') && flags.has('fma') ? ['AVX2+FMA', 8] : process.arch === 'arm64' ? ['NEON', 4] : ['SSE', 4];
  const named = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16', 'avx512_vnni', 'avx512_fp16', 'amx_bf16', 'amx_int8', 'asimd', 'asimddp', 'i8mm', 'bf16', 'sve'];
  return { unit, lanes, flags: named.filter((f) => flags.has(f)) };
}

/**
 * The core clock (GHz) now, from the addon (csrc/cpu/cpuid.cpp): the fastest of many short chains
 * of dependent multiplies (x86-64: imul, 3 cycles each) or adds (arm64, 1 cycle each).
 */
export function clockGhz(et) {
  const how = process.arch === 'x64' ? 'a dependent imul chain' : 'a dependent add chain';
  return { ghz: et.cpuInfo().clockGhz, how };
}

/** Single-precision FMA peak: threads x 2 FMA units x the widest vector's lanes x 2 flops x clock. */
export function fmaPeak(threads, isa, clock) {
  const gflops = threads * 2 * isa.lanes * 2 * clock.ghz;
  return { gflops, text: `${threads} cores x 2 FMA units x ${isa.lanes} lanes (${isa.unit}) x 2 flop x ${clock.ghz.toFixed(2)} GHz = ${gflops.toFixed(1)} GFLOP/s` };
}

/** Prints the CPU model, its ISA, the kernels edgetrain runs, the clock, the FMA peak and the load; returns the peak. */
export function printMachine(et, threads = et.getThreads()) {
  const isa = cpuIsa();
  const clock = clockGhz(et);
  const peak = fmaPeak(threads, isa, clock);
  console.log(`CPU: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} threads; ISA: ${isa.flags.join(' ') || 'baseline'}; edgetrain kernels: ${et.cpuInfo().isa}; node ${process.version}`);
  console.log(`clock ${clock.ghz.toFixed(2)} GHz (${clock.how}); FMA peak ${peak.text}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  return peak;
}

/**
 * Runs each of `runs` (functions returning a list of figures, or a promise of one) `rounds` times,
 * interleaved (run 1, run 2, ..., run 1, run 2, ...); resolves to each run's per-figure medians. A
 * run returning null is skipped from then on (its medians are null).
 */
export async function interleaved(rounds, runs) {
  const got = runs.map(() => []);
  const dead = runs.map(() => false);
  for (let r = 0; r < rounds; r++)
    for (const [i, run] of runs.entries()) {
      if (dead[i]) continue;
      const v = await run();
      if (v == null) dead[i] = true;
      else got[i].push(v);
    }
  return got.map((g, i) => (dead[i] || !g.length ? null : g[0].map((_, f) => median(g.map((v) => v[f])))));
}

/** Runs a node script in a process of its own; returns the JSON of its last output line. */
export function runNode(script, args) {
  return JSON.parse(execFileSync(process.execPath, [script, ...args.map(String)], { encoding: 'utf8' }).trim().split('\n').pop());
}

/**
 * Times LoRA training steps of `model` (adapters already applied; their parameters `params`) on
 * one seeded random sequence of T tokens: AdamW, `steps` timed after 2 warm-up steps. Returns the
 * median step time (ms) and the last loss.
 */
export function timeLoRASteps(et, model, params, T, steps) {
  const V = model.config.vocabSize;
  const opt = new et.optim.AdamW(params, { lr: 1e-4, weightDecay: 0 });
  const r = et.models.seededRandom(2);
  const ids = Int32Array.from({ length: T + 1 }, () => Math.floor(r() * V));
  const x = et.keep(et.tensor(ids.subarray(0, T), [1, T]));
  const y = et.keep(et.tensor(ids.subarray(1), [T]));
  const times = [];
  let loss = 0;
  for (let i = 0; i < steps + 2; i++) {
    const t0 = performance.now();
    et.tidy(() => {
      opt.zeroGrad();
      const l = et.crossEntropy(et.reshape(model.forward(x), [T, V]), y);
      l.backward();
      opt.step();
      loss = l.item();
    });
    if (i >= 2) times.push(performance.now() - t0);
  }
  x.dispose();
  y.dispose();
  opt.dispose();
  return { ms: median(times), loss };
}
