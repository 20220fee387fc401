// The output folder of a fine-tune: checked writable and free of an earlier run before anything
// slow happens, and the checkpoint to resume from, found and checked.
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TrainingError, ValueError } from '../errors.js';
import { writeFileAtomic } from '../formats/atomic.js';
import { checkCheckpoint, findCheckpoint, listCheckpoints, setAsideDamaged } from './checkpoint.js';

/**
 * Checks, before anything slow, that the run can save its work: `out` can be made and written,
 * and it holds no earlier run unless resume or overwrite says what to do with it. Returns what
 * of an earlier run it holds (to overwrite), in words.
 */
export function checkOutFolder(o: { out?: string; resume?: boolean | string; overwrite?: boolean }): string | undefined {
  const out = o.out ?? 'edgetrain-out';
  if (o.resume && o.overwrite) throw new ValueError('finetune: resume and overwrite exclude each other: resume continues the run in out, overwrite replaces it');
  assertWritable(out);
  const previous = o.resume ? undefined : existingRun(out);
  if (previous && !o.overwrite)
    throw new ValueError(`finetune: ${out} already holds a run (${previous}); pass resume (--resume) to continue it, overwrite (--overwrite) to replace it, or choose another out folder`);
  return previous;
}

/** Throws ValueError when `out` cannot be made or written. */
function assertWritable(out: string): void {
  const probe = join(out, `.edgetrain-write-test-${process.pid}`);
  try {
    mkdirSync(out, { recursive: true });
    writeFileAtomic(probe, new Uint8Array(1));
    unlinkSync(probe);
  } catch (e) {
    throw new ValueError(`finetune: cannot write to the output folder ${out}: ${(e as Error).message}`);
  }
}

/** What of an earlier run `out` holds, in words, or undefined when it holds none. */
function existingRun(out: string): string | undefined {
  const ck = listCheckpoints(out);
  if (ck.length) return `checkpoints up to step ${ck[0]!.step}`;
  if (existsSync(join(out, 'checkpoints', 'latest'))) return 'a checkpoints/latest file';
  if (existsSync(join(out, 'adapter', 'adapter_model.safetensors'))) return 'an adapter';
  if (existsSync(join(out, 'adapter.gguf'))) return 'adapter.gguf';
  return undefined;
}

/** The newest good checkpoint in out; damaged newer ones are set aside, with a warning. */
export function resumable(out: string, warnings: string[]): string {
  const f = findCheckpoint(out);
  const what = f.damaged.map((d) => `${d.path}: ${d.problem}`).join('; ');
  if (!f.path) {
    if (f.damaged.length) throw new TrainingError(`finetune: no checkpoint in ${join(out, 'checkpoints')} can be resumed (${what})`);
    throw new ValueError(`finetune: resume requested but ${join(out, 'checkpoints')} holds no checkpoint`);
  }
  if (f.damaged.length) {
    const moved = setAsideDamaged(out, f.damaged, f.path);
    warnings.push(`resuming from ${f.path}, the newest good checkpoint: ${what}${moved.length ? ` (set aside as ${moved.join(', ')})` : ''}`);
  }
  if (f.unverified) warnings.push(`${f.path} has no manifest (written by an earlier edgetrain): its bytes were not verified`);
  return f.path;
}

/** A checkpoint folder given by path, checked; a damaged one is refused, naming the newest good one beside it. */
export function checkedFolder(ckpt: string, warnings: string[]): string {
  const r = checkCheckpoint(ckpt);
  if (r.problem !== undefined) {
    const parent = join(ckpt, '..', '..');
    const alt = findCheckpoint(parent).path;
    throw new TrainingError(`finetune: cannot resume from ${ckpt}: ${r.problem}${alt && alt !== ckpt ? `; the newest good checkpoint beside it is ${alt}` : ''}`);
  }
  if (r.unverified) warnings.push(`${ckpt} has no manifest (written by an earlier edgetrain): its bytes were not verified`);
  return ckpt;
}
