// Which block format each tensor of a model gets for a file type such as Q4_K_M: the choices
// llama-quantize makes (without an importance matrix), so our files match its mixes tensor for
// tensor. The output head (or tied embedding) gets Q6_K; "_M" mixes give Q6_K to attn_v and
// ffn_down in the first and last eighth of the layers and every third one between; "_S" mixes
// give Q5_K to the first few; a K-quant that does not fit a row (K % 256) falls back to a 32-block
// type. NF4 / NF4_DQ (edgetrain's own) follow the same rules with NF4 in place of Q4_K.
import { ValueError } from '../errors.js';
import { BLOCK } from '../quant-types.js';

/** File types `edgetrain quantize --type` accepts, with llama.cpp's general.file_type number. */
export const FILE_TYPES: Record<string, { base: string; fileType: number }> = {
  Q8_0: { base: 'Q8_0', fileType: 7 },
  Q4_0: { base: 'Q4_0', fileType: 2 },
  Q4_1: { base: 'Q4_1', fileType: 3 },
  Q5_0: { base: 'Q5_0', fileType: 8 },
  Q5_1: { base: 'Q5_1', fileType: 9 },
  Q4_K_S: { base: 'Q4_K', fileType: 14 },
  Q4_K_M: { base: 'Q4_K', fileType: 15 },
  Q5_K_S: { base: 'Q5_K', fileType: 16 },
  Q5_K_M: { base: 'Q5_K', fileType: 17 },
  Q6_K: { base: 'Q6_K', fileType: 18 },
  // no llama.cpp number: general.file_type is left out
  NF4: { base: 'NF4', fileType: -1 },
  NF4_DQ: { base: 'NF4_DQ', fileType: -1 },
};

const FALLBACK: Record<string, string> = { Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0', NF4_DQ: 'NF4', NF4: 'Q8_0' };

/** True for tensors llama-quantize quantizes: 2-D+ weights that are not norms. */
export function isQuantizable(name: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && name.endsWith('weight') && !name.includes('_norm.weight') && !name.includes('ffn_gate_inp.weight');
}

export interface MixPlanner {
  /** The block format for tensor `name` [rows, K] ('F16' when no block format fits its rows). */
  typeFor(name: string, shape: readonly number[]): string;
}

/**
 * A planner for file type `fileType` (or a block format: uniform) over a model's tensor names (in file order): it counts the
 * attn_v / ffn_down tensors as llama-quantize does to tell which layers get more bits.
 */
export function mixPlanner(fileType: string, names: readonly string[]): MixPlanner {
  // a bare block format (Q4_K, ...) is every layer in that format, falling back where rows do not fit
  const ft = FILE_TYPES[fileType] ?? (BLOCK[fileType] ? { base: fileType } : undefined);
  if (!ft) throw new ValueError(`quantize: file type ${fileType} is not one of ${[...new Set([...Object.keys(FILE_TYPES), ...Object.keys(BLOCK)])].join(', ')}`);
  const base = ft.base;
  const tied = !names.includes('output.weight');
  const nV = names.filter((n) => /attn_(v|qkv|kv_b)\.weight/.test(n)).length;
  const nDown = names.filter((n) => n.includes('ffn_down')).length;
  let iV = 0;
  let iDown = 0;
  const moreBits = (i: number, n: number) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;
  const M = fileType.endsWith('_M');
  const S = fileType.endsWith('_K_S');
  const fits = (type: string, K: number) => K % BLOCK[type]![0] === 0;

  function choose(name: string, K: number): string {
    if (name === 'output.weight' || (tied && name === 'token_embd.weight')) {
      if (!fits(base, K)) return 'Q8_0';
      return base === 'Q8_0' ? 'Q8_0' : 'Q6_K';
    }
    if (name === 'token_embd.weight') return base;
    if (/attn_(v|kv_b)\.weight/.test(name)) {
      const i = iV++;
      if (M && moreBits(i, nV)) return 'Q6_K';
      if (S && base === 'Q4_K' && i < 4) return 'Q5_K';
      return base;
    }
    if (name.includes('attn_qkv.weight')) {
      iV++;
      if (fileType === 'Q4_K_M') return 'Q5_K';
      if (fileType === 'Q5_K_M') return 'Q6_K';
      return base;
    }
    if (name.includes('ffn_down')) {
      const i = iDown++;
      if (M && moreBits(i, nDown)) return 'Q6_K';
      if (S && base === 'Q4_K' && i < Math.floor(nDown / 8)) return 'Q5_K';
      return base;
    }
    return base;
  }

  return {
    typeFor(name, shape) {
      const K = shape[shape.length - 1]!;
      let t = choose(name, K);
      while (!fits(t, K)) {
        const f = FALLBACK[t];
        if (!f) return 'F16';
        t = f;
      }
      return t;
    },
  };
}
