// Math helpers shared by the kernels (prepended to every kernel source at build time).
//
// PoCL compiles builtins such as exp, tanh, fabs and fmax to out-of-line calls. A call inside
// a loop spills every vector register, and inside an elementwise kernel it stops PoCL from
// vectorising across work-items, so the hot paths use these inline versions: Cephes' expf
// and tanhf polynomials (float32 accurate to a few ulp), and log1p on [0, 1] via atanh.

inline float exp_nonpositive(float x) {  // exp(x) for x <= 0
  x = x < -87.0f ? -87.0f : x;
  const int n = (int)(x * 1.44269504f - 0.5f);  // round to nearest (x <= 0)
  const float r = x - (float)n * 0.693359375f + (float)n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  return y * as_float((n + 127) << 23);
}

inline float log1p_unit(const float u) {  // log(1 + u) for u in [0, 1]
  const float s = u / (2.0f + u), s2 = s * s;  // log1p(u) = 2 atanh(s), s <= 1/3
  float t = 1.0f / 15.0f;
  t = t * s2 + 1.0f / 13.0f;
  t = t * s2 + 1.0f / 11.0f;
  t = t * s2 + 1.0f / 9.0f;
  t = t * s2 + 1.0f / 7.0f;
  t = t * s2 + 1.0f / 5.0f;
  t = t * s2 + 1.0f / 3.0f;
  t = t * s2 + 1.0f;
  return 2.0f * s * t;
}

inline float sigmoid_f(const float x) {
  const float e = exp_nonpositive(x >= 0.0f ? -x : x);  // exp(-|x|): never overflows
  return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

inline float tanh_f(const float x) {
  const float a = x >= 0.0f ? x : -x;
  float t;
  if (a > 0.625f) {
    const float e = exp_nonpositive(-2.0f * a);
    t = (1.0f - e) / (1.0f + e);
  } else {
    const float z = a * a;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    t = p * z * a + a;
  }
  return x >= 0.0f ? t : -t;
}
