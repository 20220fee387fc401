// How each fixture op is called through the public API (the twin of the reference functions in
// scripts/gen-fixtures.py). An op receives its operands (views already applied) and the case's params.
import * as et from '../../lib/index.js';
import type { Tensor } from '../../lib/index.js';

type P = Record<string, unknown>;
export type OpFn = (a: Tensor[], p: P, device: string) => Tensor | Tensor[];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => any;

/** et.<name>, or a clear failure while the op has not landed in lib/ yet. */
export function api(name: string): AnyFn {
  const f = (et as unknown as Record<string, unknown>)[name];
  if (typeof f !== 'function') throw new Error(`et.${name} is not exported by lib/index.ts (op not landed yet?)`);
  return f as AnyFn;
}

const num = (v: unknown): number => v as number;
/** Options with the undefined entries left out (so the op's own defaults apply). */
const opts = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

const unary = (name: string): OpFn => (a) => api(name)(a[0]);
// binary and comparison ops: (tensor, tensor) or (tensor, number) / (number, tensor)
const binary = (name: string): OpFn => (a, p) => {
  if (p.scalar === undefined) return api(name)(a[0], a[1]);
  return p.scalarFirst ? api(name)(num(p.scalar), a[0]) : api(name)(a[0], num(p.scalar));
};
const reduce = (name: string): OpFn => (a, p) =>
  p.dim === undefined ? api(name)(a[0]) : api(name)(a[0], p.dim, { keepdim: Boolean(p.keepdim) });

function rmsNorm(x: Tensor, w: Tensor | null, eps: number): Tensor {
  return api('rmsNorm')(x, w, eps);
}

function ropeOpts(p: P, positions?: Tensor): Record<string, unknown> {
  return opts({ base: p.base, mode: p.mode, rotaryDims: p.rotaryDims, freqScale: p.freqScale, positions: positions ?? p.offset });
}

