// finetune(): LoRA fine-tuning of a model file on a dataset file, as a run that reports progress
// events (an async iterator), can be paused, resumed and aborted, checkpoints atomically and
// resumes exactly (same data position, optimizer state, RNG position and schedule step).
import { rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { noGrad } from '../autograd/engine.js';
import { memory, resolveDevice, synchronize } from '../device.js';
import { DeviceError, OutOfMemoryError, TrainingError, ValueError } from '../errors.js';
import { loadAdapter, saveGGUFAdapter, savePEFTAdapter } from '../models/adapter.js';
import type { LlamaModel } from '../models/llama.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { applyLoRA, LoRAEmbedding, loraParameters, type ApplyLoRAOptions, type LoRAModule } from '../nn/lora.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNormAsync } from '../optim/clip.js';
import { constant, LRScheduler, warmupCosine, warmupLinear, type LRLambda } from '../optim/schedule.js';
import { loadSafetensors } from '../formats/safetensors.js';
import { copyInto } from '../ops/copy.js';
import { type MatmulPrecision, setMatmulPrecision } from '../ops/precision.js';
import { crossEntropy } from '../ops/softmax.js';
import { tensor } from '../ops/creation.js';
import { reshape } from '../ops/shape.js';
import { getRngState, manualSeed, setRngState } from '../random.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { HostSnapshot } from './snapshot.js';
import { assertFiniteAdapter, checkResumable, readTrainerState, removePartialCheckpoints, writeCheckpoint, type RunIdentity, type TrainerState } from './checkpoint.js';
import { checkedFolder, checkOutFolder, resumable } from './out-folder.js';
import { iterateBatches, splitValidation, type Batch, type DataPosition } from './batch.js';
import { loadDataset, type DatasetFormat } from './data.js';
import { packSamples, type Row } from './pack.js';

export interface FinetuneOptions {
  /** A GGUF file, a Hugging Face folder, or a model already loaded (with its tokenizer). */
  model: string | LoadedModel;
  /**
   * Device to train on: 'cpu', 'vulkan', 'vulkan:1', ... (default: the default device). A model
   * file loads onto it, a quantized GGUF base staying quantized; a loaded model trains where it is.
   */
  device?: string;
  /** Training data: plain text, JSONL {prompt, completion} or JSONL {messages}. */
  data: string;
  /** Validation: a second data file, or a fraction (< 1) or count of the data held out. Default none. */
  validation?: string | number;
  /** Output folder: checkpoints/, adapter/ (PEFT), adapter.gguf. Default 'edgetrain-out'. */
  out?: string;
  /** LoRA: rank (8), alpha (16), dropout (0), targets (all projections), layers, rsLoRA, init. */
  lora?: Omit<ApplyLoRAOptions, 'seed'>;
  /** Continue training an existing adapter (PEFT folder or GGUF LoRA) instead of a new one. */
  adapter?: string;
  /**
   * QLoRA on a float base: quantize the decoder's linear layers at load ('q4_k', 'nf4', 'q4_k_m',
   * ...; see loadModel). A GGUF base whose layers are already quantized trains on them as stored.
   */
  quantize?: string;
  /** The frozen base's weights when `model` is a file: see loadModel's dtype ('bfloat16': half-size matrices). */
  baseDtype?: 'auto' | 'float32' | 'bfloat16';
  /**
   * How matmuls with a bf16 operand multiply during the run (setMatmulPrecision; restored after):
   * 'high' gives a bf16 base bf16 x bf16 products, as PyTorch's bf16 matmul; the default keeps the
   * process setting ('highest' unless changed: exact products).
   */
  matmulPrecision?: MatmulPrecision;
  seqLen?: number;
  batchSize?: number;
  /** Micro-batches per optimizer step (default 1). */
  gradAccum?: number;
  /** Passes over the data (default 1); maxSteps, when given, ends the run earlier. */
  epochs?: number;
  maxSteps?: number;
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Linear warmup steps (default 0); or warmupRatio of the total steps. */
  warmupSteps?: number;
  warmupRatio?: number;
  schedule?: 'cosine' | 'linear' | 'constant';
  /** Clip the global gradient norm to this (default 1; 0 = off). */
  clipGradNorm?: number;
  seed?: number;
  /** Recompute each decoder block in backward instead of storing its activations (default: on for models of more than one layer). */
  checkpointing?: boolean;
  /** Eval loss every N steps (default 50) and at the end, when there is validation data. */
  evalEvery?: number;
  /** Checkpoint every N steps (default 100; 0 = only at the end). */
  checkpointEvery?: number;
  /**
   * Resume from the newest good checkpoint in `out` (true), or from a given checkpoint folder.
   * Each checkpoint's files are checked against its manifest; a damaged newest one is set aside
   * (renamed damaged-step-N) and the one before it is used, with a `warning` event.
   */
  resume?: boolean | string;
  /**
   * Replace a run already in `out` (its checkpoints and adapter) instead of refusing to start.
   * Without it, an `out` that holds a run needs `resume`.
   */
  overwrite?: boolean;
  /** Checkpoints to keep in out/checkpoints, the newest (default 3; 0 keeps all). */
  keepCheckpoints?: number;
  /**
   * Steps in a row whose update may be skipped for a non-finite loss or gradient before the run
   * stops with a TrainingError (default 10). A run that skips every update also stops with one,
   * and a non-finite adapter is never written.
   */
  maxSkippedSteps?: number;
  format?: DatasetFormat;
  assistantOnly?: boolean;
  /** Pack short samples into full rows (default false, as TRL's SFTTrainer: attention is not masked between packed samples, so a sample sees the ones before it in its row). */
  packing?: boolean;
  skipBadLines?: boolean;
  /** Stops the run at the next step boundary (like abort()). */
  signal?: AbortSignal;
  /** @internal test hook, called while a checkpoint is being written. */
  onCheckpointStage?: (stage: string) => void;
}

