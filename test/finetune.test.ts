// finetune(): overfitting a handful of samples (greedy generation reproduces them), progress
// events, pause/resume/abort, exact resume from a checkpoint (in process, and after the training
// process is killed with SIGKILL while writing a checkpoint), refusing an incompatible resume,
// and the NaN guard.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { generate, loadModel, makeTinyModel } from '../lib/models/index.js';
import type { FinetuneEvent, FinetuneOptions } from '../lib/train/finetune.js';
import type { LoRALinear } from '../lib/nn/lora.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.EDGETRAIN_SHARED ?? join(ROOT, '..', 'shared');
const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'];
const PAIRS: [string, string][] = [
  ['Capital of France:', ' Paris'],
  ['Capital of Italy:', ' Rome'],
  ['Capital of Spain:', ' Madrid'],
  ['Capital of Japan:', ' Tokyo'],
];

let dir = '';
let modelPath = '';
let data = '';
let text = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-finetune-'));
  modelPath = makeTinyModel(join(dir, 'm'), { vocabFile: join(SHARED, 'vocab', 'ggml-vocab-llama-spm.gguf'), seed: 1, formats: ['gguf-f32'] }).ggufF32!;
  data = join(dir, 'pairs.jsonl');
  writeFileSync(data, PAIRS.map(([prompt, completion]) => JSON.stringify({ prompt, completion })).join('\n'));
  text = join(dir, 'text.txt');
  writeFileSync(text, 'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse. '.repeat(12));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function collect(run: et.train.FinetuneRun): Promise<FinetuneEvent[]> {
  const ev: FinetuneEvent[] = [];
  for await (const e of run) ev.push(e);
  return ev;
}

