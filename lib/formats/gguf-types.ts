// GGUF metadata value types, numbered as in gguf.h, and the ggml tensor types (their table, with
// the block geometry of every type, is csrc/quant_types.h's: lib/quant-types.ts), so that sizes
// of quantized tensors are checked without special cases at each call site.

/** GGUF metadata value type ids (gguf.h `enum gguf_type`). */
export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GGUFValueTypeId = (typeof GGUFValueType)[keyof typeof GGUFValueType];

/** Scalar metadata type names as the reader reports them and the writer accepts them. */
export type GGUFScalarTypeName =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'float32'
  | 'bool'
  | 'string'
  | 'uint64'
  | 'int64'
  | 'float64';
/** A metadata value's type: a scalar name, or `array<elem>` (`array<array>` for nested arrays). */
export type GGUFTypeName = GGUFScalarTypeName | `array<${GGUFScalarTypeName | 'array'}>`;

export const VALUE_TYPE_NAME: Record<number, GGUFScalarTypeName | 'array'> = {
  0: 'uint8',
  1: 'int8',
  2: 'uint16',
  3: 'int16',
  4: 'uint32',
  5: 'int32',
  6: 'float32',
  7: 'bool',
  8: 'string',
  9: 'array',
  10: 'uint64',
  11: 'int64',
  12: 'float64',
};
export const VALUE_TYPE_ID: Record<GGUFScalarTypeName | 'array', GGUFValueTypeId> = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
};
/**
 * The fewest bytes one value of each type can occupy in a file (a string is at least its 8-byte
 * length, an array its 4-byte type and 8-byte count). Counts are checked against these before
 * anything is allocated, so a corrupt count cannot ask for more memory than the file could hold.
 */
export const VALUE_MIN_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8 };

/** Ids ggml once used and has since removed; named in errors so an old file is recognisable. */
export const GGML_REMOVED_TYPES: Record<number, string> = {
  4: 'Q4_2',
  5: 'Q4_3',
  31: 'Q4_0_4_4',
  32: 'Q4_0_4_8',
  33: 'Q4_0_8_8',
  36: 'IQ4_NL_4_4',
  37: 'IQ4_NL_4_8',
  38: 'IQ4_NL_8_8',
};

// The tensor types and their block geometry: csrc/quant_types.h, through the addon.
export { GGML_TYPES, GGML_TYPE_BY_NAME, type GGMLTypeInfo } from '../quant-types.js';

/** Layout limits and helpers the GGUF reader and writer share, so every file one accepts the other does too. */
export const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS: llama.cpp refuses tensors of higher rank. */
export const MAX_DIMS = 4;
/**
 * ggml's GGML_MAX_NAME: llama.cpp refuses tensor names of this many bytes or more; writeGGUF
 * refuses them and so does the reader, so every file one accepts the other does too.
 */
export const MAX_NAME = 64;
export const MAX_NESTING = 8;
export const align = (n: number, a: number): number => Math.ceil(n / a) * a;
