// `edgetrain quantize <in.gguf> <out.gguf> --type q4_k_m|q4_0|q8_0|nf4|...`: each weight matrix
// gets the block format llama-quantize would give it for that file type (lib/quant/mix.ts), with
// the blocks llama.cpp's reference quantizer writes, byte for byte; norms and other 1-D tensors
// stay float32; metadata is carried over. NF4 / NF4_DQ files open in edgetrain only.
import { ValueError } from '../errors.js';
import { gguf, loadGGUF, readGGUFHeader, writeGGUF, type GGUFBlockData, type GGUFWritable } from '../formats/gguf.js';
import { cast } from '../ops/copy.js';
import { reshape } from '../ops/shape.js';
import { FILE_TYPES, isQuantizable, mixPlanner } from '../quant/mix.js';
import { quantizeTensor } from '../ops/quant.js';
import type { Tensor } from '../tensor.js';

export interface QuantizeSummary {
  quantized: number;
  kept: number;
  bytesIn: number;
  bytesOut: number;
  /** How many tensors got each type. */
  types: Record<string, number>;
}

export function runQuantize(input: string, output: string, typeArg: string, onTensor?: (name: string, type: string, i: number, n: number) => void): QuantizeSummary {
  const fileType = typeArg.toUpperCase();
  if (!FILE_TYPES[fileType]) throw new ValueError(`quantize: --type must be one of ${Object.keys(FILE_TYPES).map((t) => t.toLowerCase()).join(', ')}, got ${typeArg}`);
  const header = readGGUFHeader(input);
  const meta = new Map<string, GGUFWritable>();
  for (const [k, v] of header.metadata) meta.set(k, gguf.typed(header.metadataTypes.get(k)!, v));
  const ft = FILE_TYPES[fileType]!.fileType;
  if (ft >= 0) meta.set('general.file_type', gguf.u32(ft));
  else meta.delete('general.file_type');
  const plan = mixPlanner(fileType, header.tensors.map((t) => t.name));
  const { tensors } = loadGGUF(input, { device: 'cpu', dequantize: true });
  const out: { name: string; tensor: Tensor | GGUFBlockData }[] = [];
  const temps: Tensor[] = [];
  const types: Record<string, number> = {};
  let quantized = 0;
  let bytesOut = 0;
  try {
    header.tensors.forEach((info, i) => {
      const t = tensors.get(info.name)!;
      const type = isQuantizable(info.name, t.shape) ? plan.typeFor(info.name, t.shape) : t.dtype === 'int32' ? 'I32' : 'F32';
      types[type] = (types[type] ?? 0) + 1;
      onTensor?.(info.name, type, i, header.tensors.length);
      if (type === 'F32' || type === 'F16' || type === 'I32') {
        const want = type === 'F16' ? 'float16' : type === 'I32' ? 'int32' : 'float32';
        const f = t.dtype === want ? t : cast(t, want);
        if (f !== t) temps.push(f);
        out.push({ name: info.name, tensor: f });
        bytesOut += f.numel * (type === 'F16' ? 2 : 4);
        return;
      }
      const f = t.dtype === 'float32' ? t : cast(t, 'float32');
      if (f !== t) temps.push(f);
      const K = t.shape[t.ndim - 1]!;
      const m = reshape(f, [t.numel / K, K]);
      const q = quantizeTensor(type, m);
      if (m !== f) m.dispose();
      const bytes = q.dataSync() as Uint8Array;
      temps.push(q);
      out.push({ name: info.name, tensor: { type, shape: t.shape, bytes } });
      bytesOut += bytes.length;
      quantized++;
    });
    writeGGUF(output, { metadata: meta, tensors: out, alignment: header.alignment });
  } finally {
    for (const t of [...temps, ...tensors.values()]) if (!t.isDisposed) t.dispose();
  }
  const bytesIn = header.tensors.reduce((s, t) => s + t.bytes, 0);
  return { quantized, kept: header.tensors.length - quantized, bytesIn, bytesOut, types };
}
