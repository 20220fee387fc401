// Rows of exactly seqLen + 1 tokens made from samples, and their inputs and shifted labels.
import { ValueError } from '../errors.js';
import type { Sample } from './sample.js';

/** The label of positions that are not trained on; crossEntropy's default ignoreIndex (as PyTorch's). */
export const IGNORE_INDEX = -100;

/**
 * seqLen + 1 tokens: inputs are ids[0..seqLen-1], labels ids[1..seqLen] where mask is 1.
 *
 * Packed samples share a row without an attention mask between them (as Hugging Face's default
 * packing): a token attends to the samples before it in the row. Their targets never cross a
 * boundary (a sample's first token is never a target). `segments` says which sample each
 * position holds (1, 2, ... in the row; 0 for padding), for a block-diagonal mask or position
 * ids that restart per sample.
 */
export interface Row {
  ids: Int32Array;
  mask: Uint8Array;
  segments: Int32Array;
  /** Indices (into the samples given to packSamples) of the samples in this row, in order. */
  samples: number[];
}

export interface PackOptions {
  /** Inputs per row; rows hold seqLen + 1 tokens. */
  seqLen: number;
  /** Concatenate samples into shared rows (default true), else one sample per row. */
  pack?: boolean;
  /** Token in the padding at a row's end (default 0); never a target and, causally, never attended to by real tokens. */
  padId?: number;
  /** Rows still open for more samples while packing (default 64): more fills rows better, costs samples x openRows. */
  openRows?: number;
}

interface Open {
  row: Row;
  used: number;
}

/**
 * Rows from samples. Packing places each sample whole in the first open row with room for it
 * (first fit, in sample order), so no sample is split across rows; a sample longer than
 * seqLen + 1 is an error (chunkSample splits text documents beforehand). Every row's unused end
 * is padding with mask 0.
 */
export function packSamples(samples: readonly Sample[], opts: PackOptions): Row[] {
  const { seqLen, pack = true, padId = 0, openRows = 64 } = opts;
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new ValueError(`packSamples: seqLen must be a positive integer, got ${seqLen}`);
  if (!Number.isInteger(openRows) || openRows < 1) throw new ValueError(`packSamples: openRows must be a positive integer, got ${openRows}`);
  const L = seqLen + 1;
  const rows: Row[] = [];
  const open: Open[] = [];
  const newRow = (): Open => {
    const row: Row = { ids: new Int32Array(L).fill(padId), mask: new Uint8Array(L), segments: new Int32Array(L), samples: [] };
    rows.push(row);
    return { row, used: 0 };
  };
  samples.forEach((s, i) => {
    const n = s.ids.length;
    if (s.mask.length !== n) throw new ValueError(`packSamples: sample ${i} has ${n} ids but a mask of ${s.mask.length}`);
    if (n > L) throw new ValueError(`packSamples: sample ${i}${s.line > 0 ? ` (line ${s.line})` : ''} is ${n} tokens, longer than seqLen + 1 = ${L}`);
    if (n === 0) return;
    let slot: Open | undefined;
    if (pack) {
      slot = open.find((o) => L - o.used >= n);
      if (!slot) {
        slot = newRow();
        if (open.length === openRows) open.shift();
        open.push(slot);
      }
    } else {
      slot = newRow();
    }
    const { row, used } = slot;
    row.ids.set(s.ids, used);
    row.mask.set(s.mask, used);
    row.mask[used] = 0;
    row.samples.push(i);
    row.segments.fill(row.samples.length, used, used + n);
    slot.used += n;
    if (pack && slot.used === L) open.splice(open.indexOf(slot), 1);
  });
  return rows;
}

/**
 * A sequence of n tokens (a Row or a Sample) as n - 1 model inputs and labels:
 * labels[t] = ids[t + 1] where mask[t + 1] is 1, else ignoreIndex.
 */
export function toInputsLabels(seq: { ids: Int32Array; mask: Uint8Array }, ignoreIndex = IGNORE_INDEX): { inputs: Int32Array; labels: Int32Array } {
  const n = seq.ids.length - 1;
  if (n < 1) throw new ValueError(`toInputsLabels: a sequence needs at least 2 tokens, got ${seq.ids.length}`);
  const inputs = seq.ids.slice(0, n);
  const labels = new Int32Array(n);
  for (let t = 0; t < n; t++) labels[t] = seq.mask[t + 1] ? seq.ids[t + 1]! : ignoreIndex;
  return { inputs, labels };
}