describe('finetune', () => {
  test('memorises a handful of prompt/completion pairs: greedy generation reproduces them', { timeout: 120_000 }, async () => {
    const run = et.finetune({ model: modelPath, data, out: join(dir, 'overfit'), seqLen: 16, batchSize: 4, epochs: 60, lr: 1e-2, lora: { rank: 8, alpha: 16, targets: ALL }, checkpointEvery: 0 });
    const events = await collect(run);
    const r = await run.result;
    expect(r.steps).toBe(60);
    expect(r.losses[59]!).toBeLessThan(0.02);
    expect(r.losses[0]!).toBeGreaterThan(5);
    const { tokenizer } = await loadModel(modelPath);
    for (const [prompt, completion] of PAIRS) {
      const out: number[] = [];
      for await (const t of generate(r.model, tokenizer!.encode(prompt, { addSpecial: true }), { maxTokens: 4, temperature: 0 })) out.push(t);
      expect(tokenizer!.decode(out), prompt).toBe(completion.trim());
    }
    // events: start, a step per step with its figures, done; the adapter files exist
    expect(events[0]).toMatchObject({ type: 'start', totalSteps: 60, startStep: 0, trainRows: 4 });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const s = steps[10]! as Extract<FinetuneEvent, { type: 'step' }>;
    expect(s.tokensPerSec).toBeGreaterThan(0);
    expect(s.lr).toBeGreaterThan(0);
    expect(s.peakBytes).toBeGreaterThan(0);
    expect(Number.isFinite(s.etaSec)).toBe(true);
    expect(events.at(-1)!.type).toBe('done');
    expect(existsSync(join(r.adapterDir, 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(r.ggufAdapter!)).toBe(true);
    r.model.dispose();
  });

  test('eval loss and perplexity on a held-out split; pause and resume', { timeout: 60_000 }, async () => {
    const run = et.finetune({ model: modelPath, data: text, out: join(dir, 'eval'), seqLen: 32, batchSize: 2, epochs: 2, validation: 0.25, evalEvery: 3, checkpointEvery: 0, lr: 3e-3 });
    const seen: FinetuneEvent[] = [];
    let pausedAt = 0;
    for await (const e of run) {
      seen.push(e);
      if (e.type === 'step' && e.step === 2) {
        run.pause();
        pausedAt = seen.length;
        setTimeout(() => run.resume(), 200);
      }
    }
    const r = await run.result;
    const evals = seen.filter((e) => e.type === 'eval') as Extract<FinetuneEvent, { type: 'eval' }>[];
    expect(evals.length).toBeGreaterThanOrEqual(2);
    for (const e of evals) expect(e.perplexity).toBeCloseTo(Math.exp(e.loss), 6);
    expect(evals.at(-1)!.step).toBe(r.steps);
    expect(pausedAt).toBeGreaterThan(0);
    expect(seen.filter((e) => e.type === 'step').length).toBe(r.steps);
    r.model.dispose();
  });

  const base = (out: string): FinetuneOptions => ({
    model: modelPath,
    data: text,
    out,
    seqLen: 32,
    batchSize: 2,
    epochs: 3,
    lr: 3e-3,
    lora: { rank: 4, alpha: 8, dropout: 0.1 },
    checkpointEvery: 3,
    warmupSteps: 2,
    seed: 7,
  });

  test('interrupted at a checkpoint and resumed, the losses are those of the uninterrupted run', { timeout: 120_000 }, async () => {
    const full = await et.finetune(base(join(dir, 'full'))).result;
    expect(full.steps).toBeGreaterThan(8);
    const cut = et.finetune(base(join(dir, 'cut')));
    for await (const e of cut) if (e.type === 'checkpoint' && e.step === 6) cut.abort();
    const first = await cut.result;
    expect(first.aborted).toBe(true);
    expect(first.steps).toBe(6);
    const resumed = et.finetune({ ...base(join(dir, 'cut')), resume: true });
    const events = await collect(resumed);
    const rest = await resumed.result;
    expect(events[0]).toMatchObject({ type: 'start', startStep: 6 });
    expect(rest.losses).toEqual(full.losses);
    for (const m of [full.model, first.model, rest.model]) m.dispose();
  });

  test('a resume with another rank or base model is refused, naming what differs', { timeout: 60_000 }, async () => {
    const out = join(dir, 'cut');
    await expect(et.finetune({ ...base(out), lora: { rank: 8, alpha: 8, dropout: 0.1 }, resume: true }).result).rejects.toThrow(/cannot resume .*rank: checkpoint 4, now 8/);
    const other = makeTinyModel(join(dir, 'other'), { vocabFile: join(SHARED, 'vocab', 'ggml-vocab-llama-spm.gguf'), seed: 2, numLayers: 3, formats: ['gguf-f32'] }).ggufF32!;
    await expect(et.finetune({ ...base(out), model: other, resume: true }).result).rejects.toThrow(/baseModel: checkpoint/);
    await expect(et.finetune({ ...base(join(dir, 'nothing-here')), resume: true }).result).rejects.toThrow(/holds no checkpoint/);
  });

  test('killed with SIGKILL while writing a checkpoint: the previous one stays valid and resuming matches the uninterrupted run', { timeout: 180_000 }, async () => {
    const dist = join(ROOT, 'dist', 'index.js');
    expect(existsSync(dist), 'dist/index.js (built by npm ci / npx tsup)').toBe(true);
    const out = join(dir, 'killed');
    const opts = base(out);
    const child = `
      import * as et from ${JSON.stringify(dist)};
      let n = 0;
      const run = et.finetune({ ...${JSON.stringify(opts)}, onCheckpointStage: (stage) => {
        // the second checkpoint (step 6): die after its optimizer state is written, before the rename
        if (stage === 'optimizer' && ++n === 2) process.kill(process.pid, 'SIGKILL');
      } });
      await run.result;`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { cwd: ROOT, env: { ...process.env }, encoding: 'utf8', timeout: 150_000 });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    const names = readdirSync(join(out, 'checkpoints'));
    expect(names).toContain('step-000003');
    expect(names.some((n) => n.startsWith('.step-000006.tmp-'))).toBe(true); // the half-written one
    expect(names).not.toContain('step-000006');
    const resumed = et.finetune({ ...opts, resume: true });
    const events = await collect(resumed);
    const rest = await resumed.result;
    expect(events[0]).toMatchObject({ type: 'start', startStep: 3 });
    expect(readdirSync(join(out, 'checkpoints')).some((n) => n.includes('.tmp-'))).toBe(false);
    const full = await et.finetune(base(join(dir, 'full2'))).result;
    expect(rest.losses).toEqual(full.losses);
    rest.model.dispose();
    full.model.dispose();
  });

  const poisoned = async () => {
    const loaded = await loadModel(modelPath);
    // poison one norm weight: every forward gives NaN
    et.noGrad(() => et.copyInto(loaded.model.stateDict().get('model.norm.weight')!, et.full([loaded.config.hiddenSize], NaN)));
    return loaded;
  };

  test('a non-finite loss skips the update and reports it; a run whose every update is skipped fails and writes no adapter', { timeout: 60_000 }, async () => {
    const loaded = await poisoned();
    const out = join(dir, 'nan');
    const run = et.finetune({ model: loaded, data, out, seqLen: 16, batchSize: 4, epochs: 2, checkpointEvery: 0 });
    const events: FinetuneEvent[] = [];
    await expect(
      (async () => {
        for await (const e of run) events.push(e);
      })(),
    ).rejects.toThrow(/every update of the run \(steps 1-2\) was skipped/);
    await expect(run.result).rejects.toBeInstanceOf(et.TrainingError);
    const skips = events.filter((e) => e.type === 'skip');
    expect(skips.length).toBe(2);
    expect(skips[0]).toMatchObject({ type: 'skip', step: 1 });
    expect((skips[0] as { reason: string }).reason).toMatch(/non-finite loss/);
    expect(existsSync(join(out, 'adapter'))).toBe(false);
    expect(existsSync(join(out, 'adapter.gguf'))).toBe(false);
    expect(existsSync(join(out, 'checkpoints'))).toBe(false);
    // the adapter was never updated: B is still zero
    const adapters = et.models.findAdapters(loaded.model);
    expect(adapters.size).toBe(14);
    for (const a of adapters.values()) expect(Array.from((a as LoRALinear).lora_B.weight.dataSync()).every((v) => v === 0)).toBe(true);
    loaded.model.dispose();
  });

  test('skipped steps in a row are bounded by maxSkippedSteps', { timeout: 60_000 }, async () => {
    const loaded = await poisoned();
    const run = et.finetune({ model: loaded, data, out: join(dir, 'nan-bound'), seqLen: 16, batchSize: 1, epochs: 50, checkpointEvery: 0, maxSkippedSteps: 3 });
    let skips = 0;
    await expect(
      (async () => {
        for await (const e of run) if (e.type === 'skip') skips++;
      })(),
    ).rejects.toThrow(/updates of 4 steps in a row \(1-4\) were skipped .*maxSkippedSteps = 3/);
    expect(skips).toBe(4);
    loaded.model.dispose();
  });

  test('matmulPrecision holds for the run only; a bf16 base at high follows the exact run', { timeout: 60_000 }, async () => {
    const seen: string[] = [];
    const go = async (p?: 'high') => {
      const run = et.finetune({ model: modelPath, data, out: join(dir, `prec-${p ?? 'x'}`), baseDtype: 'bfloat16', matmulPrecision: p, seqLen: 16, batchSize: 4, epochs: 10, maxSteps: 3, checkpointEvery: 0, seed: 3 });
      const losses: number[] = [];
      for await (const e of run) {
        if (e.type === 'step') {
          losses.push(e.loss);
          seen.push(et.getMatmulPrecision());
        }
      }
      (await run.result).model.dispose();
      return losses;
    };
    const exact = await go();
    const high = await go('high');
    expect(seen).toEqual(['highest', 'highest', 'highest', 'high', 'high', 'high']);
    expect(et.getMatmulPrecision()).toBe('highest');
    for (let i = 0; i < exact.length; i++) expect(Math.abs(high[i]! - exact[i]!) / exact[i]!, `step ${i}`).toBeLessThan(1e-2);
    await expect(et.finetune({ model: modelPath, data, out: join(dir, 'prec-bad'), matmulPrecision: 'low' as never, maxSteps: 1 }).result).rejects.toThrow(/'highest', 'high', 'medium'/);
    expect(et.getMatmulPrecision()).toBe('highest');
  });

  test('an adapter holding NaN is refused before training, naming the tensor', { timeout: 60_000 }, async () => {
    const r = await et.finetune({ model: modelPath, data, out: join(dir, 'nan-src'), seqLen: 16, batchSize: 4, maxSteps: 2, checkpointEvery: 0 }).result;
    const [path, a] = [...et.models.findAdapters(r.model)][3]! as [string, LoRALinear];
    et.noGrad(() => et.copyInto(a.lora_A.weight, et.full(a.lora_A.weight.shape, NaN)));
    const bad = join(dir, 'nan-adapter');
    et.models.savePEFTAdapter(bad, r.model);
    r.model.dispose();
    await expect(et.finetune({ model: modelPath, data, out: join(dir, 'nan-cont'), adapter: bad, seqLen: 16, batchSize: 4, maxSteps: 2 }).result).rejects.toThrow(
      new RegExp(`the adapter .*nan-adapter cannot be trained on: ${path.replace(/\./g, '\\.')}\\.lora_A\\.weight .* holds NaN at element 0`),
    );
  });
});

describe('checkpoints and the output folder', () => {
  const opts = (out: string): FinetuneOptions => ({ model: modelPath, data: text, out, seqLen: 32, batchSize: 2, epochs: 3, lr: 3e-3, lora: { rank: 4, alpha: 8 }, checkpointEvery: 2, seed: 3 });
  const flip = (file: string, at: number) => {
    const b = readFileSync(file);
    b[at] = b[at]! ^ 0x40;
    writeFileSync(file, b);
  };

  test('every checkpoint has a manifest; a damaged newest one is set aside and the run resumes from the one before, as if uninterrupted', { timeout: 120_000 }, async () => {
    const full = await et.finetune(opts(join(dir, 'ck-full'))).result;
    expect(full.steps).toBeGreaterThan(7);
    const out = join(dir, 'ck-cut');
    const cut = et.finetune(opts(out));
    for await (const e of cut) if (e.type === 'checkpoint' && e.step === 6) cut.abort();
    (await cut.result).model.dispose();
    const s6 = join(out, 'checkpoints', 'step-000006');
    const manifest = JSON.parse(readFileSync(join(s6, 'manifest.json'), 'utf8'));
    expect(Object.keys(manifest.files).sort()).toEqual(['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    expect(manifest.files['optimizer.safetensors'].sha256).toMatch(/^[0-9a-f]{64}$/);
    // one flipped bit deep in the optimizer state: the file still parses, only the hash tells
    flip(join(s6, 'optimizer.safetensors'), statSync(join(s6, 'optimizer.safetensors')).size - 5);
    const resumed = et.finetune({ ...opts(out), resume: true });
    const events = await collect(resumed);
    const rest = await resumed.result;
    expect(events[0]).toMatchObject({ type: 'start', startStep: 4 });
    const warn = events.find((e) => e.type === 'warning') as { message: string };
    expect(warn.message).toMatch(/resuming from .*step-000004, the newest good checkpoint: .*step-000006: optimizer\.safetensors has SHA-256 .* the manifest says/);
    expect(readdirSync(join(out, 'checkpoints'))).toContain('damaged-step-000006');
    expect(rest.losses).toEqual(full.losses);
    // the damaged folder is kept, the good ones beyond the newest 3 are removed
    expect(readdirSync(join(out, 'checkpoints')).filter((n) => /^step-/.test(n)).length).toBe(3);
    for (const m of [full.model, rest.model]) m.dispose();
  });

  test('a checkpoint with a missing file falls back too; a damaged folder given by path is refused, naming a good one', { timeout: 60_000 }, async () => {
    const out = join(dir, 'ck-missing');
    const cut = et.finetune(opts(out));
    for await (const e of cut) if (e.type === 'checkpoint' && e.step === 4) cut.abort();
    (await cut.result).model.dispose();
    const s4 = join(out, 'checkpoints', 'step-000004');
    rmSync(join(s4, 'adapter', 'adapter_model.safetensors'));
    await expect(et.finetune({ ...opts(out), resume: s4 }).result).rejects.toThrow(/cannot resume from .*step-000004: adapter\/adapter_model\.safetensors is missing; the newest good checkpoint beside it is .*step-000002/);
    const resumed = et.finetune({ ...opts(out), resume: true, maxSteps: 3 });
    const events = await collect(resumed);
    expect(events[0]).toMatchObject({ type: 'start', startStep: 2 });
    expect((events.find((e) => e.type === 'warning') as { message: string }).message).toMatch(/step-000004: adapter\/adapter_model\.safetensors is missing/);
    (await resumed.result).model.dispose();
    // nothing good left: the error lists what is wrong with each
    const gone = join(dir, 'ck-none');
    const c2 = et.finetune({ ...opts(gone), maxSteps: 2 });
    (await c2.result).model.dispose();
    writeFileSync(join(gone, 'checkpoints', 'step-000002', 'trainer_state.json'), '{"version": 1, "step": 2');
    await expect(et.finetune({ ...opts(gone), resume: true }).result).rejects.toThrow(/no checkpoint in .* can be resumed .*step-000002: trainer_state\.json is \d+ bytes, the manifest says/);
  });

  test('a checkpoint whose adapter holds NaN (with a matching manifest) is not resumed', { timeout: 60_000 }, async () => {
    const out = join(dir, 'ck-nan');
    const r = await et.finetune({ ...opts(out), checkpointEvery: 1, maxSteps: 2 }).result;
    const a = [...et.models.findAdapters(r.model).values()][0] as LoRALinear;
    et.noGrad(() => et.copyInto(a.lora_B.weight, et.full(a.lora_B.weight.shape, Infinity)));
    const s2 = join(out, 'checkpoints', 'step-000002');
    et.models.savePEFTAdapter(join(s2, 'adapter'), r.model);
    r.model.dispose();
    const mpath = join(s2, 'manifest.json');
    const m = JSON.parse(readFileSync(mpath, 'utf8'));
    const f = join(s2, 'adapter', 'adapter_model.safetensors');
    m.files['adapter/adapter_model.safetensors'] = { bytes: statSync(f).size, sha256: createHash('sha256').update(readFileSync(f)).digest('hex') };
    writeFileSync(mpath, JSON.stringify(m));
    const resumed = et.finetune({ ...opts(out), resume: true, maxSteps: 2 });
    const events = await collect(resumed);
    expect(events[0]).toMatchObject({ type: 'start', startStep: 1 });
    expect((events.find((e) => e.type === 'warning') as { message: string }).message).toMatch(/step-000002: the adapter: .*lora_B\.weight .* holds Infinity at element 0/);
    (await resumed.result).model.dispose();
  });

  test('keepCheckpoints keeps the newest N', { timeout: 60_000 }, async () => {
    const out = join(dir, 'ck-keep');
    (await et.finetune({ ...opts(out), checkpointEvery: 1, keepCheckpoints: 2, maxSteps: 5 }).result).model.dispose();
    expect(readdirSync(join(out, 'checkpoints')).filter((n) => /^step-/.test(n)).sort()).toEqual(['step-000004', 'step-000005']);
    const all = join(dir, 'ck-keep-all');
    (await et.finetune({ ...opts(all), checkpointEvery: 1, keepCheckpoints: 0, maxSteps: 4 }).result).model.dispose();
    expect(readdirSync(join(all, 'checkpoints')).filter((n) => /^step-/.test(n)).length).toBe(4);
  });

  test('an out folder holding a run is refused without resume; overwrite replaces it', { timeout: 60_000 }, async () => {
    const out = join(dir, 'ck-again');
    (await et.finetune({ ...opts(out), maxSteps: 4 }).result).model.dispose();
    const before = readFileSync(join(out, 'checkpoints', 'latest'), 'utf8');
    const run = et.finetune({ ...opts(out), maxSteps: 2 });
    const seen: FinetuneEvent[] = [];
    await expect(
      (async () => {
        for await (const e of run) seen.push(e);
      })(),
    ).rejects.toThrow(/ck-again already holds a run \(checkpoints up to step 4\); pass resume .* overwrite/);
    expect(seen).toEqual([]);
    expect(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8')).toBe(before);
    const again = et.finetune({ ...opts(out), maxSteps: 2, overwrite: true });
    const events = await collect(again);
    expect((events.find((e) => e.type === 'warning') as { message: string }).message).toMatch(/overwriting the run that was in .*ck-again \(checkpoints up to step 4\)/);
    (await again.result).model.dispose();
    expect(readdirSync(join(out, 'checkpoints')).filter((n) => /^step-/.test(n)).sort()).toEqual(['step-000002']);
    await expect(et.finetune({ ...opts(out), resume: true, overwrite: true }).result).rejects.toThrow(/exclude each other/);
  });

  test('an output folder that cannot be written is refused before the model is loaded', { timeout: 30_000 }, async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const run = et.finetune({ ...opts(join(file, 'out')), model: join(dir, 'no-such-model.gguf') });
    await expect(run.result).rejects.toThrow(/cannot write to the output folder .*a-file\/out: ENOTDIR/);
  });
});

test('an AbortSignal stops the run; a saved adapter continues training from where it was', { timeout: 60_000 }, async () => {
  const ac = new AbortController();
  const run = et.finetune({ model: modelPath, data, out: join(dir, 'signal'), seqLen: 16, batchSize: 1, epochs: 5, lr: 1e-2, lora: { rank: 4, alpha: 8, targets: ALL }, checkpointEvery: 0, signal: ac.signal });
  for await (const e of run) if (e.type === 'step' && e.step === 2) ac.abort();
  const r = await run.result;
  expect(r.aborted).toBe(true);
  expect(r.steps).toBe(2);
  r.model.dispose();
  // continue from the adapter the first run wrote: the first loss is the trained adapter's, below a fresh one's
  const fresh = await et.finetune({ model: modelPath, data, out: join(dir, 'fresh'), seqLen: 16, batchSize: 4, maxSteps: 1, lora: { rank: 4, alpha: 8, targets: ALL }, checkpointEvery: 0 }).result;
  const trained = await et.finetune({ model: modelPath, data: data, out: join(dir, 'overfit2'), seqLen: 16, batchSize: 4, epochs: 30, lr: 1e-2, lora: { rank: 4, alpha: 8, targets: ALL }, checkpointEvery: 0 }).result;
  const cont = await et.finetune({ model: modelPath, data, out: join(dir, 'continued'), adapter: trained.adapterDir, seqLen: 16, batchSize: 4, maxSteps: 1, checkpointEvery: 0 }).result;
  expect(cont.losses[0]!).toBeLessThan(0.5 * fresh.losses[0]!);
  expect(cont.losses[0]!).toBeCloseTo(trained.losses.at(-1)!, 0);
  for (const m of [fresh.model, trained.model, cont.model]) m.dispose();
});
