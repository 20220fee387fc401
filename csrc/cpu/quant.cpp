// Block-quantized weights: dequantization (bit-exact with llama.cpp, so no fused multiply-add:
// every product is rounded before the add, as the reference C code does) and the matmuls of a
// frozen quantized weight, which dequantize a chunk of rows at a time into a float scratch and
// run the float GEMM on it, so no float copy of the whole weight is ever made. Where AMX-BF16 is
// usable, training-size products instead dequantize blocks straight into AMX tile panels as bf16
// parts (amx_wrows below, gemm_amx_wrows.h).
#include "fp_exact.h"  // first: no contraction in this file

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // vector values passed between inline helpers of one ISA build
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "../dtype.h"
#include "gemm.h"
#include "kernels.h"
#include "quant_blocks.h"
#include "quant_dot.h"
#include "quant_gemm.h"

namespace et {
namespace ET_ISA {

namespace {

// Eight lanes at a time with the compiler's vector extensions (GCC and clang): AVX2 registers in
// the avx2 build, SSE2 or NEON pairs otherwise. Each lane does what the scalar reference does
// (integer to float, then one rounded multiply, then one rounded add), so the values are the same.
typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef uint32_t u32x8 __attribute__((vector_size(32)));

// Eight bytes widened to eight int32 lanes (a byte vector's generic conversion is scalarised by
// GCC, so each ISA gets its widening instruction).
inline i8 widen(const uint8_t* p) {
#if defined(__AVX2__)
  return (i8)_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
#elif defined(__ARM_NEON)
  const uint16x8_t w = vmovl_u8(vld1_u8(p));
  const uint32x4_t lo = vmovl_u16(vget_low_u16(w)), hi = vmovl_u16(vget_high_u16(w));
  i8 r;
  std::memcpy(&r, &lo, 16);
  std::memcpy(reinterpret_cast<char*>(&r) + 16, &hi, 16);
  return r;
#else
  return i8{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]};
#endif
}
inline i8 widen_signed(const uint8_t* p) {
#if defined(__AVX2__)
  return (i8)_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
#elif defined(__ARM_NEON)
  const int16x8_t w = vmovl_s8(vld1_s8(reinterpret_cast<const int8_t*>(p)));
  const int32x4_t lo = vmovl_s16(vget_low_s16(w)), hi = vmovl_s16(vget_high_s16(w));
  i8 r;
  std::memcpy(&r, &lo, 16);
  std::memcpy(reinterpret_cast<char*>(&r) + 16, &hi, 16);
  return r;
#else
  const int8_t* q = reinterpret_cast<const int8_t*>(p);
  return i8{q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]};
#endif
}
inline f8 tof(i8 v) { return __builtin_convertvector(v, f8); }
inline void st(float* y, f8 v) { std::memcpy(y, &v, 32); }
inline f8 splat(float x) { return f8{x, x, x, x, x, x, x, x}; }
const i8 kLane = {0, 1, 2, 3, 4, 5, 6, 7};

void block_q8_0(const uint8_t* b, float* y) {
  const f8 d = splat(load_f16(b));
  for (int j = 0; j < 32; j += 8) st(y + j, tof(widen_signed(b + 2 + j)) * d);
}

void block_q4_0(const uint8_t* b, float* y) {
  const f8 d = splat(load_f16(b));
  for (int j = 0; j < 16; j += 8) {
    const i8 q = widen(b + 2 + j);
    st(y + j, tof((q & 0xF) - 8) * d);
    st(y + j + 16, tof((q >> 4) - 8) * d);
  }
}

void block_q4_1(const uint8_t* b, float* y) {
  const f8 d = splat(load_f16(b)), m = splat(load_f16(b + 2));
  for (int j = 0; j < 16; j += 8) {
    const i8 q = widen(b + 4 + j);
    const f8 p0 = tof(q & 0xF) * d;
    const f8 p1 = tof(q >> 4) * d;
    st(y + j, p0 + m);
    st(y + j + 16, p1 + m);
  }
}

void block_q5(const uint8_t* b, float* y, bool one) {
  const f8 d = splat(load_f16(b)), m = splat(one ? load_f16(b + 2) : 0.0f);
  const uint8_t* hp = b + (one ? 4 : 2);
  uint32_t qh;
  std::memcpy(&qh, hp, 4);
  const u32x8 vh = u32x8{} + qh;
  const uint8_t* qs = hp + 4;
  for (int j = 0; j < 16; j += 8) {
    const i8 q = widen(qs + j);
    const u32x8 idx = (u32x8)kLane + uint32_t(j);
    // bit j of qh is the 5th bit of element j, bit j + 16 that of element j + 16
    const i8 x0 = (q & 0xF) | (i8)(((vh >> idx) & 1) << 4);
    const i8 x1 = (q >> 4) | (i8)(((vh >> (idx + 16)) & 1) << 4);
    if (one) {
      const f8 p0 = tof(x0) * d;
      const f8 p1 = tof(x1) * d;
      st(y + j, p0 + m);
      st(y + j + 16, p1 + m);
    } else {
      st(y + j, tof(x0 - 16) * d);
      st(y + j + 16, tof(x1 - 16) * d);
    }
  }
}

void block_qk45(const uint8_t* b, float* y, bool five) {
  const float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* sc = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 16 + (five ? 32 : 0);
  int u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
    int s, mi;
    k_scale_min(sc, is, &s, &mi);
    const f8 d1 = splat(d * float(s)), m1 = splat(dmin * float(mi));
    k_scale_min(sc, is + 1, &s, &mi);
    const f8 d2 = splat(d * float(s)), m2 = splat(dmin * float(mi));
    for (int l = 0; l < 32; l += 8) {
      const i8 q = widen(ql + l);
      i8 lo = q & 0xF, hi = q >> 4;
      if (five) {
        const i8 h = widen(qh + l);
        lo += ((h & u1) != 0) & 16;
        hi += ((h & u2) != 0) & 16;
      }
      const f8 p0 = d1 * tof(lo);
      const f8 p1 = d2 * tof(hi);
      st(y + l, p0 - m1);
      st(y + 32 + l, p1 - m2);
    }
    y += 64;
    ql += 32;
    u1 <<= 2;
    u2 <<= 2;
  }
}

