// Seeds for the counter-based RNG. Every random op gets a 52-bit key; element i of its output
// depends only on (key, i) (the Philox stream is specified in csrc/cpu/philox.h), so results
// are the same on every device and thread count.
let globalSeed = 0x5eed;
let counter = 0;

/** Sets the seed of the global stream that random ops without an explicit seed draw from. */
export function manualSeed(seed: number): void {
  globalSeed = Math.floor(seed) >>> 0;
  counter = 0;
}

function mix(a: number, b: number): number {
  // splitmix-style hash of two 32-bit values into 52 bits (exact in a double)
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2f);
  h ^= h >>> 15;
  let l = Math.imul(b ^ 0x165667b1, 0x9e3779b1) ^ Math.imul(a + 0x61c88647, 0x85ebca77);
  l ^= l >>> 13;
  l = Math.imul(l, 0xc2b2ae3d);
  l ^= l >>> 16;
  return (h >>> 0) * 0x100000 + ((l >>> 0) & 0xfffff);
}

/** A fresh key from the global stream. */
export function nextSeed(): number {
  return mix(globalSeed, counter++);
}

/** Key for an explicit user seed (any integer). */
export function seedKey(seed: number): number {
  return mix(Math.floor(seed) >>> 0, 0xffffffff);
}

/** Position of the global stream, saved and restored by checkpoint() so recomputation repeats it. */
export function getRngState(): { seed: number; counter: number } {
  return { seed: globalSeed, counter };
}
export function setRngState(s: { seed: number; counter: number }): void {
  globalSeed = s.seed;
  counter = s.counter;
}

/** Host-side PRNG for sampling and data order: a deterministic uniform [0, 1) stream (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
