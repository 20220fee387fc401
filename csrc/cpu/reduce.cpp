// sum and max over the trailing p0 dims of a strided view (the TS side moves reduced dims last).
#include <cmath>
#include <vector>

#include "kernels.h"
#include "rows.h"

namespace et {
namespace ET_ISA {
namespace {

struct Split {
  int64_t outer = 1, inner = 1;
  int nk = 0, nr = 0;  // kept dims, reduced dims
};

Split split_dims(const View& x, int nred) {
  Split s;
  s.nr = nred;
  s.nk = x.ndim - nred;
  for (int d = 0; d < s.nk; ++d) s.outer *= x.shape[d];
  for (int d = s.nk; d < x.ndim; ++d) s.inner *= x.shape[d];
  return s;
}

// Single stride describing the reduced dims when they form one evenly strided run, else 0.
int64_t run_stride(const View& x, const Split& s) {
  int64_t st = 0, expect = 0;
  for (int d = x.ndim - 1; d >= s.nk; --d) {
    if (x.shape[d] == 1) continue;
    if (st == 0) {
      st = x.strides[d];
      expect = st * x.shape[d];
      if (st == 0) return 0;
    } else {
      if (x.strides[d] != expect) return 0;
      expect *= x.shape[d];
    }
  }
  return st == 0 ? 1 : st;
}

int64_t outer_offset(const View& x, const Split& s, int64_t o) {
  int64_t off = 0;
  for (int d = s.nk - 1; d >= 0; --d) {
    off += (o % x.shape[d]) * x.strides[d];
    o /= x.shape[d];
  }
  return off;
}

std::string k_sum(const Call& c) {
  const View& x = c.in(0);
  const View& y = c.out(0);
  Split s = split_dims(x, int(c.p[0]));
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  int64_t rs = run_stride(x, s);
  // Reducing leading dims of a contiguous tensor (bias gradients): kept dims are one unit-stride
  // run, so accumulate whole rows at a time instead of striding down columns.
  if (s.nk >= 1 && s.nr >= 1 && rs != 0 && s.inner > 1) {
    bool kept_unit = true;
    int64_t e = 1;
    for (int d = s.nk - 1; d >= 0; --d) {
      if (x.shape[d] != 1 && x.strides[d] != e) kept_unit = false;
      e *= x.shape[d];
    }
    if (kept_unit && rs >= s.outer) {
      parallel_for(s.outer, 256, [&](int64_t b, int64_t en) {
        for (int64_t o = b; o < en; ++o) yp[o] = 0.f;
        for (int64_t i = 0; i < s.inner; ++i) {
          const float* row = xp + i * rs;
          for (int64_t o = b; o < en; ++o) yp[o] += row[o];
        }
      });
      return "";
    }
  }
  parallel_for(s.outer, row_grain(s.inner), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const float* base = xp + outer_offset(x, s, o);
      double acc = 0;
      if (rs == 1) {
        float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= s.inner; i += 8)
          for (int k = 0; k < 8; ++k) part[k] += base[i + k];
        for (int k = 0; k < 8; ++k) acc += part[k];
        for (; i < s.inner; ++i) acc += base[i];
      } else if (rs != 0) {
        for (int64_t i = 0; i < s.inner; ++i) acc += base[i * rs];
      } else {
        for_each_strided(s.nr, x.shape + s.nk, x.strides + s.nk, 0, s.inner,
                         [&](int64_t, int64_t off) { acc += base[off]; });
      }
      yp[o] = float(acc);
    }
  });
  return "";
}

std::string k_max(const Call& c) {
  const View& x = c.in(0);
  Split s = split_dims(x, int(c.p[0]));
  if (s.inner == 0) return "ShapeError: max: cannot reduce an empty dimension";
  const float* xp = x.data<float>();
  float* vp = c.out(0).data<float>();
  int32_t* ip = c.out(1).data<int32_t>();
  parallel_for(s.outer, row_grain(s.inner), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const float* base = xp + outer_offset(x, s, o);
      float best = 0;
      int64_t bi = -1;
      for_each_strided(s.nr, x.shape + s.nk, x.strides + s.nk, 0, s.inner, [&](int64_t i, int64_t off) {
        float v = base[off];
        if (bi < 0 || (v > best) || (v != v && best == best)) {
          best = v;
          bi = i;
        }
      });
      vp[o] = best;
      ip[o] = int32_t(bi);
    }
  });
  return "";
}

}  // namespace

void register_reduce(KernelFn* t) {
  t[OP_SUM] = k_sum;
  t[OP_MAX] = k_max;
}

}  // namespace ET_ISA
}  // namespace et
