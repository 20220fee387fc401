// The Vulkan pipeline cache on disk: each run is a fresh node process on dist/index.cjs (the
// cache is read when the device opens, written when the backend closes at exit).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { requireVulkan } from './helpers/devices.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist', 'index.cjs');
const vulkan = et.devices().find((d) => d.name === 'vulkan');
const haveVulkan = !!vulkan?.available;
if (requireVulkan && !haveVulkan) throw new Error(`EDGETRAIN_REQUIRE_VULKAN=1 but vulkan is unavailable: ${vulkan?.reason ?? 'not listed'}`);

// One vulkan op, then what devices() says of the cache and the start-up time.
const CHILD = `
  const t0 = process.hrtime.bigint();
  const et = require(${JSON.stringify(DIST)});
  const a = et.ones([4, 4]).to('vulkan');
  const sum = Array.from(et.matmul(a, a).to('cpu').dataSync()).reduce((s, v) => s + v, 0);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const d = et.devices().find((x) => x.name === 'vulkan');
  console.log(JSON.stringify({ sum, ms, cache: d.features.pipelineCache }));`;

interface ChildResult {
  sum: number;
  ms: number;
  cache: string;
}

function child(env: Record<string, string>): ChildResult {
  const base = { ...process.env };
  delete base.EDGETRAIN_VULKAN_PIPELINE_CACHE;
  const r = spawnSync(process.execPath, ['-e', CHILD], { encoding: 'utf8', env: { ...base, ...env } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout.trim()) as ChildResult;
  expect(out.sum).toBe(64);
  return out;
}

const files = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('vulkan-')) : []);

// "ETPC", version 1, payload bytes, checksum, then the driver's VkPipelineCacheHeaderVersionOne.
function checkFile(path: string) {
  const b = readFileSync(path);
  expect(b.subarray(0, 4).toString('latin1')).toBe('ETPC');
  expect(b.readUInt32LE(4)).toBe(1);
  expect(Number(b.readBigUInt64LE(8))).toBe(b.length - 24);
  expect(b.readUInt32LE(24)).toBeGreaterThanOrEqual(32); // headerSize
  expect(b.readUInt32LE(28)).toBe(1); // VK_PIPELINE_CACHE_HEADER_VERSION_ONE
}

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'et-pcache-'));
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!haveVulkan)('vulkan pipeline cache', () => {
  test('dist is built', () => {
    if (!existsSync(DIST)) throw new Error('dist/index.cjs is missing: run npx tsup');
  });

  test('is written after first use and read by the next process', { timeout: 60_000 }, () => {
    const dir = join(root, 'warm', 'edgetrain'); // created as needed
    const cold = child({ EDGETRAIN_CACHE_DIR: dir });
    expect(cold.cache).toContain(dir);
    expect(cold.cache).toMatch(/empty/);
    const name = files(dir)[0]!;
    expect(name).toMatch(/^vulkan-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}-[0-9a-f]{16}\.bin$/);
    checkFile(join(dir, name));
    expect(readdirSync(dir)).toEqual([name]); // no temp file left behind
    const warm = child({ EDGETRAIN_CACHE_DIR: dir });
    expect(warm.cache).toBe(`${join(dir, name)} (read ${readFileSync(join(dir, name)).length - 24} bytes)`);
    // lavapipe's cache holds no compiled code (the driver's own shader cache does that), so
    // start-up is only reported, not compared
    console.log(`first vulkan op in a fresh process: ${cold.ms.toFixed(0)} ms cold, ${warm.ms.toFixed(0)} ms warm`);
  });

  test('is saved while the process runs, a while after new pipelines (a killed process keeps it)', { timeout: 60_000 }, () => {
    const dir = join(root, 'killed');
    const code = `
      const et = require(${JSON.stringify(DIST)});
      const a = et.ones([4, 4]).to('vulkan');
      et.matmul(a, a).to('cpu').dataSync();
      setTimeout(() => { et.matmul(a, a).to('cpu').dataSync(); process.kill(process.pid, 'SIGKILL'); }, 2500);`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, EDGETRAIN_CACHE_DIR: dir } });
    expect(r.signal).toBe('SIGKILL');
    const name = files(dir)[0]!;
    checkFile(join(dir, name));
  });

  test('follows XDG_CACHE_HOME when EDGETRAIN_CACHE_DIR is unset', { timeout: 60_000 }, () => {
    const xdg = join(root, 'xdg');
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: xdg };
    delete env.EDGETRAIN_CACHE_DIR;
    const r = spawnSync(process.execPath, ['-e', CHILD], { encoding: 'utf8', env });
    expect(r.status).toBe(0);
    expect(files(join(xdg, 'edgetrain'))).toHaveLength(1);
  });

  test('a damaged or truncated file is ignored and replaced', { timeout: 60_000 }, () => {
    const dir = join(root, 'damaged');
    child({ EDGETRAIN_CACHE_DIR: dir });
    const name = files(dir)[0]!;
    const path = join(dir, name);
    const good = readFileSync(path);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 0xff;
    const wrongDevice = Buffer.from(good);
    wrongDevice.writeUInt32LE(wrongDevice.readUInt32LE(32) ^ 1, 32); // vendorID (checksum fixed below)
    let h = 0xcbf29ce484222325n;
    for (const byte of wrongDevice.subarray(24)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
    wrongDevice.writeBigUInt64LE(h, 16);
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 5), /truncated/],
      ['flipped', flipped, /checksum/],
      ['garbage', Buffer.from('not a pipeline cache'), /not a cache file/],
      ['empty', Buffer.alloc(0), /not a cache file/],
      ['another device', wrongDevice, /another device/],
    ];
    for (const [, bytes, why] of cases) {
      writeFileSync(path, bytes);
      const r = child({ EDGETRAIN_CACHE_DIR: dir });
      expect(r.cache).toMatch(why);
      expect(r.cache).toMatch(/replaced/);
      checkFile(path);
      expect(child({ EDGETRAIN_CACHE_DIR: dir }).cache).toMatch(/\(read \d+ bytes\)$/);
    }
  });

  test('EDGETRAIN_VULKAN_PIPELINE_CACHE=0 reads and writes nothing', { timeout: 60_000 }, () => {
    const dir = join(root, 'off');
    const r = child({ EDGETRAIN_CACHE_DIR: dir, EDGETRAIN_VULKAN_PIPELINE_CACHE: '0' });
    expect(r.cache).toBe('off (EDGETRAIN_VULKAN_PIPELINE_CACHE=0)');
    expect(existsSync(dir)).toBe(false);
  });

  test('a folder that cannot be made or written fails nothing', { timeout: 60_000 }, () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const r = child({ EDGETRAIN_CACHE_DIR: join(file, 'sub') });
    expect(r.cache).toMatch(/not writable/);
    const ro = join(root, 'read-only');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    try {
      child({ EDGETRAIN_CACHE_DIR: ro }); // root may still write there: only "no failure" is checked
    } finally {
      chmodSync(ro, 0o755);
    }
  });

  test('edgetrain doctor names the cache', { timeout: 60_000 }, () => {
    const dir = join(root, 'doctor');
    const cli = join(ROOT, 'dist', 'cli.js');
    const r = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', env: { ...process.env, EDGETRAIN_CACHE_DIR: dir } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`pipeline cache: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/vulkan-\\S+\\.bin \\(empty`));
  });
});
