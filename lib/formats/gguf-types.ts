// GGUF metadata value types and ggml tensor types, numbered as in ggml.h / gguf.h. The tensor
// table carries block geometry for every type so that sizes of quantized tensors can be checked
// (and, later, dequantized) without special cases at each call site.

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

/** Geometry of one ggml tensor type. */
export interface GGMLTypeInfo {
  id: number;
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  bytesPerBlock: number;
}

// [id, name, elements per block, bytes per block] from ggml.c's type_traits
const TYPES: [number, string, number, number][] = [
  [0, 'F32', 1, 4],
  [1, 'F16', 1, 2],
  [2, 'Q4_0', 32, 18],
  [3, 'Q4_1', 32, 20],
  [6, 'Q5_0', 32, 22],
  [7, 'Q5_1', 32, 24],
  [8, 'Q8_0', 32, 34],
  [9, 'Q8_1', 32, 36],
  [10, 'Q2_K', 256, 84],
  [11, 'Q3_K', 256, 110],
  [12, 'Q4_K', 256, 144],
  [13, 'Q5_K', 256, 176],
  [14, 'Q6_K', 256, 210],
  [15, 'Q8_K', 256, 292],
  [16, 'IQ2_XXS', 256, 66],
  [17, 'IQ2_XS', 256, 74],
  [18, 'IQ3_XXS', 256, 98],
  [19, 'IQ1_S', 256, 50],
  [20, 'IQ4_NL', 32, 18],
  [21, 'IQ3_S', 256, 110],
  [22, 'IQ2_S', 256, 82],
  [23, 'IQ4_XS', 256, 136],
  [24, 'I8', 1, 1],
  [25, 'I16', 1, 2],
  [26, 'I32', 1, 4],
  [27, 'I64', 1, 8],
  [28, 'F64', 1, 8],
  [29, 'IQ1_M', 256, 56],
  [30, 'BF16', 1, 2],
  [34, 'TQ1_0', 256, 54],
  [35, 'TQ2_0', 256, 66],
  [39, 'MXFP4', 32, 17],
  // edgetrain's 4-bit NormalFloat formats (lib/quant/dequant.ts), numbered above ggml's range:
  // files holding them open in edgetrain only
  [1024, 'NF4', 64, 36],
  [1025, 'NF4_DQ', 256, 134],
];

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

/** Every ggml tensor type this reader knows, by id. */
export const GGML_TYPES: ReadonlyMap<number, GGMLTypeInfo> = new Map(
  TYPES.map(([id, name, blockSize, bytesPerBlock]) => [id, Object.freeze({ id, name, blockSize, bytesPerBlock })]),
);
/** ggml tensor types by name ('F32', 'Q4_K', ...). */
export const GGML_TYPE_BY_NAME: ReadonlyMap<string, GGMLTypeInfo> = new Map([...GGML_TYPES.values()].map((t) => [t.name, t]));

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
