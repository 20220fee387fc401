// The Vulkan checks and benchmarks of scripts/device-check.sh, in plain node (no vitest, so the
// device machine needs only node, dist/ and the addon). Each mode prints JSON lines; the last
// line is the result.
//   node bench/vulkan-check.mjs parity                   vulkan vs cpu on the ops a LoRA step uses, and 3 LoRA steps
//   node bench/vulkan-check.mjs model DIR VOCAB [small]  writes the bench Llama (HF folder) with makeTinyModel
//   node bench/vulkan-check.mjs lora DIR T B STEPS       LoRA training tokens/s on vulkan (median step after 2 warm-up)
//   node bench/vulkan-check.mjs matmul N DTYPE REPS      N^3 matmul GFLOP/s on vulkan (median); DTYPE float16: b in f16
//   node bench/vulkan-check.mjs summary DIR              DIR/devcheck.json + DIR/summary.txt from the files above
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as et from '../dist/index.js';
import { median } from './common.mjs';

// The bench model: 125M-parameter Llama (d768, 12 layers, 12 heads, FFN 3072, vocab 32000 from the
// llama-spm vocabulary); `small` shrinks it for a lavapipe smoke run.
export const SHAPES = {
  full: { hiddenSize: 768, numLayers: 12, numHeads: 12, numKvHeads: 12, intermediateSize: 3072 },
  small: { hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 128 },
};

const DEV = 'vulkan';
const out = (o) => console.log(JSON.stringify(o));

// DEVCHECK_HARD_EXIT=1 (device-check.sh): end with SIGKILL once the result is printed, skipping
// the addon's exit-time teardown, which was seen to hang after Vulkan training on lavapipe
// (the pipeline cache is saved while running, so nothing is lost).
function finish(code) {
  if (process.env.DEVCHECK_HARD_EXIT === '1') process.stdout.write('', () => process.kill(process.pid, 'SIGKILL'));
  else process.exit(code);
}

function requireVulkan() {
  const d = et.devices().find((x) => x.name === DEV);
  if (!d?.available) {
    out({ error: `vulkan unavailable: ${d?.reason ?? 'not listed'}` });
    process.exit(1);
  }
  return d;
}

function maxRelErr(got, want) {
  let worst = 0;
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (Number.isNaN(got[i]) !== Number.isNaN(want[i])) return Infinity;
    worst = Math.max(worst, d / Math.max(scale, 1e-30));
  }
  return worst;
}

// One op on cpu and vulkan from the same inputs; the largest difference relative to the output's scale.
function parityCase(name, inputs, fn, tol) {
  const cpuIn = inputs();
  const want = Array.from(fn(...cpuIn).dataSync());
  const vkIn = cpuIn.map((t) => t.to(DEV));
  const got = Array.from(fn(...vkIn).to('cpu').dataSync());
  const err = maxRelErr(got, want);
  return { name, err, tol, ok: err <= tol };
}

