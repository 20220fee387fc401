// Bad input: every case throws a typed error naming the op and the shapes; none crashes.
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { native } from '../lib/native/addon.js';
import { KERNEL_OPS, OP, OP_SCHEMA } from '../lib/native/ops.js';
import { runKernel } from '../lib/native/run.js';

describe('bad input gives typed errors', () => {
  test('mismatched shapes', () => {
    const a = et.ones([2, 3]);
    const b = et.ones([4, 3]);
    expect(() => et.add(a, b)).toThrow(et.ShapeError);
    expect(() => et.add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4, 3\]/);
    expect(() => et.matmul(a, b)).toThrow(/matmul: inner dims differ: \[2, 3\] @ \[4, 3\]/);
    expect(() => et.reshape(a, [5])).toThrow(/reshape: cannot reshape \[2, 3\]/);
    expect(() => et.cat([a, et.ones([2, 4])], 0)).toThrow(/cat: shapes \[2, 3\], \[2, 4\]/);
    expect(() => et.transpose(a, 0, 2)).toThrow(et.IndexError);
    expect(() => et.tensor([[1, 2], [3]])).toThrow(/ragged/);
  });

  test('wrong dtypes', () => {
    const i = et.tensor([1, 2, 3], { dtype: 'int32' });
    const f = et.ones([3]);
    expect(() => et.add(i, f)).toThrow(et.DTypeError);
    expect(() => et.add(i, f)).toThrow(/add: expected float32, got int32 \(shape \[3\]\)/);
    expect(() => et.exp(i)).toThrow(/exp: expected float32/);
    expect(() => et.where(f, f, f)).toThrow(/where: expected uint8/);
    expect(() => et.cast(f, 'float64')).toThrow(/unknown dtype 'float64'/);
  });

  test('a disposed tensor', () => {
    const t = et.ones([2]);
    t.dispose();
    expect(() => et.exp(t)).toThrow(et.DisposedError);
    expect(() => et.exp(t)).toThrow(/exp: .*shape \[2\].*disposed/);
    expect(() => t.item()).toThrow(et.DisposedError);
  });

  // the kernel finds these while it runs (queued): they surface at the next read
  test('an out-of-range embedding index', () => {
    const w = et.ones([10, 4]);
    const ids = et.tensor([1, 10], { dtype: 'int32' });
    expect(() => et.embedding(w, ids).dataSync()).toThrow(et.IndexError);
    expect(() => et.embedding(w, ids).dataSync()).toThrow(/embedding: index 10 .*outside \[0, 10\)/);
    const neg = et.tensor([-1], { dtype: 'int32' });
    expect(() => et.embedding(w, neg).dataSync()).toThrow(et.IndexError);
  });

  test('non-finite arguments', () => {
    const x = et.ones([3]);
    expect(() => et.pow(x, NaN)).toThrow(et.ValueError);
    expect(() => et.pow(x, NaN)).toThrow(/pow: exponent must be a finite number, got NaN/);
    expect(() => et.randn([2], { std: Infinity })).toThrow(/randn: std/);
    expect(() => et.arange(0, Infinity)).toThrow(et.ValueError);
    expect(() => et.dropout(x, NaN)).toThrow(et.ValueError);
  });

  test('an absent device', () => {
    expect(() => et.ones([2], { device: 'tpu' })).toThrow(et.DeviceError);
    expect(() => et.ones([2], { device: 'tpu' })).toThrow(/unknown device 'tpu'/);
    const cuda = et.devices().find((d) => d.name === 'cuda')!;
    expect(cuda.available).toBe(false);
    expect(cuda.reason).toBeTruthy();
    expect(() => et.ones([2]).to('cuda')).toThrow(/device 'cuda' is not available: /);
  });

  test('an op the device lacks names op and device', () => {
    const vk = et.devices().find((d) => d.name === 'vulkan');
    if (!vk?.available) return expect(() => et.ones([2]).to('vulkan')).toThrow(et.DeviceError);
    // any kernel op with inputs that vulkan still lacks (none left: nothing to check), called with
    // one-element operands
    const op = KERNEL_OPS.find((o) => OP_SCHEMA[o].inputs.length > 0 && !native.supportsOp('vulkan', OP[o]));
    if (!op) return;
    const schema = OP_SCHEMA[op];
    const ins = schema.inputs.filter((i) => !i.optional).map((i) => et.zeros([1], { dtype: i.dtypes[0]! }).to('vulkan'));
    const outs = schema.outputs.map((o) => ({ shape: [1], dtype: o.dtypes[0]! }));
    const call = () => runKernel(op, ins, outs, schema.params.map(() => 0));
    expect(call).toThrow(et.DeviceError);
    expect(call).toThrow(new RegExp(`${op} is not implemented on vulkan`));
  });

  test('a float16 weight runs where the device has the combination, as on cpu', () => {
    // vulkan once refused matmul(float32, float16) before running it; every combination of the
    // schema now runs there (devices.test.ts: the same ops as cpu)
    const vk = et.devices().find((d) => d.name === 'vulkan');
    if (!vk?.available) return expect(() => et.ones([2]).to('vulkan')).toThrow(et.DeviceError);
    const a = et.ones([2, 3]).to('vulkan');
    const w = et.ones([3, 4], { dtype: 'float16' }).to('vulkan');
    expect(et.matmul(a, w).sum().item()).toBe(24);
    expect(et.matmul(a, w.cast('float32')).sum().item()).toBe(24);
  });

  test('a kernel error leaves the process usable', () => {
    const w = et.ones([3, 2]);
    for (let i = 0; i < 3; i++) expect(() => et.embedding(w, et.tensor([5], { dtype: 'int32' })).dataSync()).toThrow(et.IndexError);
    expect(et.sum(et.embedding(w, et.tensor([2], { dtype: 'int32' }))).item()).toBe(2);
  });
});
