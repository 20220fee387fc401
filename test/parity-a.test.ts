// Backend parity, part a: creation, copy, random, elementwise, comparison, reduction and matmul
// kernels on every device against cpu (rows: test/helpers/parity-rows-a.ts; harness: parity.ts).
import { ROWS_A } from './helpers/parity-rows-a.js';
import { parityTests } from './helpers/parity.js';

parityTests(ROWS_A);
