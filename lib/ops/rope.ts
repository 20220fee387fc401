// Rotary position embedding on x [B, T, H, D]; the gradient is the inverse rotation of dy.
import { ShapeError, DTypeError, ValueError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { tensor } from './creation.js';
import { expectDType, expectFinite, fmt } from './util.js';

export interface RopeOptions {
  /** theta base of the frequencies (default 10000). */
  base?: number;
  /** int32 [T] positions, or the position of the first token (default 0). */
  positions?: Tensor | number;
  /** 'neox' rotates pairs (i, i + n/2) (LLaMA/HF layout); 'interleaved' pairs (2i, 2i+1) (GPT-J). */
  mode?: 'neox' | 'interleaved';
  /** Leading dims of each head that rotate (even, <= D; default D); the rest pass through. */
  rotaryDims?: number;
  /** Multiplies every angle (linear position interpolation); default 1. */
  freqScale?: number;
  /** Rotate by -angle instead (undoes a forward rope with the same options). */
  inverse?: boolean;
}

const contig = (t: Tensor): Tensor => (t.isContiguous() ? t : t.contiguousCopy());

/** Rotates x [B, T, H, D] by angle pos * freqScale * base^(-2i / rotaryDims) per pair i. */
export function rope(x: Tensor, opts: RopeOptions = {}): Tensor {
  const op = 'rope';
  x.assertLive(op);
  expectDType(op, x, 'float32');
  if (x.ndim !== 4) throw new ShapeError(`${op}: x must be [B, T, H, D], got ${fmt(x.shape)}`);
  const [, T, , D] = x.shape as [number, number, number, number];
  if (D % 2 !== 0) throw new ShapeError(`${op}: head dim D must be even, got ${fmt(x.shape)}`);
  const base = opts.base ?? 10000;
  const freqScale = opts.freqScale ?? 1;
  expectFinite(op, 'base', base);
  expectFinite(op, 'freqScale', freqScale);
  const nrot = opts.rotaryDims ?? D;
  if (!Number.isInteger(nrot) || nrot < 0 || nrot > D || nrot % 2 !== 0)
    throw new ValueError(`${op}: rotaryDims must be an even integer in [0, ${D}], got ${nrot} (x ${fmt(x.shape)})`);
  const modeName = opts.mode ?? 'neox';
  if (modeName !== 'neox' && modeName !== 'interleaved') throw new ValueError(`${op}: mode must be 'neox' or 'interleaved', got ${String(modeName)}`);
  const mode = modeName === 'neox' ? 0 : 1;

  let pos: Tensor;
  const p = opts.positions ?? 0;
  if (typeof p === 'number') {
    if (!Number.isInteger(p)) throw new ValueError(`${op}: positions offset must be an integer, got ${p}`);
    const a = new Int32Array(T);
    for (let t = 0; t < T; t++) a[t] = p + t;
    pos = tensor(a, [T], { device: x.device });
  } else {
    p.assertLive(op);
    if (p.dtype !== 'int32') throw new DTypeError(`${op}: positions must be int32, got ${p.dtype} (shape ${fmt(p.shape)})`);
    if (p.ndim !== 1 || p.shape[0] !== T) throw new ShapeError(`${op}: positions ${fmt(p.shape)} must be [${T}] for x ${fmt(x.shape)}`);
    pos = p;
  }
  const dir0 = opts.inverse ? -1 : 1;
  const params = (dir: number) => [base, mode, dir, nrot, freqScale];
  const xc = contig(x);
  try {
    const y = runKernel(op, [xc, pos], [{ shape: x.shape, dtype: 'float32' }], params(dir0))[0]!;
    record(op, [x], [y], [pos], ([dy], [ps]) => {
      const g = contig(dy!);
      const dx = runKernel(op, [g, ps!], [{ shape: g.shape, dtype: 'float32' }], params(-dir0))[0]!;
      if (g !== dy) g.dispose();
      return [dx];
    });
    return y;
  } finally {
    if (xc !== x) xc.dispose();
    if (pos !== p) pos.dispose();
  }
}
