// Batched matmul over strided operands: a [..., M, K], b [..., K, N] -> out [..., M, N].
// a and out are float32; b is float32, float16 or bfloat16 (a frozen half-size weight).
#include "gemm.h"
#include "gemm_skinny.h"
#include "kernels.h"

namespace et {
namespace ET_ISA {
namespace {

std::string k_matmul(const Call& c) {
  const View& a = c.in(0);
  const View& b = c.in(1);
  const View& y = c.out(0);
  const int n = y.ndim;
  const int64_t M = y.shape[n - 2], N = y.shape[n - 1], K = a.shape[n - 1];
  int64_t batch = 1;
  for (int d = 0; d < n - 2; ++d) batch *= y.shape[d];
  if (a.dtype != ET_F32 || y.dtype != ET_F32 || (b.dtype != ET_F32 && b.dtype != ET_F16 && b.dtype != ET_BF16))
    return std::string("DTypeError: matmul: expected float32 a and float32, float16 or bfloat16 b, got ") +
           dtype_name(a.dtype) + " and " + dtype_name(b.dtype);
  const float* ap = a.data<float>();
  const char* bp = b.data<const char>();
  const size_t bsize = size_t(dtype_size(b.dtype));
  float* yp = y.data<float>();
  // beta != 0 reads y: the GEMM adds into it (C = A.B + beta C), y laid out as it writes it
  const float beta = float(c.p[0]);
  // precision 1: a bf16 b multiplies a rounded to bf16 (gemm.h gemm_f32_bf16b_round_a)
  const bool round_a = int(c.p[1]) == 1;
  if (beta != 0.f && !y.contiguous())
    return "ShapeError: matmul: accumulating (beta " + std::to_string(beta) + ") needs a contiguous y";
  auto offsets = [&](int64_t bi, int64_t* oa, int64_t* ob) {
    *oa = 0;
    *ob = 0;
    for (int d = n - 3; d >= 0; --d) {
      int64_t i = bi % y.shape[d];
      bi /= y.shape[d];
      *oa += i * a.strides[d];
      *ob += i * b.strides[d];
    }
  };
  auto one = [&](int64_t bi, int threads) {
    int64_t oa, ob;
    offsets(bi, &oa, &ob);
    if (b.dtype == ET_F16)
      gemm_f32_f16b(M, N, K, 1.f, ap + oa, a.strides[n - 2], a.strides[n - 1],
                    reinterpret_cast<const uint16_t*>(bp + ob * bsize), b.strides[n - 2], b.strides[n - 1], beta,
                    yp + bi * M * N, N, threads);
    else if (b.dtype == ET_BF16)
      (round_a ? gemm_f32_bf16b_round_a : gemm_f32_bf16b)(M, N, K, 1.f, ap + oa, a.strides[n - 2], a.strides[n - 1],
                                                          reinterpret_cast<const bf16_t*>(bp + ob * bsize), b.strides[n - 2],
                                                          b.strides[n - 1], beta, yp + bi * M * N, N, threads);
    else if (!gemm_skinny_f32(M, N, K, ap + oa, a.strides[n - 2], a.strides[n - 1],
                              reinterpret_cast<const float*>(bp + ob * bsize), b.strides[n - 2], b.strides[n - 1], beta,
                              yp + bi * M * N, N, threads))
      gemm_f32(M, N, K, 1.f, ap + oa, a.strides[n - 2], a.strides[n - 1], reinterpret_cast<const float*>(bp + ob * bsize),
               b.strides[n - 2], b.strides[n - 1], beta, yp + bi * M * N, N, threads);
  };
  // Many small matrices: one per thread. Few large ones: threads inside each GEMM.
  if (batch >= 2 * threadpool_size() && M * N * K < (int64_t(1) << 21)) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi) one(bi, 1);
    });
  } else {
    for (int64_t bi = 0; bi < batch; ++bi) one(bi, threadpool_size());
  }
  return "";
}

}  // namespace

void register_matmul(KernelFn* t) { t[OP_MATMUL] = k_matmul; }

}  // namespace ET_ISA
}  // namespace et