function parity() {
  requireVulkan();
  const r = (shape, seed, dtype) => () => {
    const t = et.randn(shape, { seed });
    return dtype ? et.cast(t, dtype) : t;
  };
  const cases = [
    ['matmul f32 256x384 @ 384x320', () => [r([256, 384], 1)(), r([384, 320], 2)()], (a, b) => et.matmul(a, b), 1e-5],
    ['matmul f32 256x384 @ f16 384x320', () => [r([256, 384], 1)(), r([384, 320], 2, 'float16')()], (a, b) => et.matmul(a, b), 1e-5],
    ['softmax 64x1000', () => [r([64, 1000], 3)()], (x) => et.softmax(x), 1e-5],
    ['rmsNorm 64x768', () => [r([64, 768], 4)(), r([768], 5)()], (x, w) => et.rmsNorm(x, w, 1e-5), 1e-5],
    ['swiglu 64x3072', () => [r([64, 3072], 6)(), r([64, 3072], 7)()], (a, b) => et.swiglu(a, b), 1e-5],
    ['rope 1x4x64x32', () => [r([1, 4, 64, 32], 8)()], (x) => et.rope(x), 1e-5],
    ['attention causal 1x4x64x32', () => [r([1, 4, 64, 32], 9)(), r([1, 4, 64, 32], 10)(), r([1, 4, 64, 32], 11)()], (q, k, v) => et.scaledDotProductAttention(q, k, v, { causal: true }), 1e-5],
    ['crossEntropy 64x1000', () => [r([64, 1000], 12)(), et.tensor(Int32Array.from({ length: 64 }, (_, i) => (i * 37) % 1000), [64])], (l, y) => et.crossEntropy(l, y), 1e-5],
  ];
  const results = [];
  for (const [name, inputs, fn, tol] of cases) {
    let res;
    try {
      res = parityCase(name, inputs, fn, tol);
    } catch (e) {
      res = { name, ok: false, error: `${e.constructor.name}: ${e.message}` };
    }
    out(res);
    results.push(res);
  }
  // three LoRA training steps on a small random Llama on each device: the losses agree
  const losses = {};
  for (const device of ['cpu', DEV]) {
    et.manualSeed(0);
    const model = new et.models.LlamaModel({ ...SHAPES.small, vocabSize: 512, maxPositionEmbeddings: 64 }, { device: 'cpu' });
    const dev = device === 'cpu' ? model : model.to(device);
    const ad = et.nn.applyLoRA(dev, { rank: 8, alpha: 16, seed: 1 });
    const { losses: l } = loraSteps(dev, et.nn.loraParameters(ad), 32, 2, 3, 0, device);
    losses[device] = l;
  }
  const err = Math.max(...losses.cpu.map((l, i) => Math.abs(l - losses[DEV][i]) / Math.abs(l)));
  const step = { name: 'LoRA steps (small Llama, 3 AdamW steps): losses', cpu: losses.cpu, vulkan: losses[DEV], err, tol: 1e-3, ok: err <= 1e-3 };
  out(step);
  results.push(step);
  const failed = results.filter((x) => !x.ok).map((x) => x.name);
  out({ parity: true, cases: results.length, failed });
  finish(failed.length ? 1 : 0);
}

