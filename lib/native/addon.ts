// Loads the compiled addon: build/Release (from-source builds) or prebuilds/ (node-gyp-build).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ValueError } from '../errors.js';

export interface NativeDevice {
  name: string;
  available: boolean;
  description?: string;
  reason?: string;
  backend: string;
  index: number;
  kind: string;
  memory: number;
  features: Record<string, boolean | number | string>;
  ops: string[];
  plugin?: string;
}
export interface NativeMem {
  liveBytes: number;
  peakBytes: number;
  liveBuffers: number;
  cachedBytes: number;
}
/**
 * Opaque device buffer handle: a number naming a slot (and its generation) in the addon's buffer
 * table. The addon never frees a buffer on its own; Storage (lib/tensor.ts) frees it.
 */
export type Handle = { readonly __handle: unique symbol };

export interface CallLayout {
  /** Index of the first argument slot (after op, n_in, n_out). */
  header: number;
  /** Doubles per argument: dtype, ndim, offset, shape[maxDims], strides[maxDims]. */
  slot: number;
  /** Index of the first scalar parameter. */
  params: number;
  size: number;
  maxDims: number;
  maxArgs: number;
  maxParams: number;
}

export interface Addon {
  alloc(device: string, bytes: number): Handle;
  free(h: Handle): void;
  upload(h: Handle, byteOffset: number, data: ArrayBufferView): void;
  /** Waits for the queued work that uses the buffer (throwing the error a kernel met), then reads. */
  download(h: Handle, byteOffset: number, bytes: number): ArrayBuffer;
  /** Queues the read behind the work already queued; the promise settles off the JS thread. */
  downloadAsync(h: Handle, byteOffset: number, bytes: number): Promise<ArrayBuffer>;
  /** Settles once the work queued so far on the device has run (rejects with a kernel's error). */
  syncAsync(device: string): Promise<void>;
  /** Queues a copy of bytes between buffers, on one device or across two, without a JS buffer. */
  copyBuffer(src: Handle, srcByteOffset: number, dst: Handle, dstByteOffset: number, bytes: number): void;
  /** Items queued on the device's stream and not yet run. */
  pending(device: string): number;
  /** EDGETRAIN_SYNC=1: every kernel runs at its call, as it is queued. */
  syncMode: boolean;
  mapFile(path: string): { handle: Handle; bytes: number };
  setMeta(meta: Float64Array): number;
  exec(...handles: Handle[]): void;
  supportsOp(device: string, op: number): boolean;
  opNames(): string[];
  metaSize: number;
  /** Where exec() reads each part of a call in the shared Float64Array (csrc/ops.h kCall*). */
  callLayout: CallLayout;
  devices(): NativeDevice[];
  memory(): Record<string, NativeMem>;
  emptyCache(device: string): void;
  sync(device: string): void;
  /** Finishes this env's queued work and every device's; called at the process's 'exit' event. */
  atExit?(): void;
  getThreads(): number;
  setThreads(n: number): void;
  /** Largest count setThreads accepts. */
  maxThreads(): number;
  /** The CPU kernel tier in use (csrc/cpu/cpuid.h): generic, avx2, avx2vnni, avx512, avx512vnni, avx512bf16, neon, dotprod, i8mm. */
  cpuIsa(): string;
  /** "" unless EDGETRAIN_CPU_ISA names an unknown tier or one this CPU cannot run. */
  cpuIsaError(): string;
  /** Every CPU extension detected, space-separated (before any EDGETRAIN_CPU_ISA cap). */
  cpuFeatures(): string;
  cpuClockGhz(): number;
  /** The canonical name of an available device ('vulkan:0' -> 'vulkan'); throws "DeviceError: ..." otherwise. */
  resolveDevice(name: string): string;
}

function packageRoot(): string {
  // Works from lib/native (tests via vitest) and from dist/ (bundled).
  let dir = typeof __dirname !== 'undefined' ? __dirname : dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'CMakeLists.txt'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('edgetrain: cannot find the package root to load the native addon');
}

/** Where the addon is loaded from (for tests that start a child process on the same build). */
export function addonPath(): string {
  const root = packageRoot();
  // EDGETRAIN_ADDON points at another build of the addon (development, cross builds).
  const override = process.env.EDGETRAIN_ADDON;
  if (override) return override;
  const built = join(root, 'build', 'Release', 'edgetrain.node');
  if (existsSync(built)) return built;
  const req = createRequire(join(root, 'package.json'));
  try {
    return (req('node-gyp-build') as { path(d: string): string }).path(root);
  } catch (e) {
    throw new Error(
      `edgetrain: the native addon is not built (${(e as Error).message}). Run \`npm rebuild edgetrain\` ` +
        'or, in a checkout, `npm run build:native`.',
    );
  }
}

function load(): Addon {
  const req = createRequire(join(packageRoot(), 'package.json'));
  const addon = req(addonPath()) as Addon;
  // A tier forced by EDGETRAIN_CPU_ISA that is unknown or beyond this CPU: raised here, at import,
  // rather than silently running another tier (a CI job forcing a tier must test that tier).
  const tierError = addon.cpuIsaError();
  if (tierError) throw new ValueError(`edgetrain: ${tierError}`);
  return addon;
}

export const native: Addon = load();

// Device work still running when the process exits would meet the driver's own exit-time teardown
// (on lavapipe: LLVM's static objects destroyed while its queue thread compiles a shader: hangs
// and heap corruption). 'exit' comes before any static destructor, on process.exit() too.
process.once('exit', () => native.atExit?.());
