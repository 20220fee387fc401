// How exactly matmuls with a bfloat16 operand multiply, in PyTorch's terms
// (torch.set_float32_matmul_precision):
//   'highest' (default, as PyTorch's): every product exact to float32; a bf16 weight times float32
//              activations is the float32 product of the exact values (the CPU splits the
//              activations into three bf16 parts on AMX tiles);
//   'high' and 'medium': a bf16 weight multiplies activations rounded to bf16 (nearest even) with
//              float32 sums, as PyTorch's bf16 matmul does (about 1.2x faster LoRA steps on a bf16
//              base with AMX); float32 x float32 products stay exact.
// Only the CPU has bf16 products; other backends compute exactly at every setting.
import { ValueError } from '../errors.js';

export type MatmulPrecision = 'highest' | 'high' | 'medium';
const LEVELS: readonly MatmulPrecision[] = ['highest', 'high', 'medium'];
let current: MatmulPrecision = 'highest';

/** Sets how matmuls with a bfloat16 operand multiply (see MatmulPrecision); returns the previous setting. */
export function setMatmulPrecision(p: MatmulPrecision): MatmulPrecision {
  if (!LEVELS.includes(p)) throw new ValueError(`setMatmulPrecision: '${String(p)}' is not one of ${LEVELS.map((l) => `'${l}'`).join(', ')}`);
  const prev = current;
  current = p;
  return prev;
}

export function getMatmulPrecision(): MatmulPrecision {
  return current;
}

/** The matmul kernel's precision param for a product whose b has dtype `bDtype`. */
export function matmulPrecisionParam(bDtype: string): number {
  return bDtype === 'bfloat16' && current !== 'highest' ? 1 : 0;
}
