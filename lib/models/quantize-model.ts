// Quantize-on-load: the decoder's Linear layers become QLinear layers over block-quantized copies
// of their weights (the float weights are released), as QLoRA does to a float checkpoint. Token
// embeddings, norms and the output head keep their precision. `type` is a block format (q4_k,
// nf4, ...: every layer alike) or a llama-quantize file type (q4_k_m, ...: its per-layer mix).
import { ValueError } from '../errors.js';
import { Linear } from '../nn/linear.js';
import { QLinear } from '../nn/qlinear.js';
import { cast } from '../ops/copy.js';
import { FILE_TYPES, mixPlanner } from '../quant/mix.js';
import { QuantizedWeight } from '../quant/qweight.js';
import { quantizeTensor } from '../ops/quant.js';
import { QUANTIZABLE } from '../quant/quantize.js';
import { hfToGGUFName } from './gguf.js';
import type { LlamaModel } from './llama.js';

/** The names `--quantize` accepts: block formats and file-type mixes. */
export const QUANTIZE_TYPES = [...new Set([...QUANTIZABLE, ...Object.keys(FILE_TYPES)])].map((t) => t.toLowerCase());

export interface QuantizeModelSummary {
  /** Layers quantized, by block format. */
  types: Record<string, number>;
  /** Layers left dense because no block format fits their rows. */
  dense: string[];
  /** Bytes of the quantized blocks. */
  bytes: number;
}

export function quantizeModel(model: LlamaModel, typeArg: string): QuantizeModelSummary {
  const type = typeArg.toUpperCase();
  if (!QUANTIZE_TYPES.includes(typeArg.toLowerCase())) throw new ValueError(`quantize: type must be one of ${QUANTIZE_TYPES.join(', ')}, got ${typeArg}`);
  const arch = model.config.architecture === 'mistral' ? 'llama' : model.config.architecture;
  const modules = new Map(model.namedModules());
  const linears = [...modules].filter(([path, m]) => m instanceof Linear && path !== 'lm_head') as [string, Linear][];
  const ggufName = (path: string) => hfToGGUFName(`${path}.weight`, arch) ?? path;
  // a file type plans per layer with llama-quantize's rules; a block type is uniform but still
  // falls back (K-quants to 32-blocks) where the rows do not split into its blocks
  const plan = mixPlanner(type, linears.map(([p]) => ggufName(p)));
  const out: QuantizeModelSummary = { types: {}, dense: [], bytes: 0 };
  for (const [path, lin] of linears) {
    const t = plan.typeFor(ggufName(path), [lin.outFeatures, lin.inFeatures]);
    if (t === 'F16') {
      out.dense.push(path);
      continue;
    }
    const w = lin.weight.dtype === 'float32' ? lin.weight : cast(lin.weight, 'float32');
    const q = quantizeTensor(t, w);
    if (w !== lin.weight) w.dispose();
    const qw = new QuantizedWeight(t, [lin.outFeatures, lin.inFeatures], q);
    if (qw.data !== q) q.dispose();
    const ql = new QLinear(qw, lin.bias);
    const dot = path.lastIndexOf('.');
    modules.get(path.slice(0, Math.max(0, dot)))!.replaceModule(path.slice(dot + 1), ql);
    lin.weight.dispose();
    out.types[t] = (out.types[t] ?? 0) + 1;
    out.bytes += ql.qweight.byteLength;
  }
  return out;
}
