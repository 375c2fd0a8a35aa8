// Skip-gram negative-sampling update, word2vec.c's inner loop (Hogwild).
//
// One work-item per contiguous chunk of pairs, processed sequentially in order; chunks run
// concurrently and race on shared rows exactly as word2vec.c / gensim threads do. DIM is a
// compile-time constant so the dimension loops unroll and vectorise. Each work-item writes
// its summed loss (from the scores before each update) to loss_out[chunk].

inline float log_sigmoid(const float x) {
  // log(sigmoid(x)) = -log1p(exp(-x)), stable for both signs.
  return x >= 0.0f ? -log1p(exp(-x)) : x - log1p(exp(x));
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
      loss -= log_sigmoid(label > 0.0f ? score : -score);
      const float prob = 1.0f / (1.0f + exp(-score));
      const float g = (label - prob) * alpha;
      for (int k = 0; k < DIM; ++k) neu1e[k] += g * l2[k];
      for (int k = 0; k < DIM; ++k) l2[k] += g * l1[k];
    }
    for (int k = 0; k < DIM; ++k) l1[k] += neu1e[k];
  }
  loss_out[worker] = loss;
}
