// The addon and the TypeScript mirror of the op table agree, the addon reports itself, and every
// entry point answers bad arguments with an error instead of taking the process down.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { maxThreads } from '../lib/device.js';
import * as et from '../lib/index.js';
import { addonPath, native, type Handle } from '../lib/native/addon.js';
import { KERNEL_OPS, OP, OP_SCHEMA } from '../lib/native/ops.js';
import { meta } from '../lib/native/run.js';

const L = native.callLayout;

/**
 * Writes the call layout of `op` with one 1-d view per argument into meta: argument i has
 * dtype id dtypes[i] (default float32) and shape [4] with stride 1, except argument 0, whose shape
 * and stride are given.
 */
function describeCall(op: number, nIn: number, nOut: number, shape0 = 4, stride0 = 1, dtypes: number[] = []): void {
  meta[0] = op;
  meta[1] = nIn;
  meta[2] = nOut;
  for (let i = 0; i < nIn + nOut; i++) {
    const b = L.header + L.slot * i;
    meta[b] = dtypes[i] ?? 0;
    meta[b + 1] = 1;
    meta[b + 2] = 0;
    meta[b + 3] = i === 0 ? shape0 : 4;
    meta[b + 3 + L.maxDims] = i === 0 ? stride0 : 1;
  }
}
const describeAdd = (shape0: number, stride0: number) => describeCall(OP.add, 2, 1, shape0, stride0);

describe('native addon', () => {
  test('lib/native/ops.ts lists the ops of csrc/ops.h in the same order', () => {
    expect(Object.keys(OP)).toEqual(native.opNames());
    expect(Object.values(OP)).toEqual(native.opNames().map((_, i) => i));
    expect(KERNEL_OPS).toEqual(native.opNames());
    for (const op of KERNEL_OPS) expect(OP_SCHEMA[op].id, op).toBe(OP[op]);
  });

  test('the generated op files are up to date with schema/ops.json', () => {
    const r = spawnSync(process.execPath, ['scripts/gen-ops.mjs', '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('the addon exports the call layout; its parts do not overlap', () => {
    expect(L.slot).toBeGreaterThanOrEqual(3 + 2 * L.maxDims);
    expect(L.header + L.maxArgs * L.slot).toBeLessThanOrEqual(L.params);
    expect(L.params + L.maxParams).toBeLessThanOrEqual(L.size);
    expect(native.metaSize).toBe(L.size);
  });

  test('exec checks dtypes and arity against the op schema before running', () => {
    const h = [0, 1, 2].map(() => native.alloc('cpu', 16)) as [Handle, Handle, Handle];
    try {
      // exp of an int32 input: refused, naming the op, the operand and the dtypes
      describeCall(OP.exp, 1, 1, 4, 1, [3, 0]);
      expect(() => native.exec(h[0], h[1])).toThrow(/DTypeError: exp: input x must be float32, got int32/);
      // a float32 comparison result: the schema says uint8
      describeCall(OP.gt, 2, 1, 4, 1, [0, 0, 0]);
      expect(() => native.exec(...h)).toThrow(/DTypeError: gt: output y must be uint8, got float32/);
      // matmul accepts a float16 or bfloat16 b, not an int32 one
      describeCall(OP.matmul, 2, 1, 4, 1, [0, 3, 0]);
      expect(() => native.exec(...h)).toThrow(/matmul: input b must be float32 or float16 or bfloat16, got int32/);
      // add with one input
      describeCall(OP.add, 1, 1);
      expect(() => native.exec(h[0], h[1])).toThrow(/add: called with 1 inputs and 1 outputs; it takes 2 inputs and 1 outputs/);
      // sdpa's mask is optional: 3 or 4 inputs, not 2
      describeCall(OP.sdpa, 2, 2);
      expect(() => native.exec(...h, h[0])).toThrow(/sdpa: .* it takes 3 to 4 inputs/);
    } finally {
      for (const x of h) native.free(x);
    }
  });

  test('the CPU backend picked a kernel table for this CPU', () => {
    expect(['generic', 'avx2', 'avx2vnni', 'avx512', 'avx512vnni', 'avx512bf16', 'neon', 'dotprod', 'i8mm']).toContain(native.cpuIsa());
    expect(native.devices()[0]).toMatchObject({ name: 'cpu', available: true });
  });

  test('every op has a CPU kernel', () => {
    const missing = native.opNames().filter((_, i) => !native.supportsOp('cpu', i));
    expect(missing).toEqual([]);
  });

  test('a malformed call is refused, not run', () => {
    const h = native.alloc('cpu', 16);
    // three handles described, but the view of argument 0 runs past its 16-byte buffer
    describeAdd(100, 1);
    expect(() => native.exec(h, h, h)).toThrow(/view reaches element 99 of a buffer holding 4/);
    native.free(h);
    expect(() => native.exec(h, h, h)).toThrow(/disposed/);
  });
});

describe('kernel profile', () => {
  test('startProfile/stopProfile count calls and time per op and input shapes', () => {
    et.tidy(() => {
      const a = et.ones([3, 4]);
      const b = et.ones([4, 5]);
      et.startProfile();
      et.matmul(a, b);
      et.matmul(a, b);
      et.add(a, a);
      const rows = et.stopProfile();
      const mm = rows.find((r) => r.op === 'matmul');
      expect(mm).toMatchObject({ op: 'matmul', shapes: '[3,4] [4,5]', calls: 2 });
      expect(mm!.totalMs).toBeGreaterThan(0);
      expect(rows.find((r) => r.op === 'add')?.calls).toBe(1);
      expect(et.formatProfile(rows)).toMatch(/matmul +\[3,4\] \[4,5\]/);
      et.matmul(a, b);
      expect(et.stopProfile()).toEqual([]); // nothing is collected once stopped
    });
  });
});

// Runs a script in a fresh node process on the same addon build; returns its exit and output.
function runChild(script: string, timeout = 60_000) {
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, ET_ADDON_PATH: addonPath() },
    encoding: 'utf8',
    timeout,
  });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

