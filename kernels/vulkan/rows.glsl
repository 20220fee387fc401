// Row helpers shared by softmax.comp and cross_entropy.comp: one workgroup of ROW_THREADS works
// on one row at a time, with tree reductions through shared memory, and the exponential of the
// CPU twin (csrc/cpu/softmax.cpp fexp) so results match it to rounding.
// The includer declares layout(local_size_x = ROW_THREADS) and calls the reductions from every
// invocation of the workgroup (they hold barriers).
#define ROW_THREADS 256

shared float row_red[ROW_THREADS];

// exp(x) for x <= 88 as csrc/cpu/softmax.cpp fexp: Cephes range reduction and polynomial;
// x < -87.33654 gives 0 (no subnormals), NaN gives NaN.
float fexp(float x) {
  const float kLo = -87.33654, kHi = 88.0, kMagic = 12582912.0;
  float xc = x < kLo ? kLo : x;
  xc = xc > kHi ? kHi : xc;
  precise float t = xc * 1.44269504088896341 + kMagic;
  precise float n = t - kMagic;
  int ni = floatBitsToInt(t) - floatBitsToInt(kMagic);
  precise float r = xc - n * 0.693359375;
  r = r - n * -2.12194440e-4;
  precise float p = 1.9875691500e-4;
  p = p * r + 1.3981999507e-3;
  p = p * r + 8.3334519073e-3;
  p = p * r + 4.1665795894e-2;
  p = p * r + 1.6666665459e-1;
  p = p * r + 5.0000001201e-1;
  precise float e = (p * r * r + r + 1.0) * intBitsToFloat((ni + 127) << 23);
  return x < kLo ? 0.0 : e;
}

#ifdef ET_SUBGROUP
// The subgroup variant (the includer enables GL_KHR_shader_subgroup_arithmetic): each subgroup
// reduces in registers, its elected invocation leaves the result in slot gl_SubgroupID, and every
// invocation combines the gl_NumSubgroups slots in order (the same value everywhere). Any
// subgroup size works: ROW_THREADS slots cover subgroups of one invocation.

// The max over the workgroup of v (NaN-free partial maxima; -inf when all are -inf).
float row_max_all(float v) {
  float m = subgroupMax(v);
  barrier();
  if (subgroupElect()) row_red[gl_SubgroupID] = m;
  barrier();
  float r = row_red[0];
  for (uint i = 1u; i < gl_NumSubgroups; ++i) {
    float o = row_red[i];
    if (o > r) r = o;
  }
  return r;
}

// The sum over the workgroup of v.
float row_sum_all(float v) {
  float s = subgroupAdd(v);
  barrier();
  if (subgroupElect()) row_red[gl_SubgroupID] = s;
  barrier();
  float r = row_red[0];
  for (uint i = 1u; i < gl_NumSubgroups; ++i) r += row_red[i];
  return r;
}
#else
// The max over the workgroup of v (NaN-free partial maxima; -inf when all are -inf).
float row_max_all(float v) {
  uint tid = gl_LocalInvocationID.x;
  barrier();
  row_red[tid] = v;
  barrier();
  for (uint s = ROW_THREADS / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      float o = row_red[tid + s];
      if (o > row_red[tid]) row_red[tid] = o;
    }
    barrier();
  }
  return row_red[0];
}

// The sum over the workgroup of v.
float row_sum_all(float v) {
  uint tid = gl_LocalInvocationID.x;
  barrier();
  row_red[tid] = v;
  barrier();
  for (uint s = ROW_THREADS / 2u; s > 0u; s >>= 1u) {
    if (tid < s) row_red[tid] = row_red[tid] + row_red[tid + s];
    barrier();
  }
  return row_red[0];
}
#endif
