// Float-float helpers (a value is hi + lo, |lo| <= ulp(hi) / 2) from correctly rounded float
// + - * only (Vulkan requires them exact-rounded; `precise` forbids contraction), for shaders that
// need more than float precision without float64: rope's angles, norm's fused multiply-add.
// GLSL fma() is no help: drivers may (lavapipe does) split it into a multiply and an add.
vec2 two_sum(float a, float b) {
  precise float s = a + b;
  precise float bb = s - a;
  precise float e = (a - (s - bb)) + (b - bb);
  return vec2(s, e);
}
vec2 fast_two_sum(float a, float b) {  // |a| >= |b|
  precise float s = a + b;
  precise float e = b - (s - a);
  return vec2(s, e);
}
vec2 split(float a) {  // Veltkamp: a = hi + lo with 12-bit halves
  precise float t = 4097.0 * a;
  precise float hi = t - (t - a);
  precise float lo = a - hi;
  return vec2(hi, lo);
}
vec2 two_prod(float a, float b) {  // Dekker: a * b exactly
  vec2 as = split(a), bs = split(b);
  precise float p = a * b;
  precise float e = ((as.x * bs.x - p) + as.x * bs.y + as.y * bs.x) + as.y * bs.y;
  return vec2(p, e);
}
vec2 dd_mul(vec2 a, vec2 b) {
  vec2 p = two_prod(a.x, b.x);
  precise float e = p.y + (a.x * b.y + a.y * b.x);
  return fast_two_sum(p.x, e);
}

// a + b, accurate to ~2^-48 of the result however much cancels.
vec2 dd_add(vec2 a, vec2 b) {
  vec2 s = two_sum(a.x, b.x);
  vec2 t = two_sum(a.y, b.y);
  precise float sy = s.y + t.x;
  s = fast_two_sum(s.x, sy);
  precise float sy2 = s.y + t.y;
  return fast_two_sum(s.x, sy2);
}
// a * b + c with a * b unrounded, as a CPU fma: exact when a * b and c cancel (Sterbenz).
float fma_ff(float a, float b, float c) {
  vec2 p = two_prod(a, b);
  vec2 s = two_sum(p.x, c);
  precise float r = s.x + (s.y + p.y);
  return r;
}
