// Devices: what exists, the default for new tensors, memory figures.
import { ValueError, fromNative } from './errors.js';
import { native, type NativeMem } from './native/addon.js';
import { liveTensorCounts } from './tensor.js';

/** What a device is: 'cpu' also covers a Vulkan driver that runs on the CPU (lavapipe). */
export type DeviceKind = 'cpu' | 'discrete' | 'integrated' | 'virtual' | 'other';

/**
 * What a device offers that kernels choose variants by. Vulkan devices report the GPU fields,
 * the CPU its kernel set and thread count; a plugin reports what its descriptor fills in.
 */
export interface DeviceFeatures {
  /** Native half-precision arithmetic (Vulkan shaderFloat16). */
  fp16?: boolean;
  /** Integer dot product instructions (Vulkan shaderIntegerDotProduct). */
  int8Dot?: boolean;
  /** Threads per subgroup (warp / wavefront). */
  subgroupSize?: number;
  /** Matrix (tensor) cores (VK_KHR_cooperative_matrix or VK_NV_cooperative_matrix). */
  cooperativeMatrix?: boolean;
  /** Largest single tensor buffer, in bytes. */
  maxBufferBytes?: number;
  /** Shared (workgroup) memory per compute workgroup, in bytes. */
  sharedMemoryBytes?: number;
  /** Vulkan version the driver implements ("1.3.230"). */
  apiVersion?: string;
  /** The driver's name and version ("llvmpipe Mesa 22.3.6 (LLVM 15.0.6)"). */
  driver?: string;
  /** Most invocations in one compute workgroup. */
  maxWorkgroupInvocations?: number;
  /** The limits forced by EDGETRAIN_VULKAN_MAX_BUFFER / _SHARED / _NO_FP16 / _NO_INT8 / _NO_SUBGROUP, when any is set. */
  forcedLimits?: string;
  /** Vulkan: the on-disk pipeline cache's file and state, or why there is none (EDGETRAIN_CACHE_DIR, EDGETRAIN_VULKAN_PIPELINE_CACHE=0). */
  pipelineCache?: string;
  /**
   * CPU kernel tier in use: 'generic', 'avx2', 'avx2vnni', 'avx512', 'avx512vnni', 'avx512bf16'
   * (x86-64) or 'neon', 'dotprod', 'i8mm' (arm64); EDGETRAIN_CPU_ISA forces a lower one.
   */
  isa?: string;
  /** CPU extensions detected, space-separated, whatever tier is in use. */
  cpuFeatures?: string;
  /** Threads the CPU kernels use (setThreads). */
  threads?: number;
  [key: string]: boolean | number | string | undefined;
}

export interface DeviceStatus {
  /**
   * What to pass as `device`: 'cpu', 'vulkan' (the first Vulkan device; 'vulkan:0' names it
   * too), 'vulkan:1', ..., 'cuda', or a plugin's name.
   */
  name: string;
  /** The backend it belongs to: 'cpu', 'vulkan', 'cuda' or a plugin's name. */
  backend: string;
  /** Its place among the backend's devices (best first for Vulkan). */
  index: number;
  available: boolean;
  /** Device details (name, driver, threads) when available. */
  description?: string;
  /** Why the device is unavailable. */
  reason?: string;
  kind: DeviceKind;
  /** Bytes it can hold: device-local memory, host RAM for the CPU (0 when unknown). */
  memory: number;
  features: DeviceFeatures;
  /** The kernel ops it implements (names of KERNEL_OPS); empty when unavailable. */
  ops: string[];
  /** The plugin library it comes from, for backends loaded as plugins. */
  plugin?: string;
}

/**
 * Every device edgetrain knows, available or not (with the reason): the CPU, each Vulkan
 * physical device, CUDA, and the devices of plugins found in the addon's folder or through
 * EDGETRAIN_PLUGIN_PATH.
 */
export function devices(): DeviceStatus[] {
  return native.devices() as DeviceStatus[];
}

