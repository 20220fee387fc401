// The backend parity harness's own checks: its row tables cover every kernel op of the schema
// with every operand dtype the op accepts, and its gradient cases every backward kernel; plus
// what only a device (not an op) can show: Vulkan present when required, the addon loading
// without a Vulkan driver, and the largest buffer a Vulkan device holds. The rows run in
// test/parity-a.test.ts, parity-b.test.ts and parity-grad.test.ts.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { addonPath } from '../lib/native/addon.js';
import { KERNEL_OPS, OP_SCHEMA, type OpName } from '../lib/native/ops.js';
import { allDevices, requireVulkan, testDevices } from './helpers/devices.js';
import { GRAD_CASES } from './helpers/parity-grads.js';
import { ROWS_A } from './helpers/parity-rows-a.js';
import { ROWS_B } from './helpers/parity-rows-b.js';
import type { Rows } from './helpers/parity.js';

const TABLES: [string, Rows][] = [
  ['parity-rows-a', ROWS_A],
  ['parity-rows-b', ROWS_B],
];
const ROWS: Rows = Object.assign({}, ...TABLES.map(([, t]) => t));

describe('coverage', () => {
  test('every kernel op has a parity row, and every row names a kernel op', () => {
    const named = TABLES.flatMap(([, t]) => Object.keys(t));
    expect(KERNEL_OPS.filter((op) => !(op in ROWS)), 'kernel ops without a parity row').toEqual([]);
    expect(named.filter((op) => !KERNEL_OPS.includes(op as OpName)), 'rows naming no kernel op').toEqual([]);
    expect(named.filter((op, i) => named.indexOf(op) !== i), 'ops with a row in two tables').toEqual([]);
    for (const [op, row] of Object.entries(ROWS)) {
      if ('via' in row) {
        const by = ROWS[row.via];
        expect(by && 'cases' in by, `${op} is said to be exercised via ${row.via}, which has no cases`).toBe(true);
        expect(row.why.length, `${op}: why it has no cases of its own`).toBeGreaterThan(10);
      } else expect(row.cases.length, `${op}: cases`).toBeGreaterThan(0);
    }
  });

  test("every operand dtype the schema accepts is exercised, and no case uses one it refuses", () => {
    const missing: string[] = [];
    for (const [op, row] of Object.entries(ROWS)) {
      if ('via' in row) continue;
      const s = OP_SCHEMA[op as OpName];
      const required = s.inputs.filter((i) => !i.optional).length;
      for (const c of row.cases) {
        expect(c.in.length >= required && c.in.length <= s.inputs.length, `${op}: ${c.name}: ${c.in.length} inputs`).toBe(true);
        expect(c.out.length, `${op}: ${c.name}: outputs`).toBe(s.outputs.length);
        c.in.forEach((d, i) => expect(s.inputs[i]!.dtypes, `${op}: ${c.name}: input ${s.inputs[i]!.name}`).toContain(d));
        c.out.forEach((d, i) => expect(s.outputs[i]!.dtypes, `${op}: ${c.name}: output ${s.outputs[i]!.name}`).toContain(d));
      }
      const operands = [...s.inputs.map((o, i) => ({ o, at: (c: { in: string[] }) => c.in[i] })), ...s.outputs.map((o, i) => ({ o, at: (c: { out: string[] }) => c.out[i] }))];
      for (const { o, at } of operands) {
        const used = new Set(row.cases.map((c) => at(c)));
        for (const d of o.dtypes) if (!used.has(d)) missing.push(`${op} ${o.name}${o.optional ? '?' : ''}: ${d}`);
      }
    }
    expect(missing, 'operand dtypes no parity case exercises').toEqual([]);
  });

  test('every backward kernel (and rope, dropout) has a finite-difference case; every listed kernel is one', () => {
    const listed = new Set(GRAD_CASES.flatMap((g) => g.kernels));
    const needed = KERNEL_OPS.filter((op) => op.endsWith('Bwd') || op === 'rope' || op === 'dropout');
    expect(needed.filter((op) => !listed.has(op)), 'backward kernels without a gradient case').toEqual([]);
    expect([...listed].filter((op) => !KERNEL_OPS.includes(op)), 'listed kernels that are not kernel ops').toEqual([]);
  });
});

describe('devices', () => {
  test('cpu is tested; vulkan too when EDGETRAIN_REQUIRE_VULKAN=1; an absent device says why', () => {
    expect(testDevices[0]).toBe('cpu');
    for (const d of allDevices) {
      if (d.available) expect(d.description, d.name).toMatch(/\w/);
      else expect(d.reason, d.name).toMatch(/\w{3}/);
    }
    const vk = allDevices.find((d) => d.name === 'vulkan');
    if (requireVulkan) expect(vk?.available, `vulkan required but not available: ${vk?.reason ?? 'not built'}`).toBe(true);
    else if (!vk?.available) console.info(`parity: vulkan not tested: ${vk?.reason ?? 'not built into this addon'}`);
  });

  test('the addon loads without a Vulkan driver and reports vulkan unavailable with a reason', () => {
    const script = "const a = require(process.argv[1]); console.log(JSON.stringify(a.devices().find((d) => d.name === 'vulkan')));";
    const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: '/nonexistent', VK_DRIVER_FILES: '/nonexistent' };
    delete env.VK_ADD_DRIVER_FILES;
    const r = spawnSync(process.execPath, ['-e', script, addonPath()], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout.trim());
    expect(v.available).toBe(false);
    expect(v.reason).toMatch(/vulkan/i);
  });

  // a tensor buffer may be larger than one storage binding (ops bind windows of it, csrc/vulkan/window.h),
  // up to the device's largest allocation (maxMemoryAllocationSize) and memory
  test.runIf(testDevices.includes('vulkan'))('vulkan: a buffer past the device limit is refused naming it; one past the binding limit holds data', () => {
    try {
      et.full([2 ** 40], 0, { dtype: 'uint8', device: 'vulkan' });
      throw new Error('a 1 TiB vulkan buffer was allocated');
    } catch (e) {
      expect(e).toBeInstanceOf(et.OutOfMemoryError);
      expect((e as Error).message).toMatch(/larger than the device's memory|limited to \d+ bytes \(maxMemoryAllocationSize\)/);
    }
    const limit = et.devices().find((d) => d.name === 'vulkan')!.features.maxBufferBytes as number;
    const n = limit / 4 + 2 ** 18;
    et.tidy(() => {
      const big = et.full([n], 3.5, { device: 'vulkan' });
      expect(Array.from(et.slice(big, 0, n - 2).dataSync())).toEqual([3.5, 3.5]); // a read at an offset near the end
      const mem = et.memory().vulkan!;
      expect(mem.liveBytes).toBeGreaterThanOrEqual(4 * n);
      expect(mem.peakBytes).toBeGreaterThanOrEqual(mem.liveBytes);
    });
    et.emptyCache('vulkan');
  });
});