export type FinetuneEvent =
  | { type: 'start'; totalSteps: number; startStep: number; trainRows: number; validationRows: number; trainableParams: number; resumedFrom?: string; skippedLines: number }
  | {
      type: 'step';
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      lr: number;
      gradNorm: number;
      tokensPerSec: number;
      etaSec: number;
      liveBytes: number;
      peakBytes: number;
    }
  | { type: 'skip'; step: number; reason: string }
  /** Something the user should know that does not stop the run (a damaged checkpoint set aside, ...). */
  | { type: 'warning'; message: string }
  | { type: 'eval'; step: number; loss: number; perplexity: number }
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'done'; result: FinetuneResult };

export interface FinetuneResult {
  steps: number;
  /** Per step (NaN for skipped steps), from the start of the run (including resumed steps). */
  losses: number[];
  evals: { step: number; loss: number }[];
  /** The PEFT folder and, when every adapter has one, the GGUF LoRA file. */
  adapterDir: string;
  ggufAdapter?: string;
  checkpoint?: string;
  aborted: boolean;
  model: LlamaModel;
}

/** A running fine-tune: iterate it for events; `result` settles when it ends. */
export class FinetuneRun implements AsyncIterable<FinetuneEvent> {
  readonly result: Promise<FinetuneResult>;
  private queue: FinetuneEvent[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  private paused = false;
  private unpause: (() => void) | null = null;
  private aborted = false;

  constructor(opts: FinetuneOptions) {
    this.result = run(opts, this).finally(() => {
      this.ended = true;
      this.wake?.();
    });
    // the iterator reports failures; an unobserved result must not crash the process
    this.result.catch(() => {});
  }

  /** Stops after the current step (a checkpoint is written when out is set). */
  abort(): void {
    this.aborted = true;
    this.resume();
  }
  /** Holds the run at the next step boundary until resume(). */
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.unpause?.();
    this.unpause = null;
  }

