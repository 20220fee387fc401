// Training checkpoints: a folder per step holding the adapter (PEFT form), the optimizer state,
// trainer_state.json (step, data position, RNG position, losses, the run's config) and
// manifest.json (size and SHA-256 of every other file).
// A checkpoint is written into a temporary folder, fsynced, then renamed into place, and only
// then named in `latest` (itself written atomically): a process killed at any moment leaves the
// previous checkpoint intact and `latest` pointing at it. On resume the manifest is checked, so
// flipped or missing bytes are found; a damaged checkpoint is set aside and the newest good one
// is used, and the run says which.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { FormatError, TrainingError, ValueError } from '../errors.js';
import { writeFileAtomic } from '../formats/atomic.js';
import { loadSafetensors } from '../formats/safetensors.js';
import { savePEFTAdapter } from '../models/adapter.js';
import type { LlamaModel } from '../models/llama.js';
import type { Tensor } from '../tensor.js';
import type { Optimizer, BaseOptions } from '../optim/optimizer.js';
import type { DataPosition } from './batch.js';
import type { HostSnapshot } from './snapshot.js';

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

/** manifest.json: every file of the checkpoint but itself, by path relative to the checkpoint. */
interface Manifest {
  version: 1;
  files: Record<string, { bytes: number; sha256: string }>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const STEP_DIR = /^step-(\d+)$/;
const MANIFEST = 'manifest.json';

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

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) for (const f of filesUnder(p)) out.push(f);
    else out.push(p);
  }
  return out;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Throws TrainingError naming the first adapter value that is NaN or infinite. */
export function assertFiniteAdapter(tensors: Iterable<[string, Tensor]>, what: string): void {
  for (const [name, t] of tensors) {
    const d = t.dataSync();
    for (let i = 0; i < d.length; i++) {
      const v = d[i] as number;
      if (!Number.isFinite(v)) throw new TrainingError(`${what}: ${name} [${t.shape}] holds ${v} at element ${i}`);
    }
  }
}

/** The checkpoint folder name of a step. */
export const checkpointName = (step: number) => `step-${String(step).padStart(6, '0')}`;

/**
 * Writes checkpoint `state.step` under `dir/checkpoints/`, then removes all but the newest `keep`
 * checkpoints (0 keeps every one); returns its folder.
 */
export function writeCheckpoint(
  dir: string,
  model: LlamaModel,
  optimizer: Optimizer<BaseOptions>,
  state: TrainerState,
  opts: { keep?: number; hook?: (stage: string) => void; snapshot?: HostSnapshot } = {},
): string {
  const { keep = 0, hook, snapshot } = opts;
  const root = join(dir, 'checkpoints');
  mkdirSync(root, { recursive: true });
  const name = checkpointName(state.step);
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  savePEFTAdapter(join(tmp, 'adapter'), model, { values: snapshot?.params });
  hook?.('adapter');
  optimizer.save(join(tmp, 'optimizer.safetensors'), { stateDict: snapshot?.optimizer });
  hook?.('optimizer');
  writeFileAtomic(join(tmp, 'trainer_state.json'), enc(`${JSON.stringify(state)}\n`));
  const manifest: Manifest = { version: 1, files: {} };
  for (const f of filesUnder(tmp).sort()) manifest.files[relative(tmp, f).split('\\').join('/')] = { bytes: statSync(f).size, sha256: sha256(f) };
  writeFileAtomic(join(tmp, MANIFEST), enc(`${JSON.stringify(manifest, null, 1)}\n`));
  fsyncDir(tmp);
  const final = join(root, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  fsyncDir(root);
  hook?.('renamed');
  writeFileAtomic(join(root, 'latest'), enc(`${name}\n`));
  if (keep > 0) pruneCheckpoints(dir, keep, state.step);
  return final;
}

/** Step folders under dir/checkpoints, newest (highest step) first. */
export function listCheckpoints(dir: string): { name: string; step: number; path: string }[] {
  const root = join(dir, 'checkpoints');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => ({ name, m: STEP_DIR.exec(name) }))
    .filter((x) => x.m && statSync(join(root, x.name)).isDirectory())
    .map((x) => ({ name: x.name, step: Number(x.m![1]), path: join(root, x.name) }))
    .sort((a, b) => b.step - a.step);
}

/**
 * Removes the checkpoints older than the newest `keep` at or below `step`. Folders of later steps
 * (left by a run that resumed from an earlier checkpoint) are overwritten when the run gets
 * there, and are not counted.
 */
function pruneCheckpoints(dir: string, keep: number, step: number): void {
  const older = listCheckpoints(dir).filter((c) => c.step <= step);
  for (const c of older.slice(keep)) rmSync(c.path, { recursive: true, force: true });
}

/**
 * Why a checkpoint folder cannot be resumed (a missing or unreadable file, a size or SHA-256
 * that differs from its manifest, a non-finite adapter), or undefined when it can. A checkpoint
 * without manifest.json (written before checkpoints had one) is checked for its files only;
 * `unverified` says so.
 */
