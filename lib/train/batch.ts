// Seeded, resumable batch order over rows, batches stacked as [B, seqLen] int32 arrays, and a
// deterministic validation split.
import { ShapeError, ValueError } from '../errors.js';
import { seededRandom } from '../random.js';
import { IGNORE_INDEX, type Row, toInputsLabels } from './pack.js';

/** A 32-bit seed for stream `salt` of a user seed: different epochs give unrelated orders. */
function streamSeed(seed: number, salt: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ (salt >>> 0), 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h ^ ((seed / 0x100000000) >>> 0), 0x27d4eb2f);
  h ^= h >>> 15;
  return h >>> 0;
}

function checkInt(op: string, name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new ValueError(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
}

/** A permutation of 0..count-1 (Fisher-Yates over seededRandom), the same for the same (seed, salt). */
function permutation(count: number, seed: number, salt: number): Int32Array {
  const p = new Int32Array(count);
  for (let i = 0; i < count; i++) p[i] = i;
  const rnd = seededRandom(streamSeed(seed, salt));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

export interface BatchOptions {
  /** Rows per batch; an epoch's last batch holds what is left. */
  batchSize: number;
  /** Any integer; the order of epoch e depends only on (seed, e). */
  seed: number;
  epoch: number;
  /** Shuffle the rows each epoch (default true); false keeps their order. */
  shuffle?: boolean;
}

/** The row order of one epoch. */
export function epochOrder(count: number, seed: number, epoch: number, shuffle = true): Int32Array {
  checkInt('epochOrder', 'count', count, 0);
  checkInt('epochOrder', 'seed', Math.abs(seed), 0);
  checkInt('epochOrder', 'epoch', epoch, 0);
  return shuffle ? permutation(count, seed, epoch) : Int32Array.from({ length: count }, (_, i) => i);
}

/** The row indices of each batch of an epoch (over `rows`, or a row count). */
export function epochBatches(rows: readonly unknown[] | number, opts: BatchOptions): number[][] {
  const n = typeof rows === 'number' ? rows : rows.length;
  checkInt('epochBatches', 'batchSize', opts.batchSize, 1);
  const order = epochOrder(n, opts.seed, opts.epoch, opts.shuffle);
  const out: number[][] = [];
  for (let i = 0; i < n; i += opts.batchSize) out.push(Array.from(order.subarray(i, i + opts.batchSize)));
  return out;
}

/** Batch `index` of an epoch: epochBatches(rows, opts)[index], for resuming at a stored position. */
export function batchAt(rows: readonly unknown[] | number, opts: BatchOptions, index: number): number[] {
  const all = epochBatches(rows, opts);
  checkInt('batchAt', 'index', index, 0);
  if (index >= all.length) throw new ValueError(`batchAt: batch ${index} of epoch ${opts.epoch} does not exist (the epoch has ${all.length})`);
  return all[index]!;
}

/** Rows stacked for the model: inputs and labels of shape [B, seqLen], row-major. */
export interface Batch {
  inputs: Int32Array;
  labels: Int32Array;
  shape: [number, number];
  /** The row indices stacked, in order. */
  rows: number[];
}

/** Stacks rows `indices` into inputs and labels (labels use `ignoreIndex` where nothing is trained). */
export function collate(rows: readonly Row[], indices: readonly number[], ignoreIndex = IGNORE_INDEX): Batch {
  if (indices.length === 0) throw new ValueError('collate: no rows');
  const T = rows[indices[0]!]?.ids.length;
  if (T === undefined) throw new ValueError(`collate: row ${indices[0]} does not exist (${rows.length} rows)`);
  const B = indices.length;
  const inputs = new Int32Array(B * (T - 1));
  const labels = new Int32Array(B * (T - 1));
  indices.forEach((r, b) => {
    const row = rows[r];
    if (!row) throw new ValueError(`collate: row ${r} does not exist (${rows.length} rows)`);
    if (row.ids.length !== T) throw new ShapeError(`collate: row ${r} holds ${row.ids.length} tokens, row ${indices[0]} ${T}`);
    const x = toInputsLabels(row, ignoreIndex);
    inputs.set(x.inputs, b * (T - 1));
    labels.set(x.labels, b * (T - 1));
  });
  return { inputs, labels, shape: [B, T - 1], rows: [...indices] };
}

/** Where a run is in its data: the next batch to train is batch `batch` of epoch `epoch`. */
export interface DataPosition {
  epoch: number;
  batch: number;
}

export interface IterateBatchesOptions extends Omit<BatchOptions, 'epoch'> {
  /** Where to start (default epoch 0, batch 0): a position stored by a checkpoint. */
  start?: DataPosition;
  /** Stop at the end of this epoch count (default: never). */
  epochs?: number;
  ignoreIndex?: number;
}

/**
 * Batches epoch after epoch from `start`. Each carries its own position and `next`, the
 * position to store in a checkpoint taken after training on it; resuming from `next` yields
 * exactly the batches an uninterrupted run would have.
 */
export function* iterateBatches(
  rows: readonly Row[],
  opts: IterateBatchesOptions,
): Generator<Batch & { position: DataPosition; next: DataPosition }> {
  const { epoch: e0 = 0, batch: b0 = 0 } = opts.start ?? {};
  checkInt('iterateBatches', 'start.epoch', e0, 0);
  checkInt('iterateBatches', 'start.batch', b0, 0);
  if (rows.length === 0) throw new ValueError('iterateBatches: no rows');
  for (let epoch = e0; opts.epochs === undefined || epoch < opts.epochs; epoch++) {
    const batches = epochBatches(rows, { ...opts, epoch });
    if (epoch === e0 && b0 > batches.length) throw new ValueError(`iterateBatches: start batch ${b0} is past the ${batches.length} batches of an epoch`);
    for (let b = epoch === e0 ? b0 : 0; b < batches.length; b++) {
      const next = b + 1 < batches.length ? { epoch, batch: b + 1 } : { epoch: epoch + 1, batch: 0 };
      yield { ...collate(rows, batches[b]!, opts.ignoreIndex), position: { epoch, batch: b }, next };
    }
  }
}

/**
 * Splits items (samples, or rows) into training and validation sets, the same for the same seed.
 * `size` below 1 is a fraction of the items (at least one item when above 0), otherwise a count.
 * Both sets keep the items' order.
 */
export function splitValidation<T>(items: readonly T[], size: number, seed: number): { train: T[]; validation: T[] } {
  const n = items.length;
  if (!Number.isFinite(size) || size < 0 || (size >= 1 && !Number.isInteger(size)))
    throw new ValueError(`splitValidation: size must be a fraction in [0, 1) or a whole count, got ${size}`);
  checkInt('splitValidation', 'seed', Math.abs(seed), 0);
  const count = size < 1 ? (size > 0 ? Math.max(1, Math.round(n * size)) : 0) : size;
  if (count >= n && count > 0) throw new ValueError(`splitValidation: a validation set of ${count} leaves no training data (${n} items)`);
  const pick = new Uint8Array(n);
  const p = permutation(n, seed, 0x76616c);
  for (let i = 0; i < count; i++) pick[p[i]!] = 1;
  const train: T[] = [];
  const validation: T[] = [];
  items.forEach((x, i) => (pick[i] ? validation : train).push(x));
  return { train, validation };
}
