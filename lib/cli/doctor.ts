import * as et from '../index.js';
import { native } from '../native/addon.js';
import { KERNEL_OPS } from '../native/ops.js';

function gib(bytes: number): string {
  return bytes > 0 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : '';
}

// "fp16, int8Dot, subgroupSize 32, maxBufferBytes 2147418112": flags that are set, then values
function featureText(f: et.DeviceFeatures): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(f)) {
    if (v === true) parts.push(k);
    else if (typeof v === 'number' || typeof v === 'string') parts.push(`${k} ${v}`);
  }
  return parts.join(', ');
}

function bytesText(n: unknown): string {
  if (typeof n !== 'number') return '?';
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${(n / 2 ** 10).toFixed(0)} KiB`;
}

/** What a Vulkan device offers the kernels: driver, fp16 / int8 / cooperative matrix, subgroup size, limits. */
export function vulkanLines(f: et.DeviceFeatures): string[] {
  const yes = (k: string) => (f[k] === true ? 'yes' : 'no');
  const lines = [
    `driver: ${f.driver ?? '?'}, Vulkan ${f.apiVersion ?? '?'}`,
    `fp16 ${yes('fp16')}, int8 dot ${yes('int8Dot')}, cooperative matrix ${yes('cooperativeMatrix')}, subgroup size ${f.subgroupSize ?? '?'}`,
    `max buffer ${bytesText(f.maxBufferBytes)}, shared memory ${bytesText(f.sharedMemoryBytes)} per workgroup, ${f.maxWorkgroupInvocations ?? '?'} invocations per workgroup`,
  ];
  if (f.forcedLimits) lines.push(`forced limits: ${f.forcedLimits}`);
  if (f.pipelineCache) lines.push(`pipeline cache: ${f.pipelineCache}`);
  return lines;
}

/** `edgetrain doctor`: every device with its kind, memory, features and kernel coverage, or why it is missing. */
export function runDoctor(): void {
  console.log(`edgetrain on node ${process.version}, ${process.platform}/${process.arch}`);
  console.log(`cpu kernels: ${native.cpuIsa()}, threads: ${et.getThreads()}`);
  const pluginPath = process.env.EDGETRAIN_PLUGIN_PATH;
  console.log(`plugins: the addon's folder${pluginPath ? `, EDGETRAIN_PLUGIN_PATH=${pluginPath}` : ''}`);
  for (const d of et.devices()) {
    const cols = d.available ? ['yes', d.kind.padEnd(10), gib(d.memory).padEnd(9), d.description] : ['no ', d.reason];
    console.log(`  ${d.name.padEnd(9)} ${cols.join(' ')}`);
    if (!d.available) continue;
    const indent = ' '.repeat(14);
    if (d.backend === 'vulkan') for (const line of vulkanLines(d.features)) console.log(`${indent}${line}`);
    else if (d.backend === 'cpu') {
      const forced = process.env.EDGETRAIN_CPU_ISA ? ' (forced by EDGETRAIN_CPU_ISA)' : '';
      console.log(`${indent}kernel tier ${String(d.features.isa)}${forced}, threads ${String(d.features.threads)}`);
      console.log(`${indent}extensions: ${String(d.features.cpuFeatures)}`);
    } else {
      const features = featureText(d.features);
      if (features) console.log(`${indent}features: ${features}`);
    }
    const missing = KERNEL_OPS.filter((op) => !d.ops.includes(op));
    const lacks = missing.length === 0 ? '' : `; lacks ${missing.length <= 8 ? missing.join(', ') : `${missing.slice(0, 8).join(', ')}, ...`}`;
    console.log(`${indent}ops: ${d.ops.length} of ${KERNEL_OPS.length} kernel ops${lacks}`);
    if (d.plugin) console.log(`${indent}plugin: ${d.plugin}`);
  }
}
