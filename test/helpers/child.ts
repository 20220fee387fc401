// Child node processes on the current lib/, bundled by esbuild: the device registry starts once
// per process, so tests of what it finds (plugins, Vulkan devices) run in a fresh one each time.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import type { DeviceStatus } from '../../lib/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let bundle: string | undefined;

/** lib/index.ts as one ESM file under node_modules (the addon loader finds the package root from it). */
export function libBundle(): string {
  if (bundle) return bundle;
  const dir = join(root, 'node_modules', `.edgetrain-child-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'index.mjs');
  buildSync({ entryPoints: [join(root, 'lib/index.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'error' });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (bundle = out);
}

/**
 * Runs `code` (an ES module body where `et` is the package) in a child node process with `env`
 * added; returns what it printed. Throws with the child's stderr when it fails.
 */
export function runChild(code: string, env: Record<string, string | undefined> = {}): string {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  const script = `import * as et from ${JSON.stringify(libBundle())};\n${code}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: merged, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** devices() of a child process with `env`. */
export function childDevices(env: Record<string, string | undefined>): DeviceStatus[] {
  return JSON.parse(runChild('console.log(JSON.stringify(et.devices()));', env)) as DeviceStatus[];
}
