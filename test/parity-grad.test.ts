// Backend parity of the gradients: for each case of test/helpers/parity-grads.ts (a public op
// whose backward runs the kernels it lists), on every device, autograd's gradients against central
// finite differences on that device (test/helpers/fd.ts), and each device's gradients against
// cpu's. On cpu the kernels each case lists must be the ones that ran. A device lacking a kernel
// must throw the DeviceError naming it (listed when the file ends).
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { backward } from '../lib/autograd/engine.js';
import { startProfile, stopProfile } from '../lib/native/profile.js';
import { expectGradClose } from './helpers/compare.js';
import { orUnsupported, reportUnsupported, testDevices } from './helpers/devices.js';
import { finiteDifferences } from './helpers/fd.js';
import { makeTensor, type OpCase } from './helpers/fixtures.js';
import { GRAD_CASES, upstream } from './helpers/parity-grads.js';
import { runCase } from './helpers/run-case.js';

/** Finite differences vs autograd: |fd - grad| <= FD_REL * max|grad| + FD_ABS (as test/ops.test.ts). */
const FD_REL = 1e-2;
const FD_ABS = 1e-3;
/** A device's autograd gradients against cpu's. */
const DEVICE_REL = 1e-4;

/** The case with its upstream gradient, made once from the output shapes on cpu. */
const withDy = new Map<OpCase, OpCase>();
function ready(c: OpCase): OpCase {
  let r = withDy.get(c);
  if (!r) {
    const shapes = et.tidy(() => et.noGrad(() => runCase(c, 'cpu', false).outputs.map((y) => (y.dtype === 'float32' ? [...y.shape] : null))));
    withDy.set(c, (r = { ...c, dy: upstream(shapes, 1000 + c.name.length) }));
  }
  return r;
}

/** Autograd gradients of sum(y * dy) for the inputs that need one, read back (null where none arrived). */
function autograd(c: OpCase, device: string): (Float32Array | null)[] {
  return et.tidy(() => {
    const { leaves, outputs } = runCase(c, device, true);
    const pairs = outputs.map((y, k) => [y, c.dy[k]] as const).filter(([, dy]) => dy);
    backward(pairs.map(([y]) => y), pairs.map(([, dy]) => makeTensor(dy!, device)));
    return leaves.map((l) => (l.requiresGrad && l.grad ? Float32Array.from(l.grad.dataSync()) : null));
  });
}

function check(c0: OpCase, kernels: string[], device: string): void {
  const c = ready(c0);
  if (device === 'cpu') {
    startProfile();
    try {
      autograd(c, device);
    } finally {
      const ran = new Set(stopProfile().map((r) => r.op));
      expect(kernels.filter((k) => !ran.has(k as never)), `listed kernels that did not run (ran: ${[...ran].join(', ')})`).toEqual([]);
    }
  }
  const ag = orUnsupported(device, c.op, 'backward', () => autograd(c, device));
  if (ag === 'unsupported') return;
  const fd = finiteDifferences(c, device);
  expect(fd.length, 'inputs probed').toBeGreaterThan(0);
  for (const { input, index, grad } of fd) {
    const full = ag[input] ?? new Float32Array(c.inputs[input]!.data.length);
    let scale = 0;
    for (const v of full) scale = Math.max(scale, Math.abs(v));
    index.forEach((j, n) => {
      const err = Math.abs(grad[n]! - full[j]!);
      if (!(err <= FD_REL * scale + FD_ABS))
        throw new Error(`input ${input} element ${j}: finite difference ${grad[n]}, autograd ${full[j]} on ${device} (max|grad| ${scale.toExponential(2)})`);
    });
  }
  if (device !== 'cpu') {
    const ref = autograd(c, 'cpu');
    ref.forEach((r, i) => {
      if (r) expectGradClose(`input ${i} gradient on ${device} vs cpu`, ag[i] ?? new Float32Array(r.length), r, DEVICE_REL);
    });
  }
}

describe.each(testDevices)('%s', (device) => {
  test.each(GRAD_CASES.map((g) => [`${g.case.op}: ${g.case.name} (${g.kernels.join(', ')})`, g] as const))(`${device} %s`, (_n, g) =>
    check(g.case, g.kernels, device),
  );
});

reportUnsupported('gradient parity gaps (DeviceError: not implemented on that device)');
