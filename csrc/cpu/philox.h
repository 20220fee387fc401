// The counter-based Philox stream that random.cpp (randUniform, randNormal) and dropout.cpp
// draw from. Every backend must reproduce it bit for bit up to its float math:
//   key      p0 is an integer key < 2^53 held in a double; k0 = key mod 2^32, k1 = floor(key / 2^32).
//   block    element i (the row-major linear index in the output's, or dropout's x's, logical
//            shape) belongs to block g = floor(i / 4) and takes word w = i mod 4 of
//            Philox4x32-10(counter = (g mod 2^32, floor(g / 2^32), 0, 0), key = (k0, k1)).
//            So a value depends only on (key, i): not on thread count, chunking or device.
//   Philox   Random123's philox4x32 with 10 rounds: per round, with M0 = 0xD2511F53,
//            M1 = 0xCD9E8D57, (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2 (32x32 -> 64 bit),
//            c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0); then k0 += 0x9E3779B9, k1 += 0xBB67AE85.
//            (Known answer: counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8.)
//   uniform  u(w) = float(w >> 8) * 2^-24, in [0, 1) with 24 bits (exact in float).
// Internal linkage (an unnamed namespace) so that each kernel file compiles its own copy under
// its own ISA flags, as when these lived in random.cpp.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels.h"

namespace et {
namespace ET_ISA {
namespace {

constexpr int kBatch = 64;  // blocks generated per inner batch (256 values): SoA, vectorises

struct Key {
  uint32_t k0, k1;
};

inline Key key_of(double p) {
  const uint64_t k = p > 0 ? uint64_t(p) : 0;
  return {uint32_t(k), uint32_t(k >> 32)};
}

// Philox4x32-10 on kBatch consecutive blocks starting at g0; out[4*b + w] = word w of block g0 + b.
inline void philox_blocks(Key key, uint64_t g0, uint32_t* out) {
  uint32_t c0[kBatch], c1[kBatch], c2[kBatch], c3[kBatch];
  for (int b = 0; b < kBatch; ++b) {  // full batch: fixed trip counts vectorise; extras unused
    const uint64_t g = g0 + uint64_t(b);
    c0[b] = uint32_t(g);
    c1[b] = uint32_t(g >> 32);
    c2[b] = 0;
    c3[b] = 0;
  }
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int r = 0; r < 10; ++r) {
    for (int b = 0; b < kBatch; ++b) {
      const uint64_t p0 = uint64_t(0xD2511F53u) * c0[b];
      const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2[b];
      const uint32_t n0 = uint32_t(p1 >> 32) ^ c1[b] ^ k0;
      const uint32_t n2 = uint32_t(p0 >> 32) ^ c3[b] ^ k1;
      c1[b] = uint32_t(p1);
      c3[b] = uint32_t(p0);
      c0[b] = n0;
      c2[b] = n2;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int b = 0; b < kBatch; ++b) {
    out[4 * b] = c0[b];
    out[4 * b + 1] = c1[b];
    out[4 * b + 2] = c2[b];
    out[4 * b + 3] = c3[b];
  }
}

inline float u01(uint32_t w) { return float(w >> 8) * (1.f / 16777216.f); }

// Elements [0, numel) in batches of kBatch blocks: gen(first_block, nblocks, vals[4 * kBatch])
// produces the values, put(i0, n, vals) consumes elements [i0, i0 + n). Parallel over blocks.
template <class Gen, class Put>
void run_blocks(int64_t numel, Gen gen, Put put) {
  const int64_t nblocks = (numel + 3) / 4;
  parallel_for(nblocks, 4096, [&](int64_t b0, int64_t b1) {
    float vals[4 * kBatch];
    for (int64_t b = b0; b < b1; b += kBatch) {
      const int nb = int(std::min<int64_t>(kBatch, b1 - b));
      gen(uint64_t(b), nb, vals);
      const int64_t i0 = 4 * b;
      const int64_t n = std::min<int64_t>(4 * int64_t(nb), numel - i0);
      put(i0, n, vals);
    }
  });
}

}  // namespace
}  // namespace ET_ISA
}  // namespace et
