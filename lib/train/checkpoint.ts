// Training checkpoints: a folder per step holding the adapter (PEFT form), the optimizer state,
// and trainer_state.json (step, data position, RNG position, losses, the run's config).
// A checkpoint is written into a temporary folder, fsynced, then renamed into place, and only
// then named in `latest` (itself written atomically): a process killed at any moment leaves the
// previous checkpoint intact and `latest` pointing at it.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import { writeFileAtomic } from '../formats/atomic.js';
import { savePEFTAdapter } from '../models/adapter.js';
import type { LlamaModel } from '../models/llama.js';
import type { Optimizer, BaseOptions } from '../optim/optimizer.js';
import type { DataPosition } from './batch.js';

/** What must match for a checkpoint to be resumed. */
export interface RunIdentity {
  /** The base model: file or folder name, size in bytes, architecture and shape. */
  baseModel: string;
  rank: number;
  alpha: number;
  rsLoRA: boolean;
  targets: string[];
  layers: number[] | null;
  seqLen: number;
  batchSize: number;
  gradAccum: number;
  seed: number;
}

export interface TrainerState {
  version: 1;
  /** Optimizer steps taken. */
  step: number;
  /** The next batch to train. */
  position: DataPosition;
  rng: { seed: number; counter: number };
  /** Training loss of every step so far (NaN where a step was skipped). */
  losses: number[];
  evals: { step: number; loss: number }[];
  identity: RunIdentity;
}

const enc = (s: string) => new TextEncoder().encode(s);

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some platforms cannot open a directory for fsync; the rename is still atomic
  }
}

/** Writes checkpoint `state.step` under `dir/checkpoints/`; returns its folder. */
export function writeCheckpoint(dir: string, model: LlamaModel, optimizer: Optimizer<BaseOptions>, state: TrainerState, hook?: (stage: string) => void): string {
  const root = join(dir, 'checkpoints');
  mkdirSync(root, { recursive: true });
  const name = `step-${String(state.step).padStart(6, '0')}`;
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  savePEFTAdapter(join(tmp, 'adapter'), model);
  hook?.('adapter');
  optimizer.save(join(tmp, 'optimizer.safetensors'));
  hook?.('optimizer');
  writeFileAtomic(join(tmp, 'trainer_state.json'), enc(`${JSON.stringify(state)}\n`));
  fsyncDir(tmp);
  const final = join(root, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  fsyncDir(root);
  hook?.('renamed');
  writeFileAtomic(join(root, 'latest'), enc(`${name}\n`));
  return final;
}

/** The folder `latest` names under `dir/checkpoints`, or undefined when there is none. */
export function latestCheckpoint(dir: string): string | undefined {
  const root = join(dir, 'checkpoints');
  const p = join(root, 'latest');
  if (!existsSync(p)) return undefined;
  const name = readFileSync(p, 'utf8').trim();
  const full = join(root, name);
  if (!/^step-\d+$/.test(name) || !existsSync(join(full, 'trainer_state.json'))) throw new FormatError(`checkpoint: ${p} names '${name}', which is not a complete checkpoint`);
  return full;
}

/** Removes temporary folders of checkpoints that were being written when a process died. */
export function removePartialCheckpoints(dir: string): string[] {
  const root = join(dir, 'checkpoints');
  if (!existsSync(root)) return [];
  const gone = readdirSync(root).filter((n) => /^\.step-\d+\.tmp-\d+$/.test(n));
  for (const n of gone) rmSync(join(root, n), { recursive: true, force: true });
  return gone;
}

export function readTrainerState(ckpt: string): TrainerState {
  const p = join(ckpt, 'trainer_state.json');
  let s: TrainerState;
  try {
    s = JSON.parse(readFileSync(p, 'utf8')) as TrainerState;
  } catch (e) {
    throw new FormatError(`checkpoint: cannot read ${p}: ${(e as Error).message}`);
  }
  if (s.version !== 1 || !Number.isInteger(s.step) || !s.identity) throw new FormatError(`checkpoint: ${p} is not a trainer state this version writes`);
  return s;
}

/** Throws ValueError listing every field where the checkpoint's run differs from this one. */
export function checkResumable(ckpt: string, saved: RunIdentity, now: RunIdentity): void {
  const diffs: string[] = [];
  for (const k of Object.keys(now) as (keyof RunIdentity)[]) {
    const a = JSON.stringify(saved[k]);
    const b = JSON.stringify(now[k]);
    if (a !== b) diffs.push(`${k}: checkpoint ${a}, now ${b}`);
  }
  if (diffs.length) throw new ValueError(`finetune: cannot resume from ${ckpt}: the run differs (${diffs.join('; ')}). Start a new run (another out folder) or use the same settings.`);
}