// requested name -> canonical name; the registry is fixed once the addon has started
const resolved = new Map<string, string>();

function checkDevice(name: string, op: string): string {
  let canonical = resolved.get(name);
  if (canonical === undefined) {
    try {
      canonical = native.resolveDevice(name);
    } catch (e) {
      throw fromNative(e, op);
    }
    resolved.set(name, canonical);
  }
  return canonical;
}

let defaultDevice: string | undefined;

/** The device new tensors go to: setDefaultDevice(), else $EDGETRAIN_DEVICE, else cpu. */
export function getDefaultDevice(): string {
  if (defaultDevice === undefined) {
    const env = process.env.EDGETRAIN_DEVICE;
    defaultDevice = env ? checkDevice(env, 'EDGETRAIN_DEVICE') : 'cpu';
  }
  return defaultDevice;
}

/** Sets the device new tensors go to ('vulkan:0' is stored as 'vulkan'). Throws DeviceError for an unknown or unavailable device. */
export function setDefaultDevice(name: string): void {
  defaultDevice = checkDevice(name, 'setDefaultDevice');
}

/** The canonical name of an available device, the default when name is undefined; DeviceError otherwise, naming op. */
export function resolveDevice(name: string | undefined, op: string): string {
  return name === undefined ? getDefaultDevice() : checkDevice(name, op);
}

export interface DeviceMemory extends NativeMem {
  /** Tensor objects alive on the device (views count separately). */
  liveTensors: number;
}

/** Live and peak bytes, buffers, cached bytes and tensor counts per available device. */
export function memory(): Record<string, DeviceMemory> {
  const m = native.memory();
  const counts = liveTensorCounts();
  const out: Record<string, DeviceMemory> = {};
  for (const [k, v] of Object.entries(m)) out[k] = { ...v, liveTensors: counts[k] ?? 0 };
  return out;
}

/** Returns cached (free) device memory to the system. */
export function emptyCache(device = getDefaultDevice()): void {
  native.emptyCache(device);
}

/** Threads the CPU kernels use. */
export function getThreads(): number {
  return native.getThreads();
}

/** Largest thread count setThreads accepts: max(1024, 4 x the hardware threads). */
export function maxThreads(): number {
  return native.maxThreads();
}

/**
 * Sets the threads the CPU kernels use (the calling thread included): an integer from 1 to
 * maxThreads(). Throws ValueError for anything else, and EdgeTrainError when the system refuses
 * to start a thread (the previous count is kept).
 */
export function setThreads(n: number): void {
  const max = native.maxThreads();
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) {
    const got = typeof n === 'number' ? String(n) : typeof n === 'string' ? `the string '${n}'` : typeof n;
    throw new ValueError(`setThreads: thread count must be an integer in [1, ${max}], got ${got}`);
  }
  try {
    native.setThreads(n);
  } catch (e) {
    throw fromNative(e, 'setThreads');
  }
}

export interface CpuInfo {
  /** Kernel tier in use (see DeviceFeatures.isa). */
  isa: string;
  /** CPU extensions detected, space-separated. */
  features: string;
  threads: number;
  /** Clock measured now: the fastest of 30 short dependent-multiply (x86-64) or add (arm64) chains, in GHz (takes ~0.15 s; 0 if unmeasurable). */
  clockGhz: number;
}

/** What the CPU backend runs on. */
export function cpuInfo(): CpuInfo {
  return { isa: native.cpuIsa(), features: native.cpuFeatures(), threads: native.getThreads(), clockGhz: native.cpuClockGhz() };
}

/**
 * Resolves once the work queued so far on the device has run; the event loop stays free
 * meanwhile. Rejects with the error a kernel met while running (typed, naming its op).
 */
export async function synchronize(device = getDefaultDevice()): Promise<void> {
  try {
    await native.syncAsync(device);
  } catch (e) {
    throw fromNative(e, 'synchronize');
  }
}