  /** @internal */
  emit(e: FinetuneEvent): void {
    this.queue.push(e);
    this.wake?.();
  }
  /** @internal true when the run should stop. */
  async boundary(signal?: AbortSignal): Promise<boolean> {
    await new Promise((r) => setImmediate(r));
    while (this.paused && !this.aborted && !signal?.aborted) await new Promise<void>((r) => (this.unpause = r));
    return this.aborted || Boolean(signal?.aborted);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FinetuneEvent> {
    for (;;) {
      if (this.queue.length) {
        yield this.queue.shift()!;
        continue;
      }
      if (this.ended) {
        await this.result; // rethrows a failure
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

/** Starts a LoRA fine-tune; see FinetuneOptions. */
export function finetune(opts: FinetuneOptions): FinetuneRun {
  return new FinetuneRun(opts);
}

function fingerprint(path: string | LoadedModel, m: LlamaModel): string {
  const c = m.config;
  const shape = `${c.architecture} L${c.numLayers} d${c.hiddenSize} v${c.vocabSize}`;
  if (typeof path !== 'string') return shape;
  let size = 0;
  try {
    const st = statSync(path);
    size = st.isDirectory() ? 0 : st.size;
  } catch {
    // checked when loading
  }
  return `${basename(path)} (${size} bytes, ${shape})`;
}

async function run(o: FinetuneOptions, h: FinetuneRun): Promise<FinetuneResult> {
  const prev = o.matmulPrecision === undefined ? null : setMatmulPrecision(o.matmulPrecision);
  try {
    return await runWith(o, h);
  } finally {
    if (prev !== null) setMatmulPrecision(prev);
  }
}

async function runWith(o: FinetuneOptions, h: FinetuneRun): Promise<FinetuneResult> {
  const out = o.out ?? 'edgetrain-out';
  const seqLen = o.seqLen ?? 256;
  const batchSize = o.batchSize ?? 4;
  const gradAccum = o.gradAccum ?? 1;
  const epochs = o.epochs ?? 1;
  const seed = o.seed ?? 0;
  for (const [k, v] of [['seqLen', seqLen], ['batchSize', batchSize], ['gradAccum', gradAccum], ['epochs', epochs]] as const)
    if (!Number.isInteger(v) || v <= 0) throw new ValueError(`finetune: ${k} must be a positive integer, got ${v}`);
  if (o.maxSteps !== undefined && (!Number.isInteger(o.maxSteps) || o.maxSteps <= 0)) throw new ValueError(`finetune: maxSteps must be a positive integer, got ${o.maxSteps}`);
  const keep = o.keepCheckpoints ?? 3;
  const maxSkipped = o.maxSkippedSteps ?? 10;
  for (const [k, v] of [['keepCheckpoints', keep], ['maxSkippedSteps', maxSkipped]] as const)
    if (!Number.isInteger(v) || v < 0) throw new ValueError(`finetune: ${k} must be a non-negative integer, got ${v}`);
  // before anything slow: a run that cannot save its work must not train first
  const previous = checkOutFolder(o);

  const loaded =
    typeof o.model === 'string' ? await loadModel(o.model, { device: o.device, quantized: 'keep', quantize: o.quantize, dtype: o.baseDtype, requireTokenizer: 'finetune' }) : o.model;
  const { model, tokenizer } = loaded;
  if (typeof o.model !== 'string' && o.device !== undefined && resolveDevice(o.device, 'finetune') !== model.device)
    throw new ValueError(`finetune: device '${o.device}' was asked for, but the loaded model is on ${model.device}; load it there (loadModel(path, { device }))`);
  if (!tokenizer) throw new ValueError(`finetune: the model has no tokenizer (a GGUF file embeds one; an HF folder needs tokenizer.json)`);
  manualSeed(seed);

  // data
  const dataOpts = { tokenizer, seqLen, format: o.format, assistantOnly: o.assistantOnly, skipBadLines: o.skipBadLines };
  const ds = await loadDataset(o.data, dataOpts);
  let train = ds.samples;
  let val: typeof train = [];
  if (typeof o.validation === 'string') val = (await loadDataset(o.validation, dataOpts)).samples;
  else if (o.validation !== undefined && o.validation > 0) ({ train, validation: val } = splitValidation(train, o.validation, seed));
  const pack = { seqLen, pack: o.packing ?? false };
  const rows = packSamples(train, pack);
  const valRows = val.length ? packSamples(val, pack) : [];
  const perEpoch = Math.ceil(Math.ceil(rows.length / batchSize) / gradAccum);
  const totalSteps = Math.min(o.maxSteps ?? Infinity, perEpoch * epochs);

  // adapters
  const lora = { rank: 8, alpha: 16, ...o.lora };
  const adapters: Map<string, LoRAModule> = o.adapter ? loadAdapter(model, o.adapter) : applyLoRA(model, { ...lora, seed: seed + 1 });
  if (o.adapter) assertFiniteAdapter(namedAdapterParams(adapters), `finetune: the adapter ${o.adapter} cannot be trained on`);
  const first = adapters.values().next().value as LoRAModule;
  const identity: RunIdentity = {
    baseModel: fingerprint(o.model, model),
    rank: first.rank,
    alpha: first.alpha,
    rsLoRA: first.rsLoRA,
    targets: [...new Set([...adapters.keys()].map((p) => p.split('.').pop()!))],
    layers: layersOf(adapters),
    seqLen,
    batchSize,
    gradAccum,
    seed,
  };
  model.checkpointing = o.checkpointing ?? model.config.numLayers > 1;
  model.train();
  const params = loraParameters(adapters);
  const opt = new AdamW(params, { lr: o.lr ?? 2e-4, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0 });
  const warmupSteps = o.warmupSteps ?? Math.round((o.warmupRatio ?? 0) * totalSteps);
  const kind = o.schedule ?? 'cosine';
  const lambda: LRLambda =
    kind === 'constant' ? constant() : kind === 'linear' ? warmupLinear({ warmupSteps, totalSteps }) : warmupCosine({ warmupSteps, totalSteps });
  const sched = new LRScheduler(opt, lambda);

  // resume
  let step = 0;
  let position: DataPosition = { epoch: 0, batch: 0 };
  let losses: number[] = [];
  let evals: { step: number; loss: number }[] = [];
  let resumedFrom: string | undefined;
  removePartialCheckpoints(out);
  const warnings: string[] = [];
  const ckpt = o.resume === true ? resumable(out, warnings) : typeof o.resume === 'string' ? checkedFolder(o.resume, warnings) : undefined;
  if (ckpt) {
    const st = readTrainerState(ckpt);
    checkResumable(ckpt, st.identity, identity);
    loadAdapterValues(adapters, join(ckpt, 'adapter'));
    opt.load(join(ckpt, 'optimizer.safetensors'));
    for (let i = 0; i < st.step; i++) sched.step();
    step = st.step;
    position = st.position;
    losses = st.losses.map((x) => (x === null ? NaN : x));
    evals = st.evals;
    setRngState(st.rng);
    resumedFrom = ckpt;
  }

  if (previous && o.overwrite) {
    rmSync(join(out, 'checkpoints'), { recursive: true, force: true });
    rmSync(join(out, 'adapter'), { recursive: true, force: true });
    rmSync(join(out, 'adapter.gguf'), { force: true });
    warnings.push(`overwriting the run that was in ${out} (${previous})`);
  }

  h.emit({
    type: 'start',
    totalSteps,
    startStep: step,
    trainRows: rows.length,
    validationRows: valRows.length,
    trainableParams: params.reduce((s, p) => s + p.numel, 0),
    resumedFrom,
    skippedLines: ds.skipped.length,
  });
  for (const message of warnings) h.emit({ type: 'warning', message });

  const state = (): TrainerState => ({ version: 1, step, position, rng: getRngState(), losses, evals, identity });
  let lastCkpt: string | undefined;
  const named = namedAdapterParams(adapters);
  const save = () => {
    assertFiniteAdapter(named, `finetune: not saving the checkpoint of step ${step}: the adapter is not finite`);
    lastCkpt = writeCheckpoint(out, model, opt, state(), { keep, hook: o.onCheckpointStage });
    h.emit({ type: 'checkpoint', step, path: lastCkpt });
  };
  const evaluate = async () => {
    if (!valRows.length) return;
    const loss = await evalLoss(model, valRows, batchSize);
    evals.push({ step, loss });
    h.emit({ type: 'eval', step, loss, perplexity: Math.exp(loss) });
  };

  // off the cpu, a host copy of each step's state: a device that fails can no longer be read
  let snapshot: HostSnapshot | undefined;
  const takeSnapshot = async () => {
    if (model.device === 'cpu') return;
    const next = await HostSnapshot.take(params, opt, state());
    snapshot?.dispose();
    snapshot = next;
  };
  // a device that runs out of memory or is lost: the last host copy becomes a checkpoint, and the
  // error says what to lower and how to continue
  const deviceFailure = (e: unknown): unknown => {
    const lost = e instanceof DeviceError && !/\bnot (implemented|supported)\b/.test(e.message); // not a missing kernel
    if (!(e instanceof OutOfMemoryError || lost) || model.device === 'cpu') return e;
    let saved: string;
    if (snapshot) {
      try {
        lastCkpt = writeCheckpoint(out, model, opt, snapshot.state, { keep, snapshot, hook: o.onCheckpointStage });
        h.emit({ type: 'checkpoint', step: snapshot.state.step, path: lastCkpt });
        saved = `the run after step ${snapshot.state.step} is saved in ${lastCkpt}`;
      } catch (w) {
        saved = `writing the checkpoint of step ${snapshot.state.step} failed too (${(w as Error).message})`;
      }
    } else saved = lastCkpt ? `the last checkpoint is ${lastCkpt}` : 'no step had completed, so there is nothing to save';
    const what = e instanceof OutOfMemoryError ? 'ran out of memory' : 'failed';
    const lower =
      e instanceof OutOfMemoryError
        ? ` To fit, lower batchSize (now ${batchSize}) or seqLen (now ${seqLen})${model.checkpointing ? '' : ', or turn on checkpointing'}, raising gradAccum to keep the batch.`
        : '';
    const msg =
      `finetune: ${model.device} ${what} at step ${step + 1}: ${(e as Error).message}. ${saved[0]!.toUpperCase()}${saved.slice(1)}.${lower} ` +
      `Continue with resume: true (edgetrain finetune --resume) on ${model.device} or on another device (device: 'cpu', --device cpu).`;
    const err = e instanceof OutOfMemoryError ? new OutOfMemoryError(msg) : new DeviceError(msg);
    (err as Error & { cause?: unknown }).cause = e;
    return err;
  };

  const batches = iterateBatches(rows, { batchSize, seed, start: position });
  const t0 = performance.now();
  let tokens = 0;
  const startStep = step;
  let aborted = false;
  const ckEvery = o.checkpointEvery ?? 100;
  const evEvery = o.evalEvery ?? 50;
  let skippedInARow = 0;
  let updates = 0;
  try {
    await takeSnapshot();
    while (step < totalSteps) {
      if (await h.boundary(o.signal)) {
        aborted = true;
        break;
      }
      opt.zeroGrad();
      let lossSum = 0;
      let finite = true;
      // Forward and backward of every micro-batch are queued first; the losses are awaited after,
      // so the event loop runs while the device computes.
      const microLosses: Tensor[] = [];
      let busySince = performance.now();
      try {
        for (let a = 0; a < gradAccum; a++) {
          const b = batches.next();
          if (b.done) break;
          position = b.value.next;
          const l = trainLoss(model, b.value);
          microLosses.push(l);
          tokens += b.value.shape[0] * b.value.shape[1];
          busySince = await turnIfBusy(busySince); // queueing a forward or a backward is milliseconds of JS
          tidy(() => reshapeLoss(l, gradAccum).backward());
          busySince = await turnIfBusy(busySince);
        }
        for (const l of microLosses) {
          const v = (await l.data())[0]!;
          lossSum += v / gradAccum;
          if (!Number.isFinite(v)) finite = false;
        }
      } finally {
        for (const l of microLosses) l.dispose();
      }
      let gradNorm = 0;
      if (finite) {
        gradNorm = o.clipGradNorm === 0 ? 0 : await clipGradNormAsync(params, o.clipGradNorm ?? 1);
        if (!Number.isFinite(gradNorm)) finite = false;
      }
      step++;
      const lr = opt.paramGroups[0]!.lr;
      if (finite) {
        opt.step();
        losses.push(lossSum);
        skippedInARow = 0;
        updates++;
      } else {
        opt.zeroGrad();
        losses.push(NaN);
        skippedInARow++;
        h.emit({ type: 'skip', step, reason: `non-finite ${Number.isFinite(lossSum) ? 'gradient norm' : 'loss'}; the update was skipped` });
        if (skippedInARow > maxSkipped)
          throw new TrainingError(
            `finetune: the updates of ${skippedInARow} steps in a row (${step - skippedInARow + 1}-${step}) were skipped for a non-finite loss or gradient, more than maxSkippedSteps = ${maxSkipped}; ` +
              `stopping without writing the adapter${lastCkpt ? ` (the last checkpoint is ${lastCkpt})` : ''}. Check the model and data for NaN/Inf, or lower the learning rate.`,
          );
      }
      sched.step();
      await synchronize(model.device); // the update has run: time and memory figures are this step's
      const sec = (performance.now() - t0) / 1000;
      const m = memory()[model.device] ?? { liveBytes: 0, peakBytes: 0 };
      h.emit({
        type: 'step',
        step,
        totalSteps,
        epoch: position.epoch + position.batch / Math.max(1, Math.ceil(rows.length / batchSize)),
        loss: lossSum,
        lr,
        gradNorm,
        tokensPerSec: tokens / Math.max(sec, 1e-9),
        etaSec: ((totalSteps - step) * sec) / Math.max(1, step - startStep),
        liveBytes: m.liveBytes,
        peakBytes: m.peakBytes,
      });
      if (evEvery > 0 && step % evEvery === 0 && step < totalSteps) await evaluate();
      if (ckEvery > 0 && step % ckEvery === 0 && step < totalSteps) save();
      await takeSnapshot();
    }
    if (step > startStep && updates === 0)
      throw new TrainingError(
        `finetune: every update of the run (steps ${startStep + 1}-${step}) was skipped for a non-finite loss or gradient; not writing the adapter. Check the model and data for NaN/Inf, or lower the learning rate.`,
      );
    if (!aborted || step > startStep) {
      if (!aborted) await evaluate();
      save();
    }
  } catch (e) {
    throw deviceFailure(e);
  } finally {
    snapshot?.dispose();
  }
  model.eval();
  const adapterDir = join(out, 'adapter');
  savePEFTAdapter(adapterDir, model, { baseModel: typeof o.model === 'string' ? o.model : undefined });
  let ggufAdapter: string | undefined;
  if (![...adapters.values()].some((a) => a instanceof LoRAEmbedding)) {
    ggufAdapter = join(out, 'adapter.gguf');
    saveGGUFAdapter(ggufAdapter, model);
  }
  const result: FinetuneResult = { steps: step, losses, evals, adapterDir, ggufAdapter, checkpoint: lastCkpt, aborted, model };
  h.emit({ type: 'done', result });
  return result;
}

/** The adapter tensors by their PEFT names (less the base_model.model. prefix). */
function namedAdapterParams(adapters: Map<string, LoRAModule>): [string, ReturnType<typeof loraParameters>[number]][] {
  const out: [string, ReturnType<typeof loraParameters>[number]][] = [];
  for (const [path, a] of adapters) {
    if (a instanceof LoRAEmbedding) out.push([`${path}.lora_embedding_A`, a.lora_embedding_A], [`${path}.lora_embedding_B`, a.lora_embedding_B]);
    else out.push([`${path}.lora_A.weight`, a.lora_A.weight], [`${path}.lora_B.weight`, a.lora_B.weight]);
  }
  return out;
}

/** Adapted layer indices, sorted. */
function layersOf(adapters: Map<string, LoRAModule>): number[] | null {
  const s = new Set<number>();
  for (const p of adapters.keys()) {
    const m = /(?:^|\.)layers\.(\d+)\./.exec(p);
    if (m) s.add(Number(m[1]));
  }
  return s.size ? [...s].sort((a, b) => a - b) : null;
}

/** Mean cross-entropy over the labelled positions of a batch (a scalar tensor). */
function trainLoss(model: LlamaModel, b: Batch) {
  return tidy(() => {
    const [B, T] = b.shape;
    const device = model.device;
    const logits = model.forward(tensor(b.inputs, [B, T], { dtype: 'int32', device }));
    return crossEntropy(reshape(logits, [B * T, model.config.vocabSize]), tensor(b.labels, [B * T], { dtype: 'int32', device }));
  });
}

/** The micro-batch loss divided by the accumulation count (gradients add up to the mean). */
function reshapeLoss(l: ReturnType<typeof trainLoss>, accum: number) {
  return accum === 1 ? l : l.mul(1 / accum);
}

/**
 * Lets due timers and I/O run when the JS thread has been busy for over 5 ms since `since`
 * (a timeout, unlike setImmediate, lets the timers phase come first); returns when it was last
 * free. Small steps skip the turn and its millisecond.
 */
async function turnIfBusy(since: number): Promise<number> {
  if (performance.now() - since < 5) return since;
  await new Promise((r) => setTimeout(r, 0));
  return performance.now();
}

/** Mean loss over the validation rows, in eval mode and without gradients. */
async function evalLoss(model: LlamaModel, rows: Row[], batchSize: number): Promise<number> {
  const wasTraining = model.training;
  model.eval();
  let sum = 0;
  let n = 0;
  const rng = getRngState();
  try {
    for (const b of iterateBatches(rows, { batchSize, seed: 0, shuffle: false, epochs: 1 })) {
      const count = b.labels.reduce((s, x) => s + (x >= 0 ? 1 : 0), 0);
      if (count === 0) continue;
      const l = noGrad(() => tidy(() => trainLoss(model, b)));
      try {
        sum += (await l.data())[0]! * count;
      } finally {
        l.dispose();
      }
      n += count;
    }
  } finally {
    model.train(wasTraining);
    setRngState(rng); // evaluation draws nothing, but keep the training stream exact regardless
  }
  return sum / Math.max(1, n);
}

/** Copies a checkpoint's PEFT adapter values into the run's adapters (which must match it). */
function loadAdapterValues(adapters: Map<string, LoRAModule>, dir: string): void {
  const { tensors } = loadSafetensors(join(dir, 'adapter_model.safetensors'), { device: 'cpu' });
  try {
    noGrad(() => {
      for (const [name, dst] of namedAdapterParams(adapters)) {
        const src = tensors.get(`base_model.model.${name}`);
        if (!src || src.shape.join() !== dst.shape.join()) throw new ValueError(`finetune: checkpoint adapter lacks ${name} [${dst.shape}]`);
        copyInto(dst, src);
      }
    });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
