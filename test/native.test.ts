// The addon and the TypeScript mirror of the op table agree, and the addon reports itself.
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { native } from '../lib/native/addon.js';
import { OP } from '../lib/native/ops.js';
import { meta } from '../lib/native/run.js';

describe('native addon', () => {
  test('lib/native/ops.ts lists the ops of csrc/ops.h in the same order', () => {
    expect(Object.keys(OP)).toEqual(native.opNames());
    expect(Object.values(OP)).toEqual(native.opNames().map((_, i) => i));
  });

  test('the CPU backend picked a kernel table for this CPU', () => {
    expect(['avx2', 'generic', 'neon']).toContain(native.cpuIsa());
    expect(native.devices()[0]).toMatchObject({ name: 'cpu', available: true });
  });

  test('every op has a CPU kernel', () => {
    const missing = native.opNames().filter((_, i) => !native.supportsOp('cpu', i));
    expect(missing).toEqual([]);
  });

  test('a malformed call is refused, not run', () => {
    const h = native.alloc('cpu', 16);
    meta[0] = OP.add;
    meta[1] = 2;
    meta[2] = 1;
    // three handles described, but the view of argument 0 runs past its 16-byte buffer
    for (let i = 0; i < 3; i++) {
      const b = 4 + 20 * i;
      meta[b] = 0;
      meta[b + 1] = 1;
      meta[b + 2] = 0;
      meta[b + 3] = i === 0 ? 100 : 4;
      meta[b + 11] = 1;
    }
    expect(() => native.exec(h, h, h)).toThrow(/view reaches element 99 of a buffer holding 4/);
    native.free(h);
    expect(() => native.exec(h, h, h)).toThrow(/disposed/);
  });
});

describe('kernel profile', () => {
  test('startProfile/stopProfile count calls and time per op and input shapes', () => {
    et.tidy(() => {
      const a = et.ones([3, 4]);
      const b = et.ones([4, 5]);
      et.startProfile();
      et.matmul(a, b);
      et.matmul(a, b);
      et.add(a, a);
      const rows = et.stopProfile();
      const mm = rows.find((r) => r.op === 'matmul');
      expect(mm).toMatchObject({ op: 'matmul', shapes: '[3,4] [4,5]', calls: 2 });
      expect(mm!.totalMs).toBeGreaterThan(0);
      expect(rows.find((r) => r.op === 'add')?.calls).toBe(1);
      expect(et.formatProfile(rows)).toMatch(/matmul +\[3,4\] \[4,5\]/);
      et.matmul(a, b);
      expect(et.stopProfile()).toEqual([]); // nothing is collected once stopped
    });
  });
});
