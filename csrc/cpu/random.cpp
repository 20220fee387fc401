// Counter-based random numbers on the Philox stream (philox.h): randUniform, randNormal.
//   uniform  randUniform: low + (high - low) * u, with low and (high - low) rounded to float.
//   normal   Box-Muller on the pairs of words (0, 1) and (2, 3) of a block: for a pair (a, b),
//            u1 = 1 - u(a) in (0, 1], u2 = u(b); r = sqrt(-2 ln u1), th = 2 pi u2; the pair's
//            first element is r cos(th), its second r sin(th), in edgetrain's own float
//            functions (normal_math.h), not libm's, so the bits are the same on every device.
//            Element i is mean + std * z (mean, std rounded to float).
// Contraction off (fp_exact.h): lo + span * u and mean + std * z are rounded twice, as on Vulkan.
#include "fp_exact.h"

#include <cstring>

#include "kernels.h"
#include "normal_math.h"
#include "philox.h"

namespace et {
namespace ET_ISA {
namespace {

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
          float z0, z1;
          nm::box_muller(w[j], w[j + 1], z0, z1);
          vals[j] = mean + sd * z0;
          vals[j + 1] = mean + sd * z1;
        }
      },
      StoreTo(y));
  return "";
}

}  // namespace

void register_random(KernelFn* t) {
  t[OP_RAND_UNIFORM] = k_rand_uniform;
  t[OP_RAND_NORMAL] = k_rand_normal;
}

}  // namespace ET_ISA
}  // namespace et
