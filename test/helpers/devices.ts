// Devices the op table runs on, and the contract for ops a device lacks: a DeviceError naming the
// op and the device (cpu must run everything).
import { afterAll, expect, test } from 'vitest';
import * as et from '../../lib/index.js';
import { native } from '../../lib/native/addon.js';
import { OP, type OpName } from '../../lib/native/ops.js';

export const requireVulkan = process.env.EDGETRAIN_REQUIRE_VULKAN === '1';

export const allDevices = et.devices();
// EDGETRAIN_TEST_DEVICES=cpu (comma-separated names) limits the op tables to those devices, as
// scripts/cpu-tiers-check.sh does to rerun them on each forced CPU tier without Vulkan's share.
const onlyDevices = process.env.EDGETRAIN_TEST_DEVICES?.split(',').map((s) => s.trim()).filter(Boolean);
/** Available devices, cpu first. */
export const testDevices: string[] = allDevices
  .filter((d) => d.available && (!onlyDevices || onlyDevices.includes(d.name)))
  .map((d) => d.name)
  .sort((a, b) => (a === 'cpu' ? -1 : b === 'cpu' ? 1 : 0));

/** (device, op) pairs that answered DeviceError, for the summary. */
export const unsupported = new Map<string, Set<string>>();

const kernelNames = Object.keys(OP);
// the op named in "<op> is not implemented on <device>" (or any op-table / API name in the text)
const namesAnOp = (msg: string, extra: string[]): string | undefined =>
  [...extra, ...kernelNames].find((n) => new RegExp(`(^|[^A-Za-z0-9])${n}([^A-Za-z0-9]|$)`).test(msg));

/**
 * Whether `e` is the accepted answer of a device that lacks an op: never on cpu; otherwise a
 * DeviceError saying "<op> is not implemented on <device>" (it must name the device and an op). Anything else is rethrown, so a wrong
 * error type or a vague message fails the test.
 */
export function isUnsupported(e: unknown, device: string, op: string, stage: string): boolean {
  if (device === 'cpu') return false;
  if (!(e instanceof et.DeviceError)) return false;
  const msg = e.message;
  // only "not implemented/supported" counts: a mixed-device error here is a bug in the op
  if (!/\bnot (implemented|supported)\b/.test(msg)) return false;
  if (!msg.includes(device)) throw new Error(`${stage}: DeviceError on ${device} does not name the device: "${msg}"`);
  const named = namesAnOp(msg, [op]);
  if (!named) throw new Error(`${stage}: DeviceError on ${device} does not name the op: "${msg}"`);
  let s = unsupported.get(device);
  if (!s) unsupported.set(device, (s = new Set()));
  s.add(`${op} (${stage}: ${named})`);
  return true;
}

/** Runs fn; returns 'unsupported' for an accepted DeviceError, rethrows anything else. */
export function orUnsupported<T>(device: string, op: string, stage: string, fn: () => T): T | 'unsupported' {
  try {
    return fn();
  } catch (e) {
    if (isUnsupported(e, device, op, stage)) return 'unsupported';
    throw e;
  }
}

/**
 * A kernel test on `device`. Where the device lacks `op` (supportsOp), `probe` (one call of the
 * op, read back) must throw the DeviceError naming the op and the device, and the body does not
 * run; otherwise the body runs, and a DeviceError it meets (a dtype, or another kernel, the device
 * lacks) must be such a one. Without an op the body runs on every device as is.
 */
export function onDevice(device: string, op: OpName | null, probe: (() => unknown) | null, body: () => void, label: string = op ?? 'test'): void {
  if (op && device !== 'cpu' && !native.supportsOp(device, OP[op])) {
    let err: unknown;
    try {
      probe?.();
    } catch (e) {
      err = e;
    }
    expect(err, `${op} is missing on ${device}: the call must throw DeviceError`).toBeInstanceOf(et.DeviceError);
    expect(isUnsupported(err, device, op, 'probe'), `not the DeviceError of a missing op: ${String(err)}`).toBe(true);
    return;
  }
  orUnsupported(device, label, 'test', body);
}

/** test() whose body runs through onDevice(device, op, probe, body). */
export const kernelTests =
  (device: string, op: OpName | null, probe: (() => unknown) | null) =>
  (name: string, body: () => void): void =>
    test(name, () => onDevice(device, op, probe, body, op ?? name));

/** Prints the (device, op) pairs that answered DeviceError when the file's tests end. */
export function reportUnsupported(title = 'ops answered with DeviceError (not implemented on that device)'): void {
  afterAll(() => {
    const lines = [...unsupported].map(([d, ops]) => `  ${d}: ${[...ops].join(', ')}`);
    if (lines.length) console.info(`${title}:\n${lines.join('\n')}`);
  });
}
