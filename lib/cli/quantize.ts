// `edgetrain quantize <in.gguf> <out.gguf> --type q8_0|q4_0|q4_1|q5_0|q5_1`: every 2-D weight
// whose rows split into 32-element blocks is quantized (as llama.cpp's reference quantizer does,
// byte for byte); 1-D tensors (norms, biases) stay float32; metadata is carried over.
import { ValueError } from '../errors.js';
import { gguf, loadGGUF, readGGUFHeader, writeGGUF, type GGUFBlockData, type GGUFWritable } from '../formats/gguf.js';
import { cast } from '../ops/copy.js';
import { QUANTIZABLE, quantize } from '../quant/quantize.js';
import type { Tensor } from '../tensor.js';

/** llama.cpp's general.file_type (llama_ftype) of a model whose weights are mostly `type`. */
const FILE_TYPE: Record<string, number> = { Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9 };

export interface QuantizeSummary {
  quantized: number;
  kept: number;
  bytesIn: number;
  bytesOut: number;
}

export function runQuantize(input: string, output: string, typeArg: string): QuantizeSummary {
  const type = typeArg.toUpperCase();
  if (!(QUANTIZABLE as readonly string[]).includes(type)) throw new ValueError(`quantize: --type must be one of ${QUANTIZABLE.map((t) => t.toLowerCase()).join(', ')}, got ${typeArg}`);
  const header = readGGUFHeader(input);
  const meta = new Map<string, GGUFWritable>();
  for (const [k, v] of header.metadata) meta.set(k, gguf.typed(header.metadataTypes.get(k)!, v));
  meta.set('general.file_type', gguf.u32(FILE_TYPE[type]!));
  const { tensors } = loadGGUF(input, { device: 'cpu', dequantize: true });
  const out: { name: string; tensor: Tensor | GGUFBlockData }[] = [];
  const temps: Tensor[] = [];
  let quantized = 0;
  let bytesOut = 0;
  try {
    for (const info of header.tensors) {
      const t = tensors.get(info.name)!;
      const quantizable = t.ndim === 2 && t.shape[1]! % 32 === 0 && !info.name.endsWith('norm.weight');
      if (quantizable) {
        const f = t.dtype === 'float32' ? t : cast(t, 'float32');
        if (f !== t) temps.push(f);
        const bytes = quantize(type, Float32Array.from(f.dataSync()));
        out.push({ name: info.name, tensor: { type, shape: t.shape, bytes } });
        bytesOut += bytes.length;
        quantized++;
      } else {
        const f = t.dtype === 'float32' || t.dtype === 'int32' ? t : cast(t, 'float32');
        if (f !== t) temps.push(f);
        out.push({ name: info.name, tensor: f });
        bytesOut += f.numel * 4;
      }
    }
    writeGGUF(output, { metadata: meta, tensors: out, alignment: header.alignment });
  } finally {
    for (const t of [...temps, ...tensors.values()]) if (!t.isDisposed) t.dispose();
  }
  const bytesIn = header.tensors.reduce((s, t) => s + t.bytes, 0);
  return { quantized, kept: header.tensors.length - quantized, bytesIn, bytesOut };
}
