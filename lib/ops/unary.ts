// Elementwise math and activations, each with its gradient.
import { record } from '../autograd/engine.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { affine, mul, sub, div } from './binary.js';
import { expectDType, expectFinite } from './util.js';
import type { OpName } from '../native/ops.js';

function unary(op: OpName, x: Tensor, params: number[] = []): Tensor {
  x.assertLive(op);
  expectDType(op, x, 'float32');
  return runKernel(op, [x], [{ shape: x.shape, dtype: 'float32' }], params)[0]!;
}

function fromX(x: Tensor, dy: Tensor, op: OpName): Tensor {
  return runKernel(op, [x, dy], [{ shape: x.shape, dtype: 'float32' }])[0]!;
}

export function exp(x: Tensor): Tensor {
  const y = unary('exp', x);
  record('exp', [x], [y], [y], ([dy], [ys]) => [mul(dy!, ys!)]);
  return y;
}

export function log(x: Tensor): Tensor {
  const y = unary('log', x);
  record('log', [x], [y], [x], ([dy], [xs]) => [div(dy!, xs!)]);
  return y;
}

export function sqrt(x: Tensor): Tensor {
  const y = unary('sqrt', x);
  record('sqrt', [x], [y], [y], ([dy], [ys]) => {
    const t = div(dy!, ys!);
    const r = affine(t, 0.5, 0);
    t.dispose();
    return [r];
  });
  return y;
}

export function rsqrt(x: Tensor): Tensor {
  const y = unary('rsqrt', x);
  record('rsqrt', [x], [y], [y], ([dy], [ys]) => {
    const y3 = unary('powScalar', ys!, [3]);
    const t = mul(dy!, y3);
    const r = affine(t, -0.5, 0);
    y3.dispose();
    t.dispose();
    return [r];
  });
  return y;
}

export function abs(x: Tensor): Tensor {
  const y = unary('abs', x);
  record('abs', [x], [y], [x], ([dy], [xs]) => {
    const s = unary('sign', xs!);
    const r = mul(dy!, s);
    s.dispose();
    return [r];
  });
  return y;
}

/** -1, 0 or 1 (gradient zero). */
export function sign(x: Tensor): Tensor {
  return unary('sign', x);
}

export function relu(x: Tensor): Tensor {
  const y = unary('relu', x);
  record('relu', [x], [y], [x], ([dy], [xs]) => [fromX(xs!, dy!, 'reluBwd')]);
  return y;
}

/** GELU: exact (erf) by default, or the tanh approximation with { approximate: 'tanh' }. */
export function gelu(x: Tensor, opts?: { approximate?: 'none' | 'tanh' }): Tensor {
  const tanhForm = opts?.approximate === 'tanh';
  const y = unary(tanhForm ? 'geluTanh' : 'geluErf', x);
  record('gelu', [x], [y], [x], ([dy], [xs]) => [fromX(xs!, dy!, tanhForm ? 'geluTanhBwd' : 'geluErfBwd')]);
  return y;
}

export function silu(x: Tensor): Tensor {
  const y = unary('silu', x);
  record('silu', [x], [y], [x], ([dy], [xs]) => [fromX(xs!, dy!, 'siluBwd')]);
  return y;
}

export function sigmoid(x: Tensor): Tensor {
  const y = unary('sigmoid', x);
  record('sigmoid', [x], [y], [y], ([dy], [ys]) => {
    const om = affine(ys!, -1, 1);
    const t = mul(ys!, om);
    const r = mul(dy!, t);
    om.dispose();
    t.dispose();
    return [r];
  });
  return y;
}

export function tanh(x: Tensor): Tensor {
  const y = unary('tanh', x);
  record('tanh', [x], [y], [y], ([dy], [ys]) => {
    const y2 = mul(ys!, ys!);
    const om = sub(1, y2);
    const r = mul(dy!, om);
    y2.dispose();
    om.dispose();
    return [r];
  });
  return y;
}

/** x ** p for a scalar exponent p. */
export function pow(x: Tensor, p: number): Tensor {
  expectFinite('pow', 'exponent', p);
  const y = unary('powScalar', x, [p]);
  record('pow', [x], [y], [x], ([dy], [xs]) => {
    const d = unary('powScalar', xs!, [p - 1]);
    const t = affine(d, p, 0);
    const r = mul(dy!, t);
    d.dispose();
    t.dispose();
    return [r];
  });
  return y;
}