void block_q6_k(const uint8_t* b, float* y) {
  const float d = load_f16(b + 208);
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; l += 8) {
      const int is = l / 16;
      const i8 a = widen(ql + l), c = widen(ql + l + 32), h = widen(qh + l);
      const i8 q1 = ((a & 0xF) | ((h & 3) << 4)) - 32;
      const i8 q2 = ((c & 0xF) | (((h >> 2) & 3) << 4)) - 32;
      const i8 q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const i8 q4 = ((c >> 4) | (((h >> 6) & 3) << 4)) - 32;
      st(y + l, splat(d * float(sc[is + 0])) * tof(q1));
      st(y + l + 32, splat(d * float(sc[is + 2])) * tof(q2));
      st(y + l + 64, splat(d * float(sc[is + 4])) * tof(q3));
      st(y + l + 96, splat(d * float(sc[is + 6])) * tof(q4));
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

void block_nf4(const float s, const uint8_t* qs, float* y) {
  const f8 vs = splat(s);
#if defined(__GNUC__) && !defined(__clang__)
  // the 16 levels as two vectors: a two-source shuffle by the 4-bit code is the lookup
  f8 lo, hi;
  std::memcpy(&lo, kNF4, 32);
  std::memcpy(&hi, kNF4 + 8, 32);
  for (int j = 0; j < 32; j += 8) {
    const i8 q = widen(qs + j);
    st(y + j, __builtin_shuffle(lo, hi, q & 0xF) * vs);
    st(y + j + 32, __builtin_shuffle(lo, hi, q >> 4) * vs);
  }
#else
  for (int j = 0; j < 32; ++j) {
    y[j] = kNF4[qs[j] & 0xF] * s;
    y[j + 32] = kNF4[qs[j] >> 4] * s;
  }
  (void)vs;
#endif
}

void block_nf4_dq(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int s = 0; s < 4; ++s) block_nf4(d * float(b[2 + s]), b + 6 + 32 * s, y + 64 * s);
}

}  // namespace