// `steps` timed AdamW steps (after `warm`) on one seeded random batch [B, T]; median ms and the losses.
function loraSteps(model, params, T, B, steps, warm, device) {
  const V = model.config.vocabSize;
  const opt = new et.optim.AdamW(params, { lr: 1e-4, weightDecay: 0 });
  const rnd = et.models.seededRandom(2);
  const ids = Int32Array.from({ length: B * (T + 1) }, () => Math.floor(rnd() * V));
  const xs = new Int32Array(B * T);
  const ys = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    xs.set(ids.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    ys.set(ids.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  const x = et.keep(et.tensor(xs, [B, T]).to(device));
  const y = et.keep(et.tensor(ys, [B * T]).to(device));
  const times = [];
  const losses = [];
  for (let i = 0; i < steps + warm; i++) {
    const t0 = performance.now();
    et.tidy(() => {
      opt.zeroGrad();
      const l = et.crossEntropy(et.reshape(model.forward(x), [B * T, V]), y);
      l.backward();
      opt.step();
      losses.push(l.item());
    });
    if (i >= warm) times.push(performance.now() - t0);
  }
  x.dispose();
  y.dispose();
  opt.dispose();
  return { ms: median(times), times, losses };
}

function makeModel(dir, vocab, small) {
  const files = et.models.makeTinyModel(dir, { architecture: 'llama', vocabFile: vocab, seed: 1, formats: ['hf'], ...SHAPES[small ? 'small' : 'full'] });
  out({ hfDir: files.hfDir, config: files.config });
}

function lora(dir, T, B, steps) {
  requireVulkan();
  et.manualSeed(0);
  const t0 = performance.now();
  const model = et.models.loadHFModel(dir, { device: DEV });
  const ad = et.nn.applyLoRA(model, { rank: 8, alpha: 16, seed: 1 });
  const params = et.nn.loraParameters(ad);
  const loadMs = performance.now() - t0;
  const r = loraSteps(model, params, T, B, steps, 2, DEV);
  out({ device: DEV, T, B, steps, ms: r.ms, tokPerSec: (B * T) / (r.ms / 1e3), stepMs: r.times, loss: r.losses.at(-1), loadMs,
    params: model.numParameters(), trainable: params.reduce((s, p) => s + p.numel, 0) });
}

async function matmul(n, dtype, reps) {
  requireVulkan();
  // edgetrain's matmul takes float32 activations; `float16` is the weight operand b in float16
  const a = et.randn([n, n], { seed: 1 }).to(DEV);
  const b = et.cast(et.randn([n, n], { seed: 2 }), dtype).to(DEV);
  // each timed run queues `batch` matmuls and waits for the device: per matmul time
  const batch = Math.max(1, Math.min(10, Math.round(5e11 / (2 * n ** 3))));
  const run = () => {
    for (let i = 0; i < batch; i++) et.matmul(a, b).dispose();
    return et.synchronize(DEV);
  };
  await run();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    t.push(performance.now() - t0);
  }
  const ms = median(t) / batch;
  out({ device: DEV, n, dtype, ms, batch, gflops: (2 * n ** 3) / (ms / 1e3) / 1e9, times: t });
}

// The last JSON line of each file device-check.sh wrote under `dir`, into devcheck.json and summary.txt.
function summary(dir) {
  const lines = (f) => {
    try {
      return readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  };
  const last = (f) => lines(f).at(-1) ?? { error: `no result in ${f}` };
  const r = {
    when: new Date().toISOString(),
    small: process.env.DEVCHECK_SMALL === '1',
    parity: last('parity.jsonl'),
    lora: { vulkan: last('lora-vulkan.jsonl'), cuda: lines('lora-cuda.jsonl') },
    matmul: { vulkan: [...lines('matmul-vulkan-f32.jsonl'), ...lines('matmul-vulkan-f16.jsonl')], cuda: lines('matmul-cuda.jsonl') },
    vulkanDevice: (() => {
      try {
        return readFileSync(join(dir, 'doctor.txt'), 'utf8').split('\n').filter((l) => /^\s+vulkan/.test(l))[0]?.trim();
      } catch {
        return undefined;
      }
    })(),
  };
  writeFileSync(join(dir, 'devcheck.json'), JSON.stringify(r, null, 2) + '\n');
  const f = (v, d = 0) => (typeof v === 'number' ? v.toFixed(d) : 'n/a');
  const t = [];
  t.push(`edgetrain device check ${r.when}${r.small ? ' (DEVCHECK_SMALL: smoke sizes, figures mean nothing)' : ''}`);
  t.push(`vulkan device: ${r.vulkanDevice ?? '?'}`);
  t.push(`parity (vulkan vs cpu): ${r.parity.error ?? `${r.parity.cases - r.parity.failed.length} of ${r.parity.cases} pass${r.parity.failed.length ? `; failed: ${r.parity.failed.join(', ')}` : ''}`}`);
  const lv = r.lora.vulkan;
  t.push(`LoRA training, ${lv.params ? `${(lv.params / 1e6).toFixed(1)}M-parameter Llama` : 'Llama'}, rank 8 on 7 projections, AdamW, seq ${lv.T ?? '?'} x batch ${lv.B ?? '?'} (median step after 2 warm-up):`);
  t.push(`  edgetrain vulkan: ${lv.error ?? `${f(lv.tokPerSec)} tok/s (${f(lv.ms, 1)} ms/step, loss ${f(lv.loss, 3)})`}`);
  for (const c of r.lora.cuda.length ? r.lora.cuda : [{ skipped: 'no result' }])
    t.push(`  PyTorch+PEFT CUDA${c.precision ? ` ${c.precision}` : ''}: ${c.skipped ?? c.error ?? `${f(c.tokPerSec)} tok/s (${f(c.ms, 1)} ms/step, loss ${f(c.loss, 3)}; ${c.device}, attention ${c.attention})${lv.tokPerSec ? `; edgetrain/PyTorch ${(lv.tokPerSec / c.tokPerSec).toFixed(2)}x` : ''}`}`);
  t.push('matmul N^3 GFLOP/s (median):');
  for (const m of r.matmul.vulkan) t.push(`  edgetrain vulkan ${m.dtype === 'float16' ? 'f32 x f16 weights' : 'f32'} N=${m.n ?? '?'}: ${m.error ?? f(m.gflops, 1)}`);
  for (const m of r.matmul.cuda) t.push(`  torch.matmul CUDA${m.dtype ? ` ${m.dtype} N=${m.n}` : ''}: ${m.skipped ?? m.error ?? f(m.gflops, 1)}`);
  writeFileSync(join(dir, 'summary.txt'), t.join('\n') + '\n');
  console.log(t.join('\n'));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'parity') parity();
else if (mode === 'model') makeModel(args[0], args[1], args[2] === 'small');
else if (mode === 'lora') {
  lora(args[0], +args[1], +args[2], +args[3]);
  finish(0);
} else if (mode === 'matmul') {
  await matmul(+args[0], args[1], +args[2]);
  finish(0);
}
else if (mode === 'summary') summary(args[0]);
else {
  console.error('usage: node bench/vulkan-check.mjs parity | model DIR VOCAB [small] | lora DIR T B STEPS | matmul N DTYPE REPS');
  process.exit(2);
}
