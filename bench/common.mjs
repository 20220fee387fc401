// Shared bench helpers: medians, the machine's FMA peak, running the PyTorch peer.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
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

/**
 * Single-precision FMA peak: threads x 2 FMA units x 8 lanes (AVX2) x 2 flops x clock, with the
 * clock measured now by the addon (a dependent-add chain runs at one add per cycle).
 */
export function fmaPeak(threads, clockGhz) {
  const gflops = threads * 2 * 8 * 2 * clockGhz;
  return { gflops, text: `${threads} cores x 2 FMA units x 8 lanes x 2 flop x ${clockGhz.toFixed(2)} GHz (measured) = ${gflops.toFixed(1)} GFLOP/s` };
}

export const TORCH_PY = '/usr/bin/python3';

/** Runs a PyTorch peer script; returns its JSON lines, or null (with the reason) when torch is absent. */
export function runTorch(script, args) {
  if (!existsSync(TORCH_PY)) return { error: `${TORCH_PY} not found` };
  try {
    const out = execFileSync(TORCH_PY, [script, ...args.map(String)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { lines: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
  } catch (e) {
    return { error: `PyTorch peer failed (install Debian python3-torch and libopenblas0-pthread): ${String(e.stderr || e.message).slice(0, 300)}` };
  }
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
  return { ms: median(times), loss };
}
