// Devices: what exists, the default for new tensors, memory figures.
import { DeviceError, ValueError, fromNative } from './errors.js';
import { native, type NativeMem } from './native/addon.js';
import { liveTensorCounts } from './tensor.js';

export interface DeviceStatus {
  name: string;
  available: boolean;
  /** Device details (name, driver, threads) when available. */
  description?: string;
  /** Why the device is unavailable. */
  reason?: string;
}

/** Every device edgetrain knows, available or not (with the reason). */
export function devices(): DeviceStatus[] {
  return native.devices();
}

function checkDevice(name: string, op: string): string {
  const d = native.devices().find((x) => x.name === name);
  if (!d) throw new DeviceError(`${op}: unknown device '${name}' (known: ${native.devices().map((x) => x.name).join(', ')})`);
  if (!d.available) throw new DeviceError(`${op}: device '${name}' is not available: ${d.reason}`);
  return name;
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

export function setDefaultDevice(name: string): void {
  defaultDevice = checkDevice(name, 'setDefaultDevice');
}

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
  /** Kernel set in use: 'avx2', 'neon' or 'generic'. */
  isa: string;
  threads: number;
  /** Clock measured now with a dependent-add chain, in GHz (takes ~0.2 s; 0 if unmeasurable). */
  clockGhz: number;
}

/** What the CPU backend runs on. */
export function cpuInfo(): CpuInfo {
  return { isa: native.cpuIsa(), threads: native.getThreads(), clockGhz: native.cpuClockGhz() };
}
