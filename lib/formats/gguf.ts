// GGUF files: the reader (gguf-read.ts), the writer (gguf-write.ts) and the type tables
// (gguf-types.ts), under one import.
export * from './gguf-read.js';
export * from './gguf-write.js';
export { GGML_TYPES, GGML_TYPE_BY_NAME, GGUFValueType, MAX_NAME } from './gguf-types.js';
export type { GGMLTypeInfo, GGUFScalarTypeName, GGUFTypeName } from './gguf-types.js';
