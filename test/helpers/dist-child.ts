// Child node processes on the built package (dist/index.cjs, `npx tsup`), for what only a whole
// process shows: its memory, how it exits, env read once at device open (EDGETRAIN_VULKAN_*), the
// stats printed at exit. test/helpers/child.ts bundles lib/ instead, for the device registry.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = join(ROOT, 'dist', 'index.cjs');
/** The shipped model and LoRA task. */
export const MODEL = join(ROOT, 'models', 'moby-4m.gguf');
export const TASK = join(ROOT, 'data', 'reverse-words', 'train.jsonl');

/** Throws when dist/ is missing (before a test's own long work, not only at its first child). */
export function requireDist(): void {
  if (!existsSync(DIST)) throw new Error('dist/index.cjs is missing: run npx tsup');
}

/**
 * Runs `code` (CommonJS, with `et` bound to dist/index.cjs) in a child node process with `env`
 * added to this one's, killed after `timeoutMs`. Throws when dist/ is missing.
 */
export function runOnDist(code: string, env: Record<string, string> = {}, timeoutMs = 120_000): SpawnSyncReturns<string> {
  requireDist();
  const script = `const et = require(${JSON.stringify(DIST)});\n${code}`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs });
}

/** The last line a child printed, parsed as JSON. */
export function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

export interface FinetuneChild {
  r: SpawnSyncReturns<string>;
  /** 'step N' lines printed, one per finished step. */
  steps: number;
  /** 'finished', or 'error <class>: <message>' for the error the run threw; '' when neither was printed. */
  outcome: string;
  /** Date.now() in the child when its script ended (NaN if it never did), and here when it had exited. */
  endMs: number;
  exitedMs: number;
}

/** finetune(opts) in a child process on dist/, its events and ending reported line by line. */
export function finetuneOnDist(opts: object, env: Record<string, string> = {}, timeoutMs = 300_000): FinetuneChild {
  const code = `
    (async () => {
      const run = et.finetune(${JSON.stringify(opts)});
      try {
        for await (const e of run) if (e.type === 'step') console.log('step ' + e.step);
        await run.result;
        console.log('finished');
      } catch (e) { console.log('error ' + e.constructor.name + ': ' + e.message); }
      console.log('end ' + Date.now());
    })();`;
  const r = runOnDist(code, env, timeoutMs);
  const exitedMs = Date.now();
  const lines = (r.stdout ?? '').trim().split('\n');
  const at = lines.findIndex((l) => l === 'finished' || l.startsWith('error '));
  const endAt = lines.findIndex((l) => l.startsWith('end '));
  const end = endAt >= 0 ? lines[endAt]! : undefined;
  return {
    r,
    steps: lines.filter((l) => l.startsWith('step ')).length,
    // an error message of several lines runs up to the 'end' line
    outcome: at < 0 ? '' : lines.slice(at, endAt > at ? endAt : undefined).join('\n'),
    endMs: end ? +end.slice(4) : NaN,
    exitedMs,
  };
}
