// The tensor types a GGUF file can name, with their block geometry, as the addon exports them
// from csrc/quant_types.h (the one table of block sizes; bindings/quant.cpp). Everything in
// TypeScript that needs a block size or a ggml type id reads it here: the GGUF reader and writer,
// lib/quant (storage, formats) and lib/ops/quant.ts (the kernels' ops).
import { native } from './native/addon.js';

/** One row of csrc/quant_types.h. */
export interface QuantTypeInfo {
  readonly name: string;
  /** ggml's type id (edgetrain's own NF4 formats: 1024 and up). */
  readonly ggmlType: number;
  /** Elements per block (1 for plain types). */
  readonly blockElems: number;
  readonly blockBytes: number;
  /** The block kernels (dequantize, matmulQ, quantize) implement this type. */
  readonly kernels: boolean;
}

/** The addon's side of the table: quantTypes() returns its rows in table order. */
export interface QuantTypesAddon {
  quantTypes(): QuantTypeInfo[];
}

/** Every tensor type of csrc/quant_types.h, in table order. */
export const QUANT_TYPES: readonly QuantTypeInfo[] = Object.freeze(
  (native as unknown as QuantTypesAddon).quantTypes().map((t) => Object.freeze({ ...t })),
);

/** Geometry of one ggml tensor type. */
export interface GGMLTypeInfo {
  id: number;
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  bytesPerBlock: number;
}

/** Every ggml tensor type this version knows (and NF4 / NF4_DQ), by id. */
export const GGML_TYPES: ReadonlyMap<number, GGMLTypeInfo> = new Map(
  QUANT_TYPES.map((t) => [t.ggmlType, Object.freeze({ id: t.ggmlType, name: t.name, blockSize: t.blockElems, bytesPerBlock: t.blockBytes })]),
);
/** ggml tensor types by name ('F32', 'Q4_K', ...). */
export const GGML_TYPE_BY_NAME: ReadonlyMap<string, GGMLTypeInfo> = new Map([...GGML_TYPES.values()].map((t) => [t.name, t]));

/** [elements, bytes] per block of each block format the kernels implement, by name. */
export const BLOCK: Readonly<Record<string, [number, number]>> = Object.freeze(
  Object.fromEntries(QUANT_TYPES.filter((t) => t.kernels).map((t) => [t.name, [t.blockElems, t.blockBytes] as [number, number]])),
);
