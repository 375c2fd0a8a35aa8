// Skip-gram negative-sampling update, word2vec.c's inner loop (Hogwild).
//
// One work-item per contiguous chunk of pairs, processed sequentially in order; chunks run
// concurrently and race on shared rows exactly as word2vec.c / gensim threads do. DIM is a
// compile-time constant so the dimension loops unroll and vectorise. Each work-item writes
// its summed loss (from the scores before each update) to loss_out[chunk].


// PoCL compiles even fabs/fmax/exp to out-of-line calls, which spill every vector register,
// so the per-target math is written out: exp of a non-positive argument (Cephes expf, float32
// accurate) and log1p on (0, 1] via 2*atanh(u/(2+u)).
inline float exp_nonpositive(float x) {
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

inline float log1p_unit(const float u) {  // u in [0, 1]
  const float s = u / (2.0f + u), s2 = s * s;  // s <= 1/3
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

__kernel void sgns_update(__global float *restrict syn0, __global float *restrict syn1neg,
                          __global const int *restrict inputs,
                          __global const int *restrict outputs,
                          __global const int *restrict negatives, const int n_negative,
                          __global const float *restrict alphas, const int n_pairs,
                          const int chunk, __global float *restrict loss_out) {
  const int worker = get_global_id(0);
  const int start = worker * chunk;
  const int end = min(start + chunk, n_pairs);
  float neu1e[DIM];
  float loss = 0.0f;
  for (int p = start; p < end; ++p) {
    __global float *l1 = syn0 + (size_t)inputs[p] * DIM;
    const int positive = outputs[p];
    const float alpha = alphas[p];
    for (int k = 0; k < DIM; ++k) neu1e[k] = 0.0f;
    for (int t = 0; t <= n_negative; ++t) {
      int target;
      float label;
      if (t == 0) {
        target = positive;
        label = 1.0f;
      } else {
        target = negatives[(size_t)p * n_negative + t - 1];
        if (target == positive) continue;
        label = 0.0f;
      }
      __global float *l2 = syn1neg + (size_t)target * DIM;
      float score = 0.0f;
      for (int k = 0; k < DIM; ++k) score += l1[k] * l2[k];
      // One exp and one log per target: with e = exp(-|score|) in (0, 1],
      // sigmoid(score) = 1/(1+e) or e/(1+e), and -log sigmoid(+-score) = log(1+e) + max(-+score, 0).
      const float e = exp_nonpositive(score >= 0.0f ? -score : score);
      const float prob = (score >= 0.0f ? 1.0f : e) / (1.0f + e);
      const float signed_score = label > 0.0f ? score : -score;
      loss += log1p_unit(e) + (signed_score < 0.0f ? -signed_score : 0.0f);
      const float g = (label - prob) * alpha;
      for (int k = 0; k < DIM; ++k) neu1e[k] += g * l2[k];
      for (int k = 0; k < DIM; ++k) l2[k] += g * l1[k];
    }
    for (int k = 0; k < DIM; ++k) l1[k] += neu1e[k];
  }
  loss_out[worker] = loss;
}
