// The Vulkan shader variants (cmake/vulkan.cmake "variants") against the plain shaders on one
// device: each case runs in child processes that alternate between the plain shaders
// (EDGETRAIN_VULKAN_NO_SUBGROUP=1 / EDGETRAIN_VULKAN_NO_INT8=1) and the variants, so a loaded
// machine slows both alike; per case the median over rounds of each child's median time.
// matmulQ's two outputs must be bit-identical (a checksum of the bits is compared).
// node bench/shader-variants.mjs [rounds] [case name regexp]   (needs dist/: npm run build:ts)
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './common.mjs';

const CASES = {
  'softmax [64, 32000]': { env: 'EDGETRAIN_VULKAN_NO_SUBGROUP' },
  'crossEntropy [64, 32000]': { env: 'EDGETRAIN_VULKAN_NO_SUBGROUP' },
  'rmsNorm [2048, 768]': { env: 'EDGETRAIN_VULKAN_NO_SUBGROUP' },
  'layerNorm [2048, 768]': { env: 'EDGETRAIN_VULKAN_NO_SUBGROUP' },
  'sum [64, 32000] over dim 1': { env: 'EDGETRAIN_VULKAN_NO_SUBGROUP' },
  'max [64, 32000] over dim 1': { env: 'EDGETRAIN_VULKAN_NO_SUBGROUP' },
  'matmulQ Q8_0 x [1, 4096] W [4096, 4096]': { env: 'EDGETRAIN_VULKAN_NO_INT8' },
};

async function child(name) {
  const et = await import('../dist/index.js');
  et.setDefaultDevice('vulkan');
  let fn;
  let out = null;
  if (name.startsWith('softmax')) {
    const x = et.randn([64, 32000], { seed: 1 });
    fn = () => et.softmax(x);
  } else if (name.startsWith('crossEntropy')) {
    const x = et.randn([64, 32000], { seed: 1 });
    const t = et.tensor(Int32Array.from({ length: 64 }, (_, i) => (i * 499) % 32000), [64], { dtype: 'int32' });
    fn = () => et.crossEntropy(x, t, { reduction: 'none' });
  } else if (name.startsWith('layerNorm')) {
    const x = et.randn([2048, 768], { seed: 1 });
    const w = et.randn([768], { seed: 2 });
    const b = et.randn([768], { seed: 3 });
    fn = () => et.layerNorm(x, w, b);
  } else if (name.startsWith('rmsNorm')) {
    const x = et.randn([2048, 768], { seed: 1 });
    const w = et.randn([768], { seed: 2 });
    fn = () => et.rmsNorm(x, w);
  } else if (name.startsWith('sum')) {
    const x = et.randn([64, 32000], { seed: 1 });
    fn = () => et.sum(x, 1);
  } else if (name.startsWith('max')) {
    const x = et.randn([64, 32000], { seed: 1 });
    fn = () => et.max(x, 1);
  } else {
    const W = et.randn([4096, 4096], { seed: 1, std: 0.02 });
    const q = new et.quant.QuantizedWeight('Q8_0', [4096, 4096], et.quant.quantizeTensor('Q8_0', W));
    const x = et.randn([1, 4096], { seed: 2 });
    fn = () => et.noGrad(() => et.quant.matmulQ(x, q, { exact: false }));
    out = fn();
  }
  const free = (y) => (Array.isArray(y) ? y : [y]).forEach((v) => v.dispose());
  // kernel time: BATCH calls queued on the device's stream, then one wait (no read back)
  const slow = name.startsWith('matmulQ');  // seconds a call on lavapipe
  const BATCH = slow ? 1 : 5, WARM = slow ? 1 : 2, REPS = slow ? 3 : 7;
  const t = [];
  for (let r = 0; r < WARM + REPS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) free(fn());
    await et.synchronize('vulkan');
    if (r >= WARM) t.push((performance.now() - t0) / BATCH);
  }
  const ms = median(t);
  let sum = 0;
  if (out) for (const b of new Uint32Array(out.dataSync().buffer)) sum = (sum * 31 + b) >>> 0;
  console.log(JSON.stringify({ ms, sum }));
}

function run(name, env) {
  const text = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', name], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return JSON.parse(text.trim().split('\n').pop());
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]);
} else {
  const rounds = parseInt(process.argv[2] ?? '5', 10);
  const only = process.argv[3] ?? '';
  console.log(`case: plain ms / variant ms per call (median of ${rounds} alternating rounds, each the median of 7 batches of 5 calls, matmulQ 3 single calls)`);
  for (const [name, { env }] of Object.entries(CASES)) {
    if (!new RegExp(only).test(name)) continue;
    const plain = [], variant = [];
    const sums = new Set();
    for (let r = 0; r < rounds; r++) {
      const a = run(name, { [env]: '1' }), b = run(name, { [env]: '0' });
      plain.push(a.ms);
      variant.push(b.ms);
      sums.add(a.sum).add(b.sum);
    }
    const p = median(plain), v = median(variant);
    const bits = name.startsWith('matmulQ') ? (sums.size === 1 ? ', outputs bit-identical' : ', OUTPUTS DIFFER') : '';
    console.log(`${name}: ${p.toFixed(2)} / ${v.toFixed(2)} (${(p / v).toFixed(2)}x)${bits}`);
  }
}
