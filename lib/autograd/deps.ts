// The few ops the engine itself uses, re-exported here so engine.ts has one import site.
export { add } from '../ops/binary.js';
export { onesLike, zerosOf } from '../ops/creation.js';
export { contiguous } from '../ops/copy.js';