describe('setThreads', () => {
  const range = /thread count must be an integer in \[1, \d+\]/;

  test('a count past the maximum is an error in the binding, not an abort of the process', () => {
    const r = runChild(`
      const n = require(process.env.ET_ADDON_PATH);
      for (const v of [50000, 1e10]) {
        try { n.setThreads(v); console.log('accepted', v); } catch (e) { console.log('refused', v, e.message); }
      }
      n.setThreads(2);
      console.log('alive', n.getThreads());`);
    expect(r.signal).toBeNull();
    expect(r.out).toMatch(/refused 50000 ValueError: setThreads: thread count must be an integer in \[1, \d+\], got 50000/);
    expect(r.out).toMatch(/refused 10000000000 ValueError: setThreads: .*got 10000000000/);
    expect(r.out).toContain('alive 2');
    expect(r.status).toBe(0);
  });

  test('et.setThreads throws ValueError naming the range; the pool keeps its size', () => {
    const before = et.getThreads();
    for (const v of [0, -1, NaN, 2.5, 50000, 1e10, Infinity, 'x' as unknown as number, undefined as unknown as number]) {
      expect(() => et.setThreads(v), String(v)).toThrow(et.ValueError);
      expect(() => et.setThreads(v), String(v)).toThrow(range);
    }
    expect(() => et.setThreads('x' as unknown as number)).toThrow(/got the string 'x'/);
    expect(et.getThreads()).toBe(before);
  });

  test('the binding checks the count itself', () => {
    const before = native.getThreads();
    for (const v of [0, -1, NaN, 2.5, 50000, 1e10, 'x', undefined]) expect(() => native.setThreads(v as number), String(v)).toThrow(range);
    expect(native.getThreads()).toBe(before);
    expect(maxThreads()).toBeGreaterThanOrEqual(1024);
    expect(() => native.setThreads(maxThreads() + 1)).toThrow(range);
  });

  test('setThreads changes the pool and the results do not depend on it', () => {
    const before = et.getThreads();
    const sum = () => et.tidy(() => et.sum(et.arange(100000)).item());
    const ref = sum();
    et.setThreads(3);
    expect(et.getThreads()).toBe(3);
    expect(sum()).toBe(ref);
    et.setThreads(before);
    expect(et.getThreads()).toBe(before);
  });

  // Threads get their stacks from mmap, so capping the child's address space just above what it
  // uses makes the OS refuse new threads part of the way through.
  test.skipIf(process.platform !== 'linux' || !existsSync('/usr/bin/prlimit'))(
    'a thread the OS refuses to start is an error; the pool keeps its previous size',
    async () => {
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const n = require(process.env.ET_ADDON_PATH);
           n.setThreads(2);
           const vm = () => Number(/VmSize:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]);
           console.log('vmsize', vm());
           process.stdin.once('data', () => {
             try { n.setThreads(1000); console.log('accepted'); } catch (e) { console.log('refused:', e.message); }
             console.log('threads', n.getThreads());
             process.exit(0);
           });`,
        ],
        { env: { ...process.env, ET_ADDON_PATH: addonPath() }, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '';
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
        child.on('exit', (code, signal) => res({ code, signal })),
      );
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const vmKb = await new Promise<number>((res) =>
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /vmsize (\d+)/.exec(out);
          if (m) res(Number(m[1]));
        }),
      );
      // 256 MiB of room: a few dozen 8 MiB thread stacks, far fewer than 1000
      const lim = (vmKb + 256 * 1024) * 1024;
      const p = spawnSync('/usr/bin/prlimit', [`--pid=${child.pid}`, `--as=${lim}:${lim}`], { encoding: 'utf8' });
      expect(p.status, p.stderr).toBe(0);
      child.stdin.write('go\n');
      const { code, signal } = await exited;
      expect(out).toMatch(/refused: setThreads: cannot start thread \d+ of 1000 \(.+\); keeping 2 threads/);
      expect(out).toContain('threads 2');
      expect(signal).toBeNull();
      expect(code).toBe(0);
    },
    60_000,
  );
});

describe('binding arguments', () => {
  test('alloc refuses byte counts that are not non-negative integers, naming the value', () => {
    for (const v of [-1, NaN, 2.5, Infinity, 1e20]) expect(() => native.alloc('cpu', v), String(v)).toThrow(new RegExp(`alloc: byte count must be a non-negative integer, got ${String(v).replace('+', '\\+')}`));
    expect(() => native.alloc('cpu', 'x' as unknown as number)).toThrow(/alloc: byte count must be a number, got 'x'/);
    expect(() => native.alloc(3 as unknown as string, 4)).toThrow(/alloc: device must be a string/);
    expect(() => native.alloc('nope', 4)).toThrow(/DeviceError: alloc: unknown device 'nope'/);
    // more than any machine has: an error, and the process carries on
    expect(() => native.alloc('cpu', 2 ** 53)).toThrow(/OutOfMemory: alloc: cpu: out of memory allocating 9007199254740992 bytes/);
    expect(() => et.zeros([2 ** 26, 2 ** 25])).toThrow(et.OutOfMemoryError);
    expect(et.ones([3]).sum().item()).toBe(3);
  });

  test('download and upload refuse bad offsets and lengths, naming them and the buffer size', () => {
    const h = native.alloc('cpu', 16);
    try {
      for (const [off, n] of [[-1, 4], [NaN, 4], [2.5, 1], [Infinity, 0]] as const)
        expect(() => native.download(h, off, n)).toThrow(new RegExp(`download: byte offset must be a non-negative integer, got ${off}`));
      for (const n of [-1, NaN, 1e300]) expect(() => native.download(h, 0, n)).toThrow(/download: byte count must be a non-negative integer/);
      expect(() => native.download(h, 15, 2)).toThrow('download: range [15, 15 + 2) outside buffer of 16 bytes');
      expect(() => native.download(h, 0, 17)).toThrow('download: range [0, 0 + 17) outside buffer of 16 bytes');
      expect(native.download(h, 16, 0).byteLength).toBe(0);
      for (const off of [-1, NaN, 1e300]) expect(() => native.upload(h, off, new Float32Array(1))).toThrow(/upload: byte offset must be a non-negative integer/);
      expect(() => native.upload(h, 13, new Float32Array(1))).toThrow('upload: range [13, 13 + 4) outside buffer of 16 bytes');
      expect(() => native.upload(h, 0, [1, 2] as unknown as Float32Array)).toThrow(/upload: data must be a typed array or DataView/);
      native.upload(h, 4, new DataView(new Float32Array([7]).buffer));
      expect(new Float32Array(native.download(h, 4, 4))[0]).toBe(7);
      expect(() => native.download({} as never, 0, 4)).toThrow(/download: expected a buffer handle, got an object/);
      expect(() => native.download(123456 as never, 0, 4)).toThrow(/download: expected a buffer handle, got the number 123456/);
    } finally {
      native.free(h);
    }
  });

  test('a freed handle stays freed after its slot is reused', () => {
    const a = native.alloc('cpu', 8);
    native.free(a);
    const b = native.alloc('cpu', 8);
    native.upload(b, 0, new Int32Array([1, 2]));
    expect(() => native.download(a, 0, 8)).toThrow(/DisposedError: download: buffer was freed/);
    expect(() => native.upload(a, 0, new Int32Array(2))).toThrow(/DisposedError: upload/);
    native.free(a); // freeing again does nothing, and not to b
    expect(Array.from(new Int32Array(native.download(b, 0, 8)))).toEqual([1, 2]);
    native.free(b);
    expect(() => native.free('x' as never)).toThrow(/free: expected a buffer handle/);
  });

  test('mapFile on a directory or a missing file is a FormatError naming the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-native-'));
    try {
      expect(() => native.mapFile(dir)).toThrow(`FormatError: mapFile: ${dir} is a directory, not a file to map`);
      expect(() => et.mapFile(dir)).toThrow(et.FormatError);
      expect(() => et.mapFile(join(dir, 'missing.bin'))).toThrow(new RegExp(`mapFile: cannot open ${dir}/missing.bin: No such file`));
      expect(() => native.mapFile(42 as unknown as string)).toThrow(/mapFile: path must be a string, got a number/);
      if (process.platform === 'linux') expect(() => native.mapFile('/dev/null')).toThrow(/\/dev\/null is not a regular file/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('device arguments of the other entry points are checked', () => {
    expect(() => native.supportsOp(3 as unknown as string, 0)).toThrow(/supportsOp: device must be a string/);
    expect(native.supportsOp('cpu', 1e9)).toBe(false);
    expect(() => native.emptyCache(5 as unknown as string)).toThrow(/emptyCache: device must be a string/);
    expect(() => native.sync('nope')).toThrow(/DeviceError: sync: unknown device 'nope'/);
  });

  test('exec refuses view descriptions that are not integers or whose extent overflows', () => {
    const h = native.alloc('cpu', 16);
    try {
      describeAdd(NaN, 1);
      expect(() => native.exec(h, h, h)).toThrow(/add: argument 0: malformed view description/);
      describeAdd(4, 1e300);
      expect(() => native.exec(h, h, h)).toThrow(/add: argument 0: malformed view description/);
      // (2^52 - 1) * 2^52 overflows int64: refused before the arithmetic
      describeAdd(2 ** 52, 2 ** 52);
      expect(() => native.exec(h, h, h)).toThrow(/add: argument 0: dimension 0 .* reaches past a buffer holding 4/);
      describeAdd(4, -1);
      expect(() => native.exec(h, h, h)).toThrow(/view reaches element -3 of a buffer holding 4/);
      meta[0] = NaN;
      expect(() => native.exec(h, h, h)).toThrow(/exec: malformed call/);
    } finally {
      native.free(h);
    }
  });
});
