#version 450
// Rotary position embedding (the twin: csrc/cpu/rope.cpp): x [B, T, H, D] contiguous, pos int32
// [T] (any stride) -> y [B, T, H, D]. Row r = one head vector of D, at time t = (r / H) % T.
// Pair i < nh = rotaryDims / 2 is (i, i + nh) in mode 0 (neox), (2i, 2i + 1) in mode 1
// (interleaved), rotated by sign * angle(t, i); dims from rotaryDims on are copied.
//
// The CPU computes angle = pos * (freqScale * base^(-2i / rotaryDims)) in double, then cos/sin
// in double rounded to float. Float angles would be off by ~pos * 2^-24 radians (2e-4 at position
// 5000), so this shader carries the angle as a float-float pair (~48 bits; only correctly
// rounded float + - *, as Vulkan requires, with `precise` against contraction): the inverse
// frequency is freqScale * q^i with q = base^(-2 / rotaryDims), from the host's float-float
// powers q^(2^k); the angle is reduced by pi/2 in float-float and cos/sin come from float
// polynomials on [-pi/4, pi/4] (about an ulp; the GLSL built-ins have no accuracy guarantee).
//
// Meta: META_N = rows (B*T*H), META_I + 0..4 = T, H, D, nh, mode; META_P + 0 = sign (+1 / -1),
// META_P + 1, 2 = freqScale as hi, lo; META_ST + 2k, 2k + 1 = q^(2^k) as hi, lo (k < 16);
// META_X + 0..3 = element offsets of x, pos, y and the stride of pos.
// Bindings: 1 x, 2 pos, 3 y. One invocation per (row, pair) or (row, copied dim), grid-stride.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
float mf(int k) { return intBitsToFloat(mi(k)); }
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer Pos { int pos[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

#include "ff.glsl"

// pi/2 as three floats (their sum is pi/2 to ~2^-72)
const float kPio2Hi = 1.5707963705062866;
const float kPio2Mid = -4.371138828673793e-08;
const float kPio2Lo = -1.7151245100058819e-15;
const float kTwoOverPi = 0.6366197723675814;

// (cos a, sin a) of a float-float angle. Reduced by k * pi/2 in float-float, k from the
// nearest float quotient, which is off by up to 1 from the true one (and by ulp(k) past 2^24),
// so the step repeats on the (much smaller) remainder until it lies in [-pi/4, pi/4] (3 steps
// suffice below |a| ~ 1e15). The angle itself holds ~48 bits: past |a| ~ 1e8 its error
// (|a| 2^-48) exceeds the CPU's double's (measured: outputs 1e-7 off the CPU's at position
// 1.7e7, 2.5e-6 at 2^31 - 10).
vec2 cos_sin(vec2 a) {
  vec2 r = a;
  float q = 0.0;  // quadrant: sum of the k's mod 4
  for (int step = 0; step < 3; ++step) {
    float k = floor(r.x * kTwoOverPi + 0.5);  // an integer-valued float
    if (k == 0.0) break;
    q += k - 4.0 * floor(k * 0.25);  // k mod 4, exact for integer-valued floats
    r = dd_add(r, -two_prod(k, kPio2Hi));
    r = dd_add(r, -two_prod(k, kPio2Mid));
    r = dd_add(r, vec2(-k * kPio2Lo, 0.0));
  }
  q -= 4.0 * floor(q * 0.25);
  float x = r.x;
  float z = x * x;
  // cephes sinf / cosf on [-pi/4, pi/4]
  float s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * x + x;
  float c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  if (q == 0.0) return vec2(c, s);
  if (q == 1.0) return vec2(-s, c);
  if (q == 2.0) return vec2(-c, -s);
  return vec2(s, -c);
}

// freqScale * q^i as float-float, from the powers q^(2^k).
vec2 inv_freq(int i) {
  vec2 r = vec2(mf(META_P + 1), mf(META_P + 2));
  for (int k = 0; k < 16 && (i >> k) != 0; ++k)
    if (((i >> k) & 1) != 0) r = dd_mul(r, vec2(mf(META_ST + 2 * k), mf(META_ST + 2 * k + 1)));
  return r;
}

void main() {
  int rows = mi(META_N), T = mi(META_I), H = mi(META_I + 1), D = mi(META_I + 2), nh = mi(META_I + 3);
  int mode = mi(META_I + 4);
  int slots = D - nh;  // nh pairs, then D - 2 * nh copied dims
  int total = rows * slots;
  int ox = mi(META_X), op = mi(META_X + 1), oy = mi(META_X + 2), sp = mi(META_X + 3);
  float sg = mf(META_P);
  int step = int(gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  for (int e = int(gl_GlobalInvocationID.x); e < total; e += step) {
    int r = e / slots, s = e - r * slots;
    int xr = ox + r * D, yr = oy + r * D;
    if (s >= nh) {  // past the rotary dims: copied
      int j = s + nh;
      y[yr + j] = x[xr + j];
      continue;
    }
    int t = (r / H) % T;
    int p = pos[op + t * sp];
    // p exactly as float-float: (p >> 8) * 256 and p & 255 are exact floats
    vec2 pp = two_sum(float(p >> 8) * 256.0, float(p & 255));
    vec2 cs = cos_sin(dd_mul(pp, inv_freq(s)));
    float si = sg * cs.y;
    int i0 = mode == 0 ? s : 2 * s, i1 = mode == 0 ? s + nh : 2 * s + 1;
    float a = x[xr + i0], b = x[xr + i1];
    y[yr + i0] = a * cs.x - b * si;
    y[yr + i1] = a * si + b * cs.x;
  }
}