export const OPS: Record<string, OpFn> = {
  // creation
  zeros: (_a, p, device) => et.zeros(p.shape as number[], { device }),
  ones: (_a, p, device) => et.ones(p.shape as number[], { device }),
  full: (_a, p, device) => et.full(p.shape as number[], num(p.value), { device }),
  arange: (_a, p, device) => et.arange(num(p.start), num(p.end), num(p.step), { device }),
  // unary
  neg: unary('neg'),
  exp: unary('exp'),
  log: unary('log'),
  sqrt: unary('sqrt'),
  rsqrt: unary('rsqrt'),
  abs: unary('abs'),
  sign: unary('sign'),
  relu: unary('relu'),
  silu: unary('silu'),
  sigmoid: unary('sigmoid'),
  tanh: unary('tanh'),
  gelu: (a, p) => et.gelu(a[0]!, { approximate: p.approximate as 'none' | 'tanh' }),
  pow: (a, p) => et.pow(a[0]!, num(p.p)),
  // binary, comparisons, selection
  add: binary('add'),
  sub: binary('sub'),
  mul: binary('mul'),
  div: binary('div'),
  maximum: binary('maximum'),
  minimum: binary('minimum'),
  gt: binary('gt'),
  ge: binary('ge'),
  lt: binary('lt'),
  le: binary('le'),
  eq: binary('eq'),
  ne: binary('ne'),
  where: (a, p) => et.where(a[0]!, a[1]!, a.length > 2 ? a[2]! : num(p.b)),
  maskedFill: (a, p) => et.maskedFill(a[0]!, a[1]!, num(p.value)),
  // reductions
  sum: reduce('sum'),
  mean: reduce('mean'),
  max: reduce('max'),
  min: reduce('min'),
  argmax: reduce('argmax'),
  // linear algebra, softmax family, lookup
  matmul: (a) => et.matmul(a[0]!, a[1]!),
  softmax: (a, p) => api('softmax')(a[0], p.dim),
  logSoftmax: (a, p) => api('logSoftmax')(a[0], p.dim),
  crossEntropy: (a, p) => api('crossEntropy')(a[0], a[1], opts({ ignoreIndex: p.ignoreIndex, reduction: p.reduction })),
  embedding: (a) => api('embedding')(a[0], a[1]),
  // shapes
  reshape: (a, p) => et.reshape(a[0]!, p.shape as number[]),
  transpose: (a, p) => et.transpose(a[0]!, num(p.dim0), num(p.dim1)),
  permute: (a, p) => et.permute(a[0]!, p.dims as number[]),
  slice: (a, p) => et.slice(a[0]!, num(p.dim), (p.start as number | null) ?? undefined, (p.end as number | null) ?? undefined, num(p.step ?? 1)),
  expand: (a, p) => et.expand(a[0]!, p.shape as number[]),
  squeeze: (a, p) => et.squeeze(a[0]!, p.dim as number | undefined),
  unsqueeze: (a, p) => et.unsqueeze(a[0]!, num(p.dim)),
  flatten: (a, p) => et.flatten(a[0]!, num(p.start), num(p.end)),
  cat: (a, p) => et.cat(a, num(p.dim)),
  split: (a, p) => et.split(a[0]!, p.sizes as number | number[], num(p.dim)),
  stack: (a, p) => et.stack(a, num(p.dim)),
  contiguous: (a) => et.contiguous(a[0]!),
  cast: (a, p) => et.cast(a[0]!, p.dtype as string),
  // transformer blocks
  rmsNorm: (a, p) => rmsNorm(a[0]!, p.weight ? a[1]! : null, num(p.eps)),
  layerNorm: (a, p) => {
    const w = p.weight ? a[1]! : null;
    const b = p.bias ? a[p.weight ? 2 : 1]! : null;
    return api('layerNorm')(a[0], w, b, num(p.eps));
  },
  rope: (a, p) => api('rope')(a[0], ropeOpts(p, a[1])),
  swiglu: (a) => api('swiglu')(a[0], a[1]),
  dropout: (a, p) => et.dropout(a[0]!, num(p.p), { training: true, seed: num(p.seed) }),
  scaledDotProductAttention: (a, p) =>
    api('scaledDotProductAttention')(a[0], a[1], a[2], opts({ causal: Boolean(p.causal), scale: p.scale, mask: a[3] })),

  // composites (same recipes as the reference functions in gen-fixtures.py)
  mlp: ([x, w, b]) => et.relu(et.add(et.matmul(x!, et.transpose(w!, 0, 1)), b!)).sum(),
  attnBlock: ([x, wn, wq, wk, wv, wo], p) => {
    const [B, T, C] = x!.shape as [number, number, number];
    const H = num(p.heads);
    const Hkv = num(p.kvHeads);
    const D = C / H;
    const h = rmsNorm(x!, wn!, 1e-5);
    const proj = (w: Tensor, heads: number) => et.reshape(et.matmul(h, et.transpose(w, 0, 1)), [B, T, heads, D]);
    const rope = (t: Tensor) => api('rope')(t, { base: 10000, mode: 'neox' }) as Tensor;
    const q = et.permute(rope(proj(wq!, H)), [0, 2, 1, 3]);
    const k = et.permute(rope(proj(wk!, Hkv)), [0, 2, 1, 3]);
    const v = et.permute(proj(wv!, Hkv), [0, 2, 1, 3]);
    const o = api('scaledDotProductAttention')(q, k, v, { causal: true }) as Tensor;
    const merged = et.reshape(et.permute(o, [0, 2, 1, 3]), [B, T, C]);
    return et.add(x!, et.matmul(merged, et.transpose(wo!, 0, 1)));
  },
  lmHead: ([wEmb, wLn, ids, tgt]) => {
    const h0 = api('embedding')(wEmb, ids) as Tensor;
    const h1 = api('layerNorm')(h0, wLn, null, 1e-5) as Tensor;
    const h2 = et.gelu(h1, { approximate: 'tanh' });
    const logits = et.matmul(h2, et.transpose(wEmb!, 0, 1));
    const C = logits.shape[logits.ndim - 1]!;
    return api('crossEntropy')(et.reshape(logits, [-1, C]), et.reshape(tgt!, [-1])) as Tensor;
  },
  softmaxChain: ([x, w]) => {
    const s = api('softmax')(et.matmul(x!, w!), -1) as Tensor;
    return et.add(et.mean(et.sum(et.mul(s, s), 0)), et.max(et.tanh(x!)));
  },
};

/** Runs a fixture op and returns its outputs as a list. */
export function runOp(op: string, operands: Tensor[], params: P, device: string): Tensor[] {
  const f = OPS[op];
  if (!f) throw new Error(`op table: no entry for fixture op '${op}' in test/helpers/op-table.ts`);
  const r = f(operands, params, device);
  return Array.isArray(r) ? r : [r];
}
