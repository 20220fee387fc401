// Counter-based random numbers: randUniform, randNormal, dropout.
//
// The stream (every backend must reproduce it bit for bit up to its float math):
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
//            randUniform: low + (high - low) * u, with low and (high - low) rounded to float.
//   normal   Box-Muller on the pairs of words (0, 1) and (2, 3) of a block: for a pair (a, b),
//            u1 = 1 - u(a) in (0, 1], u2 = u(b); r = sqrt(-2 ln u1), th = 2 pi u2 (float);
//            the pair's first element is r cos(th), its second r sin(th). Element i is
//            mean + std * z (mean, std rounded to float).
//   dropout  keep element i iff u(word i) >= float(p); out = x * (keep ? s : 0) with
//            s = float(1 / (1 - p)) (computed in double); p == 1 gives x * 0 (NaN stays NaN, as
//            in PyTorch). The same key gives the same mask, so backward reruns this on dy.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels.h"

namespace et {
namespace ET_ISA {
namespace {

constexpr int kBatch = 64;  // blocks generated per inner batch (256 values): SoA, vectorises

struct Key {
  uint32_t k0, k1;
};

Key key_of(double p) {
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

// Writes generated floats into y (any strides) at linear indices [i0, i0 + n).
struct StoreTo {
  const View& y;
  float* p;
  bool contig;
  explicit StoreTo(const View& v) : y(v), p(v.data<float>()), contig(v.contiguous()) {}
  void operator()(int64_t i0, int64_t n, const float* vals) const {
    if (contig) {
      std::memcpy(p + i0, vals, size_t(n) * sizeof(float));
      return;
    }
    for_each_strided(y.ndim, y.shape, y.strides, i0, i0 + n, [&](int64_t i, int64_t off) { p[off] = vals[i - i0]; });
  }
};

std::string check_out(const char* op, const View& y) {
  if (y.dtype != ET_F32) return std::string("DTypeError: ") + op + ": output must be float32, got " + dtype_name(y.dtype);
  return "";
}

std::string k_rand_uniform(const Call& c) {
  const View& y = c.out(0);
  std::string e = check_out("randUniform", y);
  if (!e.empty()) return e;
  const Key key = key_of(c.p[0]);
  const float lo = float(c.p[1]), span = float(c.p[2] - c.p[1]);
  run_blocks(
      y.numel(),
      [&](uint64_t g, int, float* vals) {
        uint32_t w[4 * kBatch];
        philox_blocks(key, g, w);
        for (int j = 0; j < 4 * kBatch; ++j) vals[j] = lo + span * u01(w[j]);
      },
      StoreTo(y));
  return "";
}

std::string k_rand_normal(const Call& c) {
  const View& y = c.out(0);
  std::string e = check_out("randNormal", y);
  if (!e.empty()) return e;
  const Key key = key_of(c.p[0]);
  const float mean = float(c.p[1]), sd = float(c.p[2]);
  run_blocks(
      y.numel(),
      [&](uint64_t g, int nb, float* vals) {
        uint32_t w[4 * kBatch];
        philox_blocks(key, g, w);
        for (int j = 0; j < 4 * nb; j += 2) {
          const float u1 = 1.f - u01(w[j]);
          const float th = 6.2831853071795865f * u01(w[j + 1]);
          const float r = std::sqrt(-2.f * std::log(u1));
          vals[j] = mean + sd * (r * std::cos(th));
          vals[j + 1] = mean + sd * (r * std::sin(th));
        }
      },
      StoreTo(y));
  return "";
}

// x (any strides) -> out contiguous of x's shape; p0 key, p1 p.
std::string k_dropout(const Call& c) {
  const View& x = c.in(0);
  const View& y = c.out(0);
  if (x.dtype != ET_F32 || y.dtype != ET_F32)
    return std::string("DTypeError: dropout: expected float32, got ") + dtype_name(x.dtype);
  if (x.numel() != y.numel() || !y.contiguous()) return "ShapeError: dropout: output must be contiguous with x's shape";
  const double p = c.p[1];
  if (!(p >= 0 && p <= 1)) return "ValueError: dropout: p must be in [0, 1], got " + std::to_string(p);
  const Key key = key_of(c.p[0]);
  const float pf = float(p);
  const float scale = p < 1 ? float(1.0 / (1.0 - p)) : 0.f;
  const uint32_t th = uint32_t(std::ceil(double(pf) * 16777216.0));  // keep iff (w >> 8) >= th
  int32_t scale_bits;
  std::memcpy(&scale_bits, &scale, 4);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool xc = x.contiguous();
  run_blocks(
      x.numel(),
      [=](uint64_t g, int, float* vals) {  // vals = each element's multiplier
        uint32_t w[4 * kBatch];
        philox_blocks(key, g, w);
        // u >= float(p) as an integer compare (both sides scaled by 2^24, exactly), blended
        // bitwise: a float compare here would stay a scalar branch under -ftrapping-math
        for (int j = 0; j < 4 * kBatch; ++j) {
          const int32_t b = scale_bits & -int32_t((w[j] >> 8) >= th);
          std::memcpy(vals + j, &b, 4);
        }
      },
      [&](int64_t i0, int64_t n, const float* m) {
        if (xc) {
          const float* xi = xp + i0;
          float* yi = yp + i0;
          for (int64_t j = 0; j < n; ++j) yi[j] = xi[j] * m[j];
        } else {
          for_each_strided(x.ndim, x.shape, x.strides, i0, i0 + n,
                           [&](int64_t i, int64_t off) { yp[i] = xp[off] * m[i - i0]; });
        }
      });
  return "";
}

}  // namespace

void register_random(KernelFn* t) {
  t[OP_RAND_UNIFORM] = k_rand_uniform;
  t[OP_RAND_NORMAL] = k_rand_normal;
  t[OP_DROPOUT] = k_dropout;
}

}  // namespace ET_ISA
}  // namespace et
