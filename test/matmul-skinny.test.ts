// Matmuls with one dimension of at most 16 (csrc/cpu/gemm_skinny.cpp: the LoRA adapter's shapes)
// against float64 sums, for each path (N small, M small, K small), every operand layout
// (row-major or transposed a and b), accumulation into y (beta 1), odd sizes around the
// register blocks, and one and two threads.
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { runKernel } from '../lib/native/run.js';
import { randData } from './helpers/data.js';

const shapes: [number, number, number][] = [
  [256, 512, 8], [37, 100, 16], [33, 64, 1], [45, 77, 9], // N small
  [8, 256, 512], [16, 40, 33], [3, 129, 70], // M small
  [256, 8, 512], [40, 16, 33], [70, 1, 45], [33, 5, 300], // K small
];
const threads0 = et.getThreads();
afterAll(() => et.setThreads(threads0));

describe.each([1, 2])('skinny matmul on %d thread(s)', (threads) => {
  test.each(shapes)('[%d, %d] @ [%d, ...] in every layout, beta 0 and 1', (M, K, N) => {
    et.setThreads(threads);
    const av = randData([M, K], M + K);
    const bv = randData([K, N], K + N + 1);
    const yv = randData([M, N], 7);
    const ref = new Float64Array(M * N);
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += av[i * K + k]! * bv[k * N + j]!;
        ref[i * N + j] = s;
      }
    et.tidy(() => {
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          // the same values, stored transposed when ta / tb, viewed back as [M, K] / [K, N]
          const tr = (v: Float32Array, r: number, c: number) => Float32Array.from({ length: r * c }, (_, i) => v[(i % r) * c + Math.floor(i / r)]!);
          const a = ta ? et.transpose(et.tensor(tr(av, M, K), [K, M]), 0, 1) : et.tensor(av, [M, K]);
          const b = tb ? et.transpose(et.tensor(tr(bv, K, N), [N, K]), 0, 1) : et.tensor(bv, [K, N]);
          const y = et.matmul(a, b).dataSync();
          const acc = et.tensor(yv, [M, N]);
          runKernel('matmul', [a, b], [], [1], [acc]);
          const yacc = acc.dataSync();
          let err = 0;
          let errAcc = 0;
          for (let i = 0; i < M * N; i++) {
            err = Math.max(err, Math.abs(y[i]! - ref[i]!));
            errAcc = Math.max(errAcc, Math.abs(yacc[i]! - ref[i]! - yv[i]!));
          }
          const tol = 1e-5 * Math.sqrt(K) * 4;
          expect(err, `ta ${ta} tb ${tb}`).toBeLessThan(tol);
          expect(errAcc, `ta ${ta} tb ${tb}, beta 1`).toBeLessThan(tol + 1e-6);
        }
    });
  });
});
