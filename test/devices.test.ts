// Devices: listing with reasons, the default device (setter and EDGETRAIN_DEVICE), moving
// tensors between devices with gradients following, and the finalizer safety net.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import * as et from '../lib/index.js';
import { runDoctor } from '../lib/cli/doctor.js';
import { native } from '../lib/native/addon.js';
import { KERNEL_OPS } from '../lib/native/ops.js';
import { childDevices, runChild } from './helpers/child.js';

const vulkan = et.devices().find((d) => d.name === 'vulkan')!;
const root = new URL('..', import.meta.url).pathname;

function runNode(code: string, env: Record<string, string> = {}, args: string[] = []): string {
  return execFileSync(process.execPath, [...args, '--input-type=module', '-e', code], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
}

describe('devices', () => {
  test('devices() lists cpu, the vulkan devices and cuda, each available or with a reason', () => {
    const ds = et.devices();
    expect(ds[0]!.name).toBe('cpu');
    expect(ds.map((d) => d.backend)).toEqual(['cpu', ...ds.filter((d) => d.backend === 'vulkan').map(() => 'vulkan'), 'cuda']);
    ds.filter((d) => d.backend === 'vulkan').forEach((d, i) => {
      expect(d.index).toBe(i);
      expect(d.name).toBe(i === 0 ? 'vulkan' : `vulkan:${i}`);
    });
    for (const d of ds) {
      if (d.available) expect(d.description).toBeTruthy();
      else expect(d.reason!.length).toBeGreaterThan(10);
      expect(['cpu', 'discrete', 'integrated', 'virtual', 'other']).toContain(d.kind);
      expect(d.memory).toBeGreaterThanOrEqual(0);
      expect(d.ops).toEqual(KERNEL_OPS.filter((op, id) => d.available && native.supportsOp(d.name, id)));
    }
  });

  test('the cpu reports host memory, its kernel set and thread count, and every op', () => {
    const cpu = et.devices()[0]!;
    expect(cpu).toMatchObject({ name: 'cpu', backend: 'cpu', index: 0, kind: 'cpu' });
    expect(cpu.memory).toBeGreaterThan(2 ** 28);
    expect(cpu.features).toEqual({ isa: native.cpuIsa(), cpuFeatures: native.cpuFeatures(), threads: et.getThreads() });
    expect(cpu.ops).toEqual([...KERNEL_OPS]);
  });

  test('a vulkan device reports its kind, memory and features', () => {
    if (!vulkan.available) return;
    expect(vulkan.memory).toBeGreaterThan(0);
    const f = vulkan.features;
    for (const k of ['fp16', 'int8Dot', 'cooperativeMatrix']) expect(typeof f[k], k).toBe('boolean');
    expect(f.maxBufferBytes).toBeGreaterThanOrEqual(2 ** 27);
    expect(f.sharedMemoryBytes).toBeGreaterThanOrEqual(16384);
    expect(f.apiVersion).toMatch(/^1\.\d+\.\d+$/);
    if (f.subgroupSize !== undefined) expect(f.subgroupSize).toBeGreaterThan(0);
    expect(vulkan.ops).toContain('matmul');
  });

  test('every Vulkan device runs the same kernel ops as cpu', () => {
    const cpu = et.devices().find((d) => d.name === 'cpu')!;
    for (const d of et.devices().filter((x) => x.backend === 'vulkan' && x.available)) expect([...d.ops].sort(), d.name).toEqual([...cpu.ops].sort());
  });

  test("device names: 'vulkan:0' is 'vulkan', an unknown index is a DeviceError listing the devices", () => {
    const names = et.devices().map((d) => d.name).join(', ');
    expect(() => et.ones([2], { device: 'cuda:7' })).toThrow(et.DeviceError);
    expect(() => et.ones([2], { device: 'cuda:7' })).toThrow(`unknown device 'cuda:7': cuda has no device 7 (known: ${names})`);
    expect(() => et.ones([2], { device: 'cpu:x' })).toThrow(/unknown device 'cpu:x': the index must be a number/);
    expect(et.ones([2], { device: 'cpu:0' }).device).toBe('cpu');
    if (!vulkan.available) return;
    const x = et.tensor([1, 2]).to('vulkan:0');
    expect(x.device).toBe('vulkan');
    expect(x.to('vulkan').to('vulkan:0')).toBe(x);
    const n = et.devices().filter((d) => d.backend === 'vulkan').length;
    expect(() => x.to(`vulkan:${n}`)).toThrow(`to: unknown device 'vulkan:${n}': vulkan has no device ${n} (known: ${names})`);
  });

  // lavapipe listed by two ICD files is two physical devices: vulkan and vulkan:1
  const lvp = existsSync('/usr/share/vulkan/icd.d') ? readdirSync('/usr/share/vulkan/icd.d').find((f) => /^lvp_icd/.test(f)) : undefined;
  test.skipIf(!lvp || !vulkan.available)('every Vulkan physical device is a device of its own', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'et-icd-'));
    try {
      const icds = ['a', 'b'].map((k) => join(tmp, `${k}.json`));
      for (const f of icds) copyFileSync(`/usr/share/vulkan/icd.d/${lvp}`, f);
      const env = { VK_ICD_FILENAMES: icds.join(':'), VK_DRIVER_FILES: icds.join(':'), VK_ADD_DRIVER_FILES: undefined };
      const vks = childDevices(env).filter((d) => d.backend === 'vulkan');
      expect(vks.map((d) => [d.name, d.index, d.available])).toEqual([['vulkan', 0, true], ['vulkan:1', 1, true]]);
      expect(vks[1]!.description).toMatch(/device 1 of 2/);
      const code = `
        const a = et.randn([4, 5], { seed: 7 }), b = et.randn([5], { seed: 8 });
        const y = et.add(a.to('vulkan:1'), b.to('vulkan:1'));
        const z = et.add(a.to('vulkan'), b.to('vulkan'));
        console.log(JSON.stringify({ dev: y.device, y: y.toArray(), z: z.toArray(), cpu: et.add(a, b).toArray(), mem: Object.keys(et.memory()) }));`;
      const r = JSON.parse(runChild(code, env));
      expect(r.dev).toBe('vulkan:1');
      expect(r.y).toEqual(r.cpu);
      expect(r.z).toEqual(r.cpu);
      expect(r.mem).toEqual(['cpu', 'vulkan', 'vulkan:1']);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('edgetrain doctor prints each device with its kind, memory, features and ops, or why it is missing', () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
    try {
      runDoctor();
    } finally {
      spy.mockRestore();
    }
    const text = lines.join('\n');
    expect(text).toMatch(new RegExp(`  cpu +yes cpu +\\d+\\.\\d GiB +host CPU`));
    expect(text).toContain(`kernel tier ${native.cpuIsa()}, threads ${et.getThreads()}`);
    expect(text).toContain(`extensions: ${native.cpuFeatures()}`);
    expect(text).toContain(`ops: ${KERNEL_OPS.length} of ${KERNEL_OPS.length} kernel ops`);
    const cuda = et.devices().find((d) => d.name === 'cuda')!;
    if (!cuda.available) expect(text).toContain(`  cuda      no  ${cuda.reason}`);
    if (vulkan.available) {
      // per Vulkan device: driver, fp16 / int8 / cooperative matrix, subgroup size, limits, and every op
      expect(text).toMatch(/  vulkan +yes .*\n +driver: .+, Vulkan \d+\.\d+\.\d+\n +fp16 (yes|no), int8 dot (yes|no), cooperative matrix (yes|no), subgroup size \d+\n +max buffer [\d.]+ [KMG]iB, shared memory [\d.]+ [KMG]iB per workgroup/);
      expect(text).toMatch(/  vulkan +yes [^]*?ops: (\d+) of \1 kernel ops/);
    }
  });

  test('to() moves values across devices and gradients flow back', () => {
    if (!vulkan.available) return;
    const x = et.tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const g = x.to('vulkan');
    expect(g.device).toBe('vulkan');
    const y = et.mul(g, g).sum().to('cpu');
    expect(y.item()).toBe(30);
    y.backward();
    expect(x.grad!.device).toBe('cpu');
    expect(x.grad!.toArray()).toEqual([[2, 4], [6, 8]]);
  });

  test('random tensors hold the same numbers on every device', () => {
    if (!vulkan.available) return;
    const a = et.randn([257], { seed: 3 });
    const b = et.randn([257], { seed: 3, device: 'vulkan' });
    expect(b.device).toBe('vulkan');
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const u = et.rand([33], { seed: 4, device: 'vulkan', low: -2, high: 2 });
    expect(Array.from(u.dataSync())).toEqual(Array.from(et.rand([33], { seed: 4, low: -2, high: 2 }).dataSync()));
  });

  test('setDefaultDevice decides where new tensors go; an absent device is refused', () => {
    expect(() => et.setDefaultDevice('cuda')).toThrow(et.DeviceError);
    expect(et.getDefaultDevice()).toBe('cpu');
    if (!vulkan.available) return;
    et.setDefaultDevice('vulkan');
    try {
      const t = et.ones([3]);
      expect(t.device).toBe('vulkan');
      expect(et.add(t, t).toArray()).toEqual([2, 2, 2]);
    } finally {
      et.setDefaultDevice('cpu');
    }
  });

  test('EDGETRAIN_DEVICE picks the default device; a bad value is a DeviceError', () => {
    const code = 'console.log(et.ones([2]).device)';
    expect(runChild(code, { EDGETRAIN_DEVICE: 'cpu' }).trim()).toBe('cpu');
    if (vulkan.available) expect(runChild(code, { EDGETRAIN_DEVICE: 'vulkan:0' }).trim()).toBe('vulkan');
    expect(() => runChild(code, { EDGETRAIN_DEVICE: 'nonsense' })).toThrow(/DeviceError: EDGETRAIN_DEVICE: unknown device 'nonsense'/);
  });

  test.skipIf(!existsSync(`${root}dist/index.js`))('tensors dropped without dispose() are freed by the garbage collector', () => {
    const code = `
      import * as et from './dist/index.js';
      const base = et.memory().cpu.liveBytes;
      (() => { for (let i = 0; i < 50; i++) et.ones([1000, 100]); })();
      const held = et.memory().cpu.liveBytes - base;
      for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      console.log(JSON.stringify({ held, after: et.memory().cpu.liveBytes - base }));`;
    const r = JSON.parse(runNode(code, {}, ['--expose-gc']).trim());
    expect(r.held).toBe(50 * 1000 * 100 * 4);
    expect(r.after).toBe(0);
  });
});
