// The float math of the elementwise ops (EW_* codes, kernels/vulkan/opcodes.h), shared by the
// general shader (elementwise.comp: any dtype, strided views) and the float32 fast path
// (elementwise_f32.comp), so both give the same bits. The includer defines mi(k) / mf(k) (meta
// words) and includes meta.h first.
#define kNaN uintBitsToFloat(0x7fc00000u)
#define kInf uintBitsToFloat(0x7f800000u)
const float kSqrt2OverPi = 0.7978845608028654;
const float kInvSqrt2 = 0.7071067811865476;
const float kInvSqrt2Pi = 0.3989422804014327;

float tanh_safe(float x) {  // some drivers overflow exp() inside tanh for large |x|
  return isnan(x) ? x : tanh(clamp(x, -15.0, 15.0));
}

float sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

// erfc with fractional error < 1.2e-7 everywhere (Chebyshev fit to t*exp(-z^2 + P(t))).
float erfc_(float x) {
  float z = abs(x);
  float t = 1.0 / (1.0 + 0.5 * z);
  float r = t * exp(-z * z - 1.26551223 +
                    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 +
                    t * 0.17087277)))))))));
  return x >= 0.0 ? r : 2.0 - r;
}

float pow_scalar(float x, float p) {
  if (p == 0.0) return 1.0;
  if (p == 1.0) return x;
  if (p == 2.0) return x * x;
  if (p == 3.0) return x * x * x;
  if (p == -1.0) return 1.0 / x;
  if (p == 0.5) return x < 0.0 ? kNaN : sqrt(x);
  if (isnan(x) || isnan(p)) return kNaN;
  if (x == 0.0) return p > 0.0 ? 0.0 : kInf;
  float r = exp2(p * log2(abs(x)));
  if (x < 0.0) {
    if (floor(p) != p) return isinf(x) ? r : kNaN;
    if (mod(p, 2.0) != 0.0) r = -r;  // odd integer exponent keeps the sign
  }
  return r;
}

float unary(int op, float x) {
  switch (op) {
    case EW_AFFINE: return x * mf(META_P) + mf(META_P + 1);
    case EW_EXP: return exp(x);
    case EW_LOG: return x < 0.0 ? kNaN : (x == 0.0 ? -kInf : log(x));
    case EW_SQRT: return x < 0.0 ? kNaN : sqrt(x);
    case EW_RSQRT: return x < 0.0 ? kNaN : (x == 0.0 ? (floatBitsToUint(x) != 0u ? -kInf : kInf) : 1.0 / sqrt(x));
    case EW_ABS: return abs(x);
    case EW_SIGN: return float(int(x > 0.0) - int(x < 0.0));  // +0 for 0 and NaN
    case EW_RELU: return isnan(x) || x > 0.0 ? x : 0.0;  // NaN passes through, as in PyTorch
    case EW_GELU_TANH: return 0.5 * x * (1.0 + tanh_safe(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
    case EW_GELU_ERF: return 0.5 * x * erfc_(-x * kInvSqrt2);
    case EW_SILU: return x * sigmoid(x);
    case EW_SIGMOID: return sigmoid(x);
    case EW_TANH: return tanh_safe(x);
    case EW_POW_SCALAR: return pow_scalar(x, mf(META_P));
  }
  return kNaN;
}

float binary(int op, float a, float b) {
  switch (op) {
    case EW_ADD: return a + b;
    case EW_SUB: return a - b;
    case EW_MUL: return a * b;
    case EW_DIV: return a / b;
    case EW_MAXIMUM: return (isnan(a) || a > b) ? a : b;  // NaN in either propagates
    case EW_MINIMUM: return (isnan(a) || a < b) ? a : b;
    case EW_RELU_BWD: return a <= 0.0 ? 0.0 : b;  // NaN input passes dy, as relu passes NaN
    case EW_GELU_TANH_BWD: {
      float x = a;
      float t = tanh_safe(kSqrt2OverPi * (x + 0.044715 * x * x * x));
      float du = kSqrt2OverPi * (1.0 + 3.0 * 0.044715 * x * x);
      return b * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
    }
    case EW_GELU_ERF_BWD: {
      float x = a;
      return b * (0.5 * erfc_(-x * kInvSqrt2) + x * kInvSqrt2Pi * exp(-0.5 * x * x));
    }
    case EW_SILU_BWD: {
      float s = sigmoid(a);
      return b * s * (1.0 + a * (1.0 - s));
    }
  }
  return kNaN;
}

bool compare(int op, float a, float b) {
  switch (op) {
    case EW_GT: return a > b;
    case EW_GE: return a >= b;
    case EW_LT: return a < b;
    case EW_LE: return a <= b;
    case EW_EQ: return a == b;
    case EW_NE: return !(a == b);
  }
  return false;
}