export function checkCheckpoint(ckpt: string): { problem?: string; unverified?: boolean } {
  const p = (s: string) => ({ problem: s });
  if (!existsSync(join(ckpt, 'trainer_state.json'))) return p('trainer_state.json is missing');
  let unverified = false;
  const mpath = join(ckpt, MANIFEST);
  if (existsSync(mpath)) {
    let m: Manifest;
    try {
      m = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
    } catch (e) {
      return p(`${MANIFEST} is not valid JSON (${(e as Error).message})`);
    }
    if (m?.version !== 1 || typeof m.files !== 'object' || m.files === null) return p(`${MANIFEST} is not a manifest this version writes`);
    for (const [rel, want] of Object.entries(m.files)) {
      const f = join(ckpt, rel);
      if (!existsSync(f)) return p(`${rel} is missing`);
      const bytes = statSync(f).size;
      if (bytes !== want.bytes) return p(`${rel} is ${bytes} bytes, the manifest says ${want.bytes}`);
      const h = sha256(f);
      if (h !== want.sha256) return p(`${rel} has SHA-256 ${h.slice(0, 16)}..., the manifest says ${want.sha256.slice(0, 16)}...`);
    }
    for (const need of ['trainer_state.json', 'optimizer.safetensors', 'adapter/adapter_model.safetensors'])
      if (!(need in m.files)) return p(`${MANIFEST} does not list ${need}`);
  } else {
    unverified = true;
    for (const need of ['optimizer.safetensors', join('adapter', 'adapter_model.safetensors')]) if (!existsSync(join(ckpt, need))) return p(`${need} is missing`);
  }
  try {
    readTrainerState(ckpt);
  } catch (e) {
    return p((e as Error).message);
  }
  try {
    const { tensors } = loadSafetensors(join(ckpt, 'adapter', 'adapter_model.safetensors'), { device: 'cpu' });
    try {
      assertFiniteAdapter(tensors, 'the adapter');
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  } catch (e) {
    return p((e as Error).message);
  }
  return { unverified };
}

export interface FoundCheckpoint {
  /** The newest checkpoint that passed its checks; undefined when there is none. */
  path?: string;
  /** Whether it had no manifest to check its bytes against. */
  unverified?: boolean;
  /** Checkpoints newer than it (or named by `latest`) that failed, with why. */
  damaged: { path: string; problem: string }[];
}

/**
 * The checkpoint to resume under dir/checkpoints: the one `latest` names when it passes
 * checkCheckpoint, else the newest step folder that does.
 */
export function findCheckpoint(dir: string): FoundCheckpoint {
  const root = join(dir, 'checkpoints');
  const damaged: FoundCheckpoint['damaged'] = [];
  const candidates: string[] = [];
  const lp = join(root, 'latest');
  if (existsSync(lp)) {
    const name = readFileSync(lp, 'utf8').trim();
    if (STEP_DIR.test(name) && existsSync(join(root, name))) candidates.push(join(root, name));
    else damaged.push({ path: lp, problem: `names '${name}', which is not a checkpoint folder` });
  }
  for (const c of listCheckpoints(dir)) if (!candidates.includes(c.path)) candidates.push(c.path);
  for (const c of candidates) {
    const r = checkCheckpoint(c);
    if (r.problem === undefined) return { path: c, unverified: r.unverified, damaged };
    damaged.push({ path: c, problem: r.problem });
  }
  return { damaged };
}

/**
 * Renames damaged step folders to `damaged-step-N` (kept for inspection, never resumed or
 * pruned) and points `latest` at `good`.
 */
export function setAsideDamaged(dir: string, damaged: { path: string }[], good: string): string[] {
  const root = join(dir, 'checkpoints');
  const moved: string[] = [];
  for (const d of damaged) {
    const name = relative(root, d.path);
    if (!STEP_DIR.test(name)) continue;
    let to = join(root, `damaged-${name}`);
    for (let i = 1; existsSync(to); i++) to = join(root, `damaged-${name}.${i}`);
    renameSync(d.path, to);
    moved.push(to);
  }
  writeFileAtomic(join(root, 'latest'), enc(`${relative(root, good)}\n`));
  fsyncDir(root);
  return moved;
}

/** The folder `latest` names under `dir/checkpoints`, or undefined when there is none. */
export function latestCheckpoint(dir: string): string | undefined {
  const root = join(dir, 'checkpoints');
  const p = join(root, 'latest');
  if (!existsSync(p)) return undefined;
  const name = readFileSync(p, 'utf8').trim();
  const full = join(root, name);
  if (!STEP_DIR.test(name) || !existsSync(join(full, 'trainer_state.json'))) throw new FormatError(`checkpoint: ${p} names '${name}', which is not a complete checkpoint`);
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
  if (s?.version !== 1 || !Number.isInteger(s.step) || !s.identity) throw new FormatError(`checkpoint: ${p} is not a trainer state this version writes`);
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
