// Backend plugins (csrc/plugin_abi.h): tiny plugins compiled here with g++ are found through
// EDGETRAIN_PLUGIN_PATH; the ones that cannot be used are listed with the reason, a correct one
// computes through the public API, and CUDA goes through the same path (a stand-in libcuda.so.1
// plays the driver). Each case runs in a child process: the device registry starts once.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { childDevices, runChild } from './helpers/child.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const abi = Number(/#define ET_PLUGIN_ABI_VERSION (\d+)u/.exec(readFileSync(join(root, 'csrc/plugin_abi.h'), 'utf8'))![1]);
const noVulkan = { VK_ICD_FILENAMES: '/nonexistent', VK_DRIVER_FILES: '/nonexistent', VK_ADD_DRIVER_FILES: undefined };

let dir = '';
const at = (...p: string[]) => join(dir, ...p);

function gxx(src: string, out: string, ...flags: string[]): void {
  execFileSync('g++', ['-shared', '-fPIC', '-O1', `-I${join(root, 'csrc')}`, ...flags, join(root, 'test/plugins', src), '-o', out]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-plugins-'));
  for (const d of ['plugins', 'cuda', 'driver']) mkdirSync(at(d));
  gxx('fake.cpp', at('plugins/edgetrain-fake.so'));
  gxx('fake.cpp', at('plugins/edgetrain-oldabi.so'), '-DFAKE_ABI=999', '-DFAKE_NAME="oldabi"');
  gxx('no_entry.cpp', at('plugins/edgetrain-noentry.so'));
  writeFileSync(at('plugins/edgetrain-junk.so'), 'this is a text file, not a shared library\n'.repeat(8));
  gxx('fake.cpp', at('cuda/edgetrain-cuda.so'), '-DFAKE_NAME="cuda"');
  gxx('no_entry.cpp', at('driver/libcuda.so.1'), '-Wl,-soname,libcuda.so.1');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('plugins', () => {
  test('each plugin shows up in devices(): refused ones with the reason, a correct one with its devices', () => {
    const ds = childDevices({ ...noVulkan, EDGETRAIN_PLUGIN_PATH: `${at('plugins')}:${at('edgetrain-gone.so')}` });
    const by = Object.fromEntries(ds.map((d) => [d.name, d]));
    expect(ds.slice(0, 3).map((d) => d.name)).toEqual(['cpu', 'vulkan', 'cuda']);
    expect(by.oldabi).toMatchObject({ available: false, backend: 'oldabi', plugin: at('plugins/edgetrain-oldabi.so') });
    expect(by.oldabi!.reason).toContain(`implements plugin ABI version 999, this edgetrain expects version ${abi}`);
    expect(by.noentry!.available).toBe(false);
    expect(by.noentry!.reason).toMatch(/has no et_plugin_init entry point.*undefined symbol: et_plugin_init/);
    expect(by.junk!.available).toBe(false);
    expect(by.junk!.reason).toMatch(/edgetrain-junk\.so did not load: .*invalid ELF header/);
    expect(by.gone).toMatchObject({ available: false, reason: `plugin ${at('edgetrain-gone.so')} not found` });
    expect(by.fake).toMatchObject({
      available: true,
      backend: 'fake',
      index: 0,
      description: 'fake host-memory device 0',
      kind: 'virtual',
      memory: 2 ** 30,
      ops: ['fill', 'copy', 'add'],
      plugin: at('plugins/edgetrain-fake.so'),
    });
    expect(by.fake!.features).toMatchObject({ fp16: false, int8Dot: false, subgroupSize: 4, maxBufferBytes: 2 ** 28 });
    expect(by['fake:1']).toMatchObject({ available: true, index: 1, description: 'fake host-memory device 1' });
  });

  test('a plugin device computes through the public API, matching the CPU', () => {
    const code = `
      const a = et.randn([3, 4], { seed: 1 }), b = et.randn([4], { seed: 2 });
      const fa = a.to('fake'), fb = b.to('fake');
      const out = {
        device: fa.device,
        sum: et.add(fa, fb).toArray(),          // b broadcast over rows: stride-0 views
        twice: et.add(fa, fa).to('cpu').toArray(),
        cpu: et.add(a, b).toArray(),
        cpuTwice: et.add(a, a).toArray(),
        alias: et.ones([2], { device: 'fake:0' }).device,
        second: et.add(et.ones([2], { device: 'fake:1' }), et.ones([2], { device: 'fake:1' })).toArray(),
        mem: Object.keys(et.memory()),
      };
      const err = (f) => { try { f(); return 'no error'; } catch (e) { return e.constructor.name + ': ' + e.message; } };
      out.missingOp = err(() => et.exp(fa));
      out.badIndex = err(() => et.ones([2], { device: 'fake:2' }));
      console.log(JSON.stringify(out));`;
    const r = JSON.parse(runChild(code, { ...noVulkan, EDGETRAIN_PLUGIN_PATH: at('plugins') }));
    expect(r.device).toBe('fake');
    expect(r.sum).toEqual(r.cpu);
    expect(r.twice).toEqual(r.cpuTwice);
    expect(r.alias).toBe('fake');
    expect(r.second).toEqual([2, 2]);
    expect(r.mem).toContain('fake:1');
    expect(r.missingOp).toMatch(/^DeviceError: .*exp is not implemented on fake/);
    expect(r.badIndex).toMatch(/^DeviceError: .*unknown device 'fake:2': fake has no device 2 \(known: cpu, vulkan, cuda, fake, fake:1/);
  });
});

describe('cuda goes through the plugin path', () => {
  test('without a driver the cuda plugin is not loaded, and devices() says the driver is missing', () => {
    const cuda = childDevices({ ...noVulkan, EDGETRAIN_PLUGIN_PATH: at('cuda') }).find((d) => d.name === 'cuda')!;
    expect(cuda.available).toBe(false);
    expect(cuda.reason).toMatch(/no NVIDIA driver found \(libcuda\.so\.1 did not load\)/);
    expect(cuda.plugin).toBeUndefined();
  });

  test('with a driver but no plugin, devices() says the plugin is missing and where it looked', () => {
    const cuda = childDevices({ ...noVulkan, LD_LIBRARY_PATH: at('driver'), EDGETRAIN_PLUGIN_PATH: at('plugins') }).find((d) => d.name === 'cuda')!;
    expect(cuda.available).toBe(false);
    expect(cuda.reason).toContain(`an NVIDIA driver is present, but the edgetrain-cuda plugin was not found (looked in ${at('plugins')}, `);
  });

  test('with a driver and an edgetrain-cuda plugin, cuda devices come from the plugin', () => {
    const code = `
      const ds = et.devices().filter((d) => d.backend === 'cuda');
      const a = et.randn([5], { seed: 3 });
      console.log(JSON.stringify({ ds, got: et.add(a.to('cuda'), a.to('cuda')).toArray(), want: et.add(a, a).toArray() }));`;
    const r = JSON.parse(runChild(code, { ...noVulkan, LD_LIBRARY_PATH: at('driver'), EDGETRAIN_PLUGIN_PATH: at('cuda') }));
    expect(r.ds.map((d: { name: string; available: boolean }) => [d.name, d.available])).toEqual([['cuda', true], ['cuda:1', true]]);
    expect(r.ds[0].plugin).toBe(at('cuda/edgetrain-cuda.so'));
    expect(r.got).toEqual(r.want);
  });
});