void dequant_blocks(int type, const uint8_t* src, int64_t nblocks, float* dst) {
  const QInfo q = qinfo(type);
  for (int64_t i = 0; i < nblocks; ++i) {
    const uint8_t* b = src + i * q.bytes;
    float* y = dst + i * q.block;
    switch (type) {
      case Q8_0: block_q8_0(b, y); break;
      case Q4_0: block_q4_0(b, y); break;
      case Q4_1: block_q4_1(b, y); break;
      case Q5_0: block_q5(b, y, false); break;
      case Q5_1: block_q5(b, y, true); break;
      case Q4_K: block_qk45(b, y, false); break;
      case Q5_K: block_qk45(b, y, true); break;
      case Q6_K: block_q6_k(b, y); break;
      case NF4: {
        float s;
        std::memcpy(&s, b, 4);
        block_nf4(s, b + 4, y);
        break;
      }
      case NF4_DQ: block_nf4_dq(b, y); break;
      default: break;
    }
  }
}

namespace {

// Checks a weight view: uint8 [N, rowBytes] contiguous, rowBytes = K / block * bytes.
std::string check_weight(const char* op, const View& w, int type, int64_t K, int64_t N) {
  const QInfo q = qinfo(type);
  if (q.block == 0) return std::string("DTypeError: ") + op + ": ggml type " + std::to_string(type) + " is not a supported block format";
  if (w.dtype != ET_U8 || w.ndim != 2) return std::string("DTypeError: ") + op + ": the weight must be uint8 [rows, bytes per row]";
  if (K % q.block != 0) return std::string("ShapeError: ") + op + ": K " + std::to_string(K) + " is not a multiple of the block size " + std::to_string(q.block);
  const int64_t rowBytes = K / q.block * q.bytes;
  if (w.shape[0] != N || w.shape[1] != rowBytes || w.strides[1] != 1 || w.strides[0] != rowBytes)
    return std::string("ShapeError: ") + op + ": weight is [" + std::to_string(w.shape[0]) + ", " + std::to_string(w.shape[1]) + "], expected contiguous [" +
           std::to_string(N) + ", " + std::to_string(rowBytes) + "]";
  return "";
}

// (w uint8 [N, rowBytes]) -> out f32 [N, K]; p0 type, p1 K.
std::string k_dequantize(const Call& c) {
  const View& w = c.in(0);
  const View& y = c.out(0);
  const int type = int(c.p[0]);
  const int64_t K = int64_t(c.p[1]);
  const int64_t N = w.ndim == 2 ? w.shape[0] : -1;
  std::string err = check_weight("dequantize", w, type, K, N);
  if (!err.empty()) return err;
  if (y.dtype != ET_F32 || y.ndim != 2 || y.shape[0] != N || y.shape[1] != K) return "ShapeError: dequantize: output must be f32 [N, K]";
  const QInfo q = qinfo(type);
  const uint8_t* src = w.data<const uint8_t>();
  float* dst = y.data<float>();
  const int64_t per = K / q.block;
  parallel_for(N, 16, [&](int64_t r0, int64_t r1) { dequant_blocks(type, src + r0 * per * q.bytes, (r1 - r0) * per, dst + r0 * K); });
  return "";
}

thread_local std::vector<float> tl_chunk;
thread_local std::vector<float> tl_row;

// Dot product of n floats (n a multiple of 8), eight lanes with four accumulators: not rows.h's
// dot (a different summation order, which matmulQ's decode results are made of).
float dot_4x8(const float* a, const float* b, int64_t n) {
  f8 s0 = splat(0.f), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  auto ld = [](const float* p) {
    f8 v;
    std::memcpy(&v, p, 32);
    return v;
  };
  for (; i + 32 <= n; i += 32) {
    s0 += ld(a + i) * ld(b + i);
    s1 += ld(a + i + 8) * ld(b + i + 8);
    s2 += ld(a + i + 16) * ld(b + i + 16);
    s3 += ld(a + i + 24) * ld(b + i + 24);
  }
  for (; i < n; i += 8) s0 += ld(a + i) * ld(b + i);
  const f8 t = (s0 + s1) + (s2 + s3);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

// Few rows of x (decode, M <= 4): each thread dequantizes one weight row at a time into a buffer
// that stays in L1/L2 and takes its dot products with the rows of x; the rows are split between
// threads, so the weight is read once and no chunk of it is written out.
void gemv_q(int type, const uint8_t* src, int64_t rowBytes, int64_t N, int64_t K, const float* x, int64_t lda, int64_t M, float* y, int64_t ldy) {
  const QInfo q = qinfo(type);
  parallel_for(N, 8, [&](int64_t n0, int64_t n1) {
    std::vector<float>& row = tl_row;
    if (row.size() < size_t(K)) row.resize(size_t(K));
    for (int64_t n = n0; n < n1; ++n) {
      dequant_blocks(type, src + n * rowBytes, K / q.block, row.data());
      for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = dot_4x8(x + m * lda, row.data(), K);
    }
  });
}

// The weight's rows for gemm.h's WeightRows: whole blocks dequantized in place into dst.
struct QRows {
  int type;
  const uint8_t* src;
  int64_t rowBytes, block, bytes;
};
void fill_qrows(const void* ctx, int64_t row, int64_t c0, int64_t len, float* dst) {
  const QRows& r = *static_cast<const QRows*>(ctx);
  dequant_blocks(r.type, r.src + row * r.rowBytes + c0 / r.block * r.bytes, len / r.block, dst);
}

// Training-size products (M > 4, both modes) on AMX tiles where the tier and CPU allow it
// (gemm_amx_wrows.h): the weight's blocks dequantized straight into the tile layout, each value
// split into bf16 parts. Q4_0 and Q5_0 values (a 4- or 5-bit integer times an f16 scale, at most
// 15 significant bits) are exact in two parts, the others (a rounded f32 product or sum) in three.
// False when not taken (no AMX, small shapes, Inf / NaN): the f32 path below then runs.
// EDGETRAIN_QUANT_AMX=0 turns it off, =all multiplies every part pair (A/B measurements).
bool amx_wrows(int type, const uint8_t* src, int64_t rowBytes, int64_t N, int64_t K, int mode, const float* x, int64_t lda, int64_t M, float* y,
               int64_t ldy) {
  static const int env = [] {
    const char* e = std::getenv("EDGETRAIN_QUANT_AMX");
    if (!e) return 1;
    if (std::strcmp(e, "0") == 0) return 0;
    return std::strcmp(e, "all") == 0 ? 2 : 1;
  }();
  if (env == 0) return false;
  const QInfo q = qinfo(type);
  const QRows ctx{type, src, rowBytes, q.block, q.bytes};
  const WeightRows w{fill_qrows, &ctx, N, K, q.block, type == Q4_0 || type == Q5_0 ? 2 : 3};
  return gemm_f32_amx_wrows(mode, M, x, lda, w, y, ldy, threadpool_size(), env == 2);
}

// (x f32 [M, Kin] contiguous rows, w uint8 [N, rowBytes]) -> out f32.
// p0 type, p1 K (the weight's row length), p2 mode: 0 out [M, N] = x . W^T (Kin = K);
// 1 out [M, K] = x . W (Kin = N; the input gradient of mode 0); p3 1: mode 0 may round x to 8
// bits for integer products (quant_dot.h for M <= 4, quant_gemm.h above).
std::string k_matmul_q(const Call& c) {
  const View& x = c.in(0);
  const View& w = c.in(1);
  const View& y = c.out(0);
  const int type = int(c.p[0]);
  const int64_t K = int64_t(c.p[1]);
  const int mode = int(c.p[2]);
  const int64_t N = w.ndim == 2 ? w.shape[0] : -1;
  std::string err = check_weight("matmulQ", w, type, K, N);
  if (!err.empty()) return err;
  if (x.dtype != ET_F32 || x.ndim != 2 || x.strides[1] != 1) return "DTypeError: matmulQ: x must be f32 [M, K] with unit last stride";
  const int64_t M = x.shape[0];
  const int64_t Kin = mode == 0 ? K : N;
  const int64_t Kout = mode == 0 ? N : K;
  if (x.shape[1] != Kin)
    return "ShapeError: matmulQ: x is [" + std::to_string(M) + ", " + std::to_string(x.shape[1]) + "] but the weight needs " + std::to_string(Kin) + " columns";
  if (y.dtype != ET_F32 || y.ndim != 2 || y.shape[0] != M || y.shape[1] != Kout) return "ShapeError: matmulQ: output shape";
  const QInfo q = qinfo(type);
  const int64_t per = K / q.block;
  const uint8_t* src = w.data<const uint8_t>();
  const float* xp = x.data<const float>();
  float* yp = y.data<float>();
  const int64_t lda = x.strides[0];
  const bool decode8 = mode == 0 && M <= 4 && int(c.p[3]) == 1 && has_dot_q8(type);
  const bool prompt8 = mode == 0 && M > 4 && int(c.p[3]) == 1 && has_gemm_q8(type);
  if (decode8 || prompt8) {
    // activations rounded to 8 bits, integer products (quant_dot.h, quant_gemm.h). The buffers
    // are the calling thread's, kept between calls (a decode step makes ~7 calls a layer); the
    // workers see them through plain pointers, not by the thread_local names.
    static thread_local std::vector<int8_t> tl_qx;
    static thread_local std::vector<float> tl_dx;
    static thread_local std::vector<int32_t> tl_sx;
    tl_qx.resize(size_t(M * K));
    tl_dx.resize(size_t(M * K / 32));
    tl_sx.resize(size_t(M * K / 16));
    int8_t* qx = tl_qx.data();
    float* dx = tl_dx.data();
    int32_t* sx = tl_sx.data();
    const int64_t rowBytes = per * q.bytes;
    if (prompt8) {
      parallel_for(M, 8, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) quantize_row_q8(xp + m * lda, K, qx + m * K, dx + m * K / 32, sx + m * K / 16);
      });
      gemm_q8(type, src, rowBytes, N, K, qx, dx, sx, M, yp, Kout);
      return "";
    }
    for (int64_t m = 0; m < M; ++m) quantize_row_q8(xp + m * lda, K, qx + m * K, dx + m * K / 32, sx + m * K / 16);
    gemv_q8(type, src, rowBytes, N, K, qx, dx, sx, M, yp, Kout);
    return "";
  }
  if (mode == 0 && M <= 4) {
    gemv_q(type, src, per * q.bytes, N, K, xp, lda, M, yp, Kout);
    return "";
  }
  if (amx_wrows(type, src, per * q.bytes, N, K, mode, xp, lda, M, yp, Kout)) return "";
  // rows of W per chunk: at least 256, so that the GEMM's per-call cost (packing x, or passing
  // over the output) is small against its work, and otherwise a float chunk of ~4 MiB
  const int64_t rows = std::min<int64_t>(N, std::max<int64_t>(256, (int64_t(1) << 20) / K));
  std::vector<float>& chunk = tl_chunk;
  if (chunk.size() < size_t(rows * K)) chunk.resize(size_t(rows * K));
  for (int64_t n0 = 0; n0 < N; n0 += rows) {
    const int64_t nr = std::min(rows, N - n0);
    float* ch = chunk.data();
    parallel_for(nr, 4, [&](int64_t r0, int64_t r1) { dequant_blocks(type, src + (n0 + r0) * per * q.bytes, (r1 - r0) * per, ch + r0 * K); });
    if (mode == 0) {
      // out[:, n0:n0+nr] = x [M, K] . chunk^T (chunk [nr, K] read as B [K, nr] with csb = K)
      gemm_f32(M, nr, K, 1.f, xp, lda, 1, ch, 1, K, 0.f, yp + n0, Kout, threadpool_size());
    } else {
      // out += x[:, n0:n0+nr] . chunk [nr, K]
      gemm_f32(M, K, nr, 1.f, xp + n0, lda, 1, ch, K, 1, n0 == 0 ? 0.f : 1.f, yp, Kout, threadpool_size());
    }
  }
  return "";
}

}  // namespace

void register_quant(KernelFn* t) {
  t[OP_DEQUANTIZE] = k_dequantize;
  t[OP_MATMUL_Q] = k_matmul_q;
}

}  // namespace ET_ISA
}  // namespace et
