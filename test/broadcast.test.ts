// Broadcasting and dim merging (csrc/broadcast.h), shared by the CPU and Vulkan backends: the
// rules at C++ level through a small program built here, then ops on views whose dims merge, or
// do not, on every device against a JS reference.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { testDevices } from './helpers/devices.js';

const root = resolve(new URL('..', import.meta.url).pathname);

interface Plan {
  case: string;
  error: string;
  shape: number[];
  strides: number[][];
  contiguous: boolean;
}

function plans(): Map<string, Plan> {
  const dir = mkdtempSync(join(tmpdir(), 'et-broadcast-'));
  try {
    const exe = join(dir, 'broadcast_check');
    execFileSync('g++', ['-std=c++17', '-O1', `-I${join(root, 'csrc')}`, join(root, 'test/cpp/broadcast_check.cpp'), '-o', exe]);
    const lines = execFileSync(exe, { encoding: 'utf8' }).trim().split('\n');
    return new Map(lines.map((l) => JSON.parse(l) as Plan).map((p) => [p.case, p]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('broadcast and merge rules (csrc/broadcast.h)', () => {
  const p = plans();
  const plan = (name: string) => {
    const { shape, strides, error } = p.get(name)!;
    return { shape, strides, error };
  };

  test('operands contiguous together become one dim', () => {
    expect(plan('contiguous')).toEqual({ shape: [24], strides: [[1], [1]], error: '' });
    expect(plan('size-1 dims')).toEqual({ shape: [10], strides: [[1], [1]], error: '' });
  });

  test('broadcast dims read with stride 0 and merge with their neighbours where every operand allows', () => {
    // [2, 3, 4] + [4]: the two leading dims fuse, the bias keeps stride 0 over them
    expect(plan('bias')).toEqual({ shape: [6, 4], strides: [[4, 1], [4, 1], [0, 1]], error: '' });
    // the same broadcast written out as an expanded view merges the same way
    expect(plan('expanded')).toEqual(plan('bias'));
    // [4, 3, 5] + [3, 1]: stride 0 on both sides of the column blocks any merge
    expect(plan('column')).toEqual({ shape: [4, 3, 5], strides: [[15, 5, 1], [15, 5, 1], [0, 1, 0]], error: '' });
  });

  test('views that are not contiguous across a pair of dims keep both', () => {
    expect(plan('transposed')).toEqual({ shape: [3, 2], strides: [[2, 1], [1, 3]], error: '' });
    expect(plan('rows of a wider buffer')).toEqual({ shape: [2, 3], strides: [[3, 1], [5, 1]], error: '' });
    expect(p.get('transposed')!.contiguous).toBe(false);
    expect(p.get('contiguous')!.contiguous).toBe(true);
  });

  test('an empty or all-ones space is one element with stride 0', () => {
    expect(plan('all ones')).toEqual({ shape: [1], strides: [[0], [0]], error: '' });
    expect(plan('scalar')).toEqual(plan('all ones'));
  });

  test('operands that do not broadcast, and outputs written twice, are refused', () => {
    expect(plan('mismatch').error).toBe('input 0 does not broadcast to the output shape');
    expect(plan('more dims than the output').error).toBe('input 0 does not broadcast to the output shape');
    expect(plan('zero output stride').error).toBe('output has a zero stride');
  });
});

describe.each(testDevices)('ops on merging and non-merging views on %s', (device) => {
  const x = et.arange(0, 60).reshape([3, 4, 5]);
  const ref = (f: (i: number, j: number, k: number) => number, s: number[]) =>
    Array.from({ length: s[0]! }, (_, i) => Array.from({ length: s[1]! }, (_, j) => Array.from({ length: s[2]! }, (_, k) => f(i, j, k))));

  test('a permuted view plus a broadcast row', () => {
    const a = x.to(device).permute([0, 2, 1]); // [3, 5, 4], not contiguous in its last two dims
    const b = et.arange(0, 4).to(device); // [4] over the last dim
    expect(et.add(a, b).toArray()).toEqual(ref((i, j, k) => i * 20 + k * 5 + j + k, [3, 5, 4]));
  });

  test('a slice whose rows merge with each other but not with the next block', () => {
    const a = x.to(device).slice(2, 1, 4); // [3, 4, 3] out of rows of 5
    const b = et.ones([3, 1, 1]).to(device);
    expect(et.mul(a, et.add(b, b)).toArray()).toEqual(ref((i, j, k) => 2 * (i * 20 + j * 5 + k + 1), [3, 4, 3]));
  });
});
