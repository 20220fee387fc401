// The one table of tensor types and block sizes (csrc/quant_types.h), as the addon exports it and
// every TypeScript user reads it (lib/quant-types.ts).
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { native } from '../lib/native/addon.js';
import { quantizeTensor } from '../lib/ops/quant.js';
import { BLOCK, GGML_TYPES, GGML_TYPE_BY_NAME, QUANT_TYPES, type QuantTypesAddon } from '../lib/quant-types.js';
import { QUANTIZABLE } from '../lib/quant/quantize.js';

describe('quant types', () => {
  test('the addon exports the table with ggml ids and sizes', () => {
    const rows = (native as unknown as QuantTypesAddon).quantTypes();
    expect(rows).toEqual(QUANT_TYPES);
    const by = new Map(rows.map((r) => [r.name, r]));
    expect(by.get('F32')).toEqual({ name: 'F32', ggmlType: 0, blockElems: 1, blockBytes: 4, kernels: false });
    expect(by.get('BF16')).toEqual({ name: 'BF16', ggmlType: 30, blockElems: 1, blockBytes: 2, kernels: false });
    expect(by.get('Q4_0')).toEqual({ name: 'Q4_0', ggmlType: 2, blockElems: 32, blockBytes: 18, kernels: true });
    expect(by.get('Q4_K')).toEqual({ name: 'Q4_K', ggmlType: 12, blockElems: 256, blockBytes: 144, kernels: true });
    expect(by.get('Q6_K')).toEqual({ name: 'Q6_K', ggmlType: 14, blockElems: 256, blockBytes: 210, kernels: true });
    expect(by.get('IQ4_XS')).toEqual({ name: 'IQ4_XS', ggmlType: 23, blockElems: 256, blockBytes: 136, kernels: false });
    expect(by.get('NF4')).toEqual({ name: 'NF4', ggmlType: 1024, blockElems: 64, blockBytes: 36, kernels: true });
    expect(by.get('NF4_DQ')).toEqual({ name: 'NF4_DQ', ggmlType: 1025, blockElems: 256, blockBytes: 134, kernels: true });
    expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.ggmlType)).size).toBe(rows.length);
  });

  test('the GGUF tables, BLOCK and QUANTIZABLE derive from it', () => {
    expect(GGML_TYPES.size).toBe(QUANT_TYPES.length);
    for (const t of QUANT_TYPES) {
      expect(GGML_TYPES.get(t.ggmlType)).toEqual({ id: t.ggmlType, name: t.name, blockSize: t.blockElems, bytesPerBlock: t.blockBytes });
      expect(GGML_TYPE_BY_NAME.get(t.name)).toBe(GGML_TYPES.get(t.ggmlType));
    }
    const kernelTypes = QUANT_TYPES.filter((t) => t.kernels);
    expect(BLOCK).toEqual(Object.fromEntries(kernelTypes.map((t) => [t.name, [t.blockElems, t.blockBytes]])));
    expect([...QUANTIZABLE].sort()).toEqual(kernelTypes.map((t) => t.name).sort());
    expect(et.quant.BLOCK).toBe(BLOCK);
    expect(et.GGML_TYPES).toBe(GGML_TYPES);
  });

  // the kernels check their output against their own block sizes (from the same header)
  test.each(QUANTIZABLE.map((t) => t))('%s: the kernels agree on the block size', (type) => {
    const [bs, bb] = BLOCK[type]!;
    const x = et.randn([3, 2 * bs], { seed: 1 });
    const q = quantizeTensor(type, x);
    expect(q.shape).toEqual([3, 2 * bb]);
    const w = new et.quant.QuantizedWeight(type, [3, 2 * bs], q);
    const y = w.dequantize();
    expect(y.shape).toEqual([3, 2 * bs]);
    for (const t of [x, q, y]) t.dispose();
    w.dispose();
  });
});
