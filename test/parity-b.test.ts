// Backend parity, part b: softmax family, cross-entropy, embedding, norms, rope, swiglu,
// attention, optimizer and block-quantized kernels on every device against cpu (rows:
// test/helpers/parity-rows-b.ts; harness: test/helpers/parity.ts).
import { ROWS_B } from './helpers/parity-rows-b.js';
import { parityTests } from './helpers/parity.js';

parityTests(ROWS_B);
