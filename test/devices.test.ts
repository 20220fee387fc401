// Devices: listing with reasons, the default device (setter and EDGETRAIN_DEVICE), moving
// tensors between devices with gradients following, and the finalizer safety net.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';

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
  test('devices() lists cpu, vulkan and cuda, each available or with a reason', () => {
    const ds = et.devices();
    expect(ds.map((d) => d.name)).toEqual(['cpu', 'vulkan', 'cuda']);
    for (const d of ds) {
      if (d.available) expect(d.description).toBeTruthy();
      else expect(d.reason!.length).toBeGreaterThan(10);
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

  test.skipIf(!existsSync(`${root}dist/index.js`))('EDGETRAIN_DEVICE picks the default device; a bad value is a DeviceError', () => {
    const code = "import * as et from './dist/index.js'; console.log(et.ones([2]).device)";
    expect(runNode(code, { EDGETRAIN_DEVICE: 'cpu' }).trim()).toBe('cpu');
    if (vulkan.available) expect(runNode(code, { EDGETRAIN_DEVICE: 'vulkan' }).trim()).toBe('vulkan');
    expect(() => runNode(code, { EDGETRAIN_DEVICE: 'nonsense' })).toThrow(/unknown device 'nonsense'/);
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
