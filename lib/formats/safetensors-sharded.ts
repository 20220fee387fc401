// Sharded safetensors as Hugging Face writes them: model-00001-of-00003.safetensors ... plus
// model.safetensors.index.json { metadata: { total_size }, weight_map: { tensor: file } }.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DTYPE_SIZE } from '../dtype.js';
import { FormatError, ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { writeFileAtomic } from './atomic.js';
import { type LoadSafetensorsOptions, loadSafetensors, saveSafetensors } from './safetensors.js';

export const INDEX_NAME = 'model.safetensors.index.json';

/** The shard file of every tensor, from an index file (FormatError when malformed). */
export function readShardIndex(indexPath: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new FormatError(`${indexPath}: not valid JSON (${(e as Error).message})`);
  }
  const map = (json as { weight_map?: unknown })?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new FormatError(`${indexPath}: field weight_map is missing or not an object`);
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\') || file.startsWith('.'))
      throw new FormatError(`${indexPath}: weight_map['${name}'] must be a file name in the same folder, got ${JSON.stringify(file)}`);
    out.set(name, file);
  }
  return out;
}

/**
 * Loads a model's tensors from a folder (sharded with an index, or one model.safetensors), an
 * index file, or a single .safetensors file. Shards are mapped on cpu like loadSafetensors.
 */
export function loadSafetensorsModel(path: string, opts?: LoadSafetensorsOptions): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  let index = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    index = join(path, INDEX_NAME);
    if (!existsSync(index)) {
      const single = join(path, 'model.safetensors');
      if (!existsSync(single)) throw new FormatError(`${path}: no ${INDEX_NAME} or model.safetensors in this folder`);
      return loadSafetensors(single, opts);
    }
  } else if (!path.endsWith('.json')) return loadSafetensors(path, opts);
  const weightMap = readShardIndex(index);
  const byFile = new Map<string, Set<string>>();
  for (const [name, file] of weightMap) {
    if (!byFile.has(file)) byFile.set(file, new Set());
    byFile.get(file)!.add(name);
  }
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};
  try {
    for (const [file, names] of byFile) {
      const shard = join(dirname(index), file);
      if (!existsSync(shard)) throw new FormatError(`${index}: shard ${file} listed in weight_map does not exist`);
      const r = loadSafetensors(shard, { ...opts, filter: (n) => names.has(n) && (opts?.filter?.(n) ?? true) });
      for (const n of names)
        if (!r.tensors.has(n) && (opts?.filter?.(n) ?? true)) throw new FormatError(`${index}: tensor '${n}' is not in its shard ${file}`);
      for (const [n, t] of r.tensors) tensors.set(n, t);
      Object.assign(metadata, r.metadata);
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata };
}

/**
 * Writes tensors as shards of at most `maxShardBytes` (a tensor larger than that gets a shard
 * of its own) plus the index, each file atomically. One shard is written as model.safetensors
 * without an index, as Hugging Face does.
 */
export function saveSafetensorsModel(
  folder: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  opts?: { maxShardBytes?: number; metadata?: Record<string, string> },
): string[] {
  const max = opts?.maxShardBytes ?? 5 * 2 ** 30;
  if (!(max > 0)) throw new ValueError(`saveSafetensorsModel: maxShardBytes must be positive, got ${max}`);
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const shards: [string, Tensor][][] = [[]];
  let size = 0;
  let total = 0;
  for (const [name, t] of list) {
    const bytes = t.numel * DTYPE_SIZE[t.dtype];
    if (size > 0 && size + bytes > max) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push([name, t]);
    size += bytes;
    total += bytes;
  }
  if (shards.length === 1) {
    const file = join(folder, 'model.safetensors');
    saveSafetensors(file, new Map(shards[0]), opts?.metadata);
    return [file];
  }
  const pad = (n: number) => String(n).padStart(5, '0');
  const files = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    saveSafetensors(join(folder, files[i]!), new Map(s), opts?.metadata);
    for (const [name] of s) weightMap[name] = files[i]!;
  });
  const index = join(folder, INDEX_NAME);
  writeFileAtomic(index, [Buffer.from(JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n')]);
  return [...files.map((f) => join(folder, f)), index];
}
