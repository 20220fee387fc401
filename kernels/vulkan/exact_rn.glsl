// Division and square root rounded to nearest, as the CPU's (quantize.glsl, normal_math.glsl):
// Vulkan allows 2.5 ulp for a / b and an inversesqrt-based sqrt, so the device's result is
// corrected by exact integer comparisons with the midpoints to its neighbours (a quotient or root
// is never exactly a midpoint). Normal operands and results only; otherwise (subnormals, zeros:
// edge cases where a device may flush anyway) the device's value stands. On a device that rounds
// correctly (llvmpipe) nothing moves. Needs GL_EXT_control_flow_attributes.
void mant_exp(float f, out uint m, out int e) {  // |f| = m * 2^e, f normal
  uint b = floatBitsToUint(f);
  m = (b & 0x7fffffu) | 0x800000u;
  e = int((b >> 23) & 0xffu) - 150;
}
bool normal_(float f) {  // normal, and one step up or down stays normal
  uint x = (floatBitsToUint(f) >> 23) & 0xffu;
  return x >= 2u && x <= 253u;
}
// sign of m * 2^d - X, with m < 2^24 and X = (xh, xl) >= 2^46
int cmp64(uint m, int d, uint xh, uint xl) {
  if (d < 0) return -1;
  if (d > 40) return 1;
  uint h = d >= 32 ? m << (d - 32) : (d == 0 ? 0u : m >> (32 - d));
  uint l = d >= 32 ? 0u : m << d;
  if (h != xh) return h > xh ? 1 : -1;
  if (l != xl) return l > xl ? 1 : -1;
  return 0;
}
float div_rn(float a, float b) {
  precise float q = a / b;
  if (!normal_(a) || !normal_(b) || !normal_(q)) return q;
  uint ma, mb, mq, xh, xl;
  int ea, eb, eq;
  mant_exp(a, ma, ea);
  mant_exp(b, mb, eb);
  [[dont_unroll]] for (int it = 0; it < 4; ++it) {
    mant_exp(q, mq, eq);
    // |q| too small: |a| above |b| times the midpoint (2 mq + 1) 2^(eq - 1) to the next magnitude
    umulExtended(mb, 2u * mq + 1u, xh, xl);
    if (cmp64(ma, ea - (eb + eq - 1), xh, xl) > 0) {
      q = uintBitsToFloat(floatBitsToUint(q) + 1u);
      continue;
    }
    // too large: |a| below |b| times the midpoint to the previous one (half the gap below 2^k)
    bool pow2 = mq == 0x800000u;
    umulExtended(mb, pow2 ? 0x1ffffffu : 2u * mq - 1u, xh, xl);
    if (cmp64(ma, ea - (eb + eq - (pow2 ? 2 : 1)), xh, xl) < 0) {
      q = uintBitsToFloat(floatBitsToUint(q) - 1u);
      continue;
    }
    break;
  }
  return q;
}
float sqrt_rn(float a) {
  precise float r = sqrt(a);
  if (!normal_(a) || !normal_(r)) return r;
  uint ma, mr, xh, xl;
  int ea, er;
  mant_exp(a, ma, ea);
  [[dont_unroll]] for (int it = 0; it < 8; ++it) {
    mant_exp(r, mr, er);
    uint up = 2u * mr + 1u;  // the midpoint above r: up 2^(er - 1)
    umulExtended(up, up, xh, xl);
    if (cmp64(ma, ea - (2 * er - 2), xh, xl) > 0) {
      r = uintBitsToFloat(floatBitsToUint(r) + 1u);
      continue;
    }
    bool pow2 = mr == 0x800000u;
    uint dn = pow2 ? 0x1ffffffu : 2u * mr - 1u;  // below: dn 2^(er - 1), or 2^(er - 2) at 2^k
    umulExtended(dn, dn, xh, xl);
    if (cmp64(ma, ea - (pow2 ? 2 * er - 4 : 2 * er - 2), xh, xl) < 0) {
      r = uintBitsToFloat(floatBitsToUint(r) - 1u);
      continue;
    }
    break;
  }
  return r;
}

