// Skip-gram negative sampling (word2vec.c's inner loop), Hogwild. Two kernels share the update:
//
// * sgns_update: SGD over pairs the host drew. One work-item per contiguous chunk of pairs,
//   processed sequentially in order; chunks run concurrently and race on shared rows exactly
//   as word2vec.c / gensim threads do. Each work-item writes its summed loss (from the scores
//   before each update) to loss_out[chunk].
// * sgns_train (built only when NEGATIVE is defined): the whole loop from the token stream,
//   as Backend.sgns_train in base.py defines it: subsampling, dynamic window and negatives
//   drawn with one splitmix64 stream per work-item, then the same update, and per-row update
//   counts. One work-item per contiguous group of whole sentences. A pair whose targets are
//   distinct rows (most pairs) is trained in two passes over the dimension (sgns_pair).
//   With SGNS_SHARED_NEGATIVES=1 a centre draws the negatives and all its pairs use them:
//   the pairs of a window then update the same NEGATIVE + 1 rows of syn1neg, which stay in
//   cache, where per-pair negatives are random rows of a matrix far larger than the cache.
//
// DIM (and NEGATIVE) are compile-time constants so the dimension loops unroll; rows move in
// float8 pieces (sgns_target: two dot-product accumulators; sgns_pair: one per target), and
// the next pair's rows are prefetched.

// Prefetching is for CPU devices (the host defines SPARKNN_CPU_DEVICE): a GPU hides memory
// latency by running other work-items, and NVIDIA's compiler rejects __builtin_prefetch on a
// __global pointer.
#if SPARKNN_CPU_DEVICE && defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define SGNS_PREFETCH(p) __builtin_prefetch(p)  // clang (PoCL): a prefetch, no stall
#endif
#endif
#ifndef SGNS_PREFETCH
#if SPARKNN_CPU_DEVICE
#define SGNS_PREFETCH(p) ((void)*(const volatile __global float *)(p))  // a load nobody uses
#else
#define SGNS_PREFETCH(p) ((void)0)
#endif
#endif

// Unaligned float8/float4 access to rows (a row of DIM floats starts at any 4-byte boundary).
// PoCL compiles vload8/vstore8 to out-of-line calls, so clang compilers get plain vector
// loads through types aligned to 4 bytes; other compilers get vloadn/vstoren.
#ifdef __clang__
typedef float float8_u __attribute__((ext_vector_type(8), aligned(4)));
typedef float float4_u __attribute__((ext_vector_type(4), aligned(4)));
#define LOAD8(p) (*(const __global float8_u *)(p))
#define LOAD4(p) (*(const __global float4_u *)(p))
#define STORE8(v, p) (*(__global float8_u *)(p) = (v))
#define STORE4(v, p) (*(__global float4_u *)(p) = (v))
#define LOAD8_PRIVATE(p) (*(const float8_u *)(p))
#define LOAD4_PRIVATE(p) (*(const float4_u *)(p))
#define STORE8_PRIVATE(v, p) (*(float8_u *)(p) = (v))
#define STORE4_PRIVATE(v, p) (*(float4_u *)(p) = (v))
#else
#define LOAD8(p) vload8(0, p)
#define LOAD4(p) vload4(0, p)
#define STORE8(v, p) vstore8(v, 0, p)
#define STORE4(v, p) vstore4(v, 0, p)
#define LOAD8_PRIVATE(p) vload8(0, p)
#define LOAD4_PRIVATE(p) vload4(0, p)
#define STORE8_PRIVATE(v, p) vstore8(v, 0, p)
#define STORE4_PRIVATE(v, p) vstore4(v, 0, p)
#endif

// Hogwild on a GPU (SGNS_ATOMIC_ROWS, set by the host for several work-items on a GPU):
// a warp's work-items run in lockstep, so two of them updating the same row read it at the
// same moment and the second write undoes the first. Frequent words' rows, met by many
// work-items at once, then lose most of their updates (on an H100, 528 work-items left
// Dubliners' loss near its starting value). So there every row update is an atomic add:
// reads stay unsynchronised, as in word2vec.c, but no update is lost. NVIDIA gets PTX's
// fire-and-forget red.add; other GPUs a compare-and-swap loop.
#ifndef SGNS_ATOMIC_ROWS
#define SGNS_ATOMIC_ROWS 0
#endif
#if SGNS_ATOMIC_ROWS
__attribute__((always_inline)) inline void row_add(__global float *p, const float v) {
#if SPARKNN_NVIDIA
  asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v) : "memory");
#else
  volatile __global uint *word = (volatile __global uint *)p;
  uint expected = *word;
  for (;;) {
    const uint seen = atomic_cmpxchg(word, expected, as_uint(as_float(expected) + v));
    if (seen == expected) break;
    expected = seen;
  }
#endif
}
#define ROW_ADD(p, v) row_add((p), (v))
#else
#define ROW_ADD(p, v) (*(p) += (v))
#endif

// Pull a row's cache lines in ahead of use: rows are random and often not in cache, and the
// misses then overlap the current pair's arithmetic. With a real prefetch instruction
// (rather than volatile loads, which hold up retirement) sgns_update ran faster on PoCL
// (docs/DESIGN-NOTES.md).
__attribute__((always_inline)) inline void sgns_prefetch_row(__global const float *row) {
  for (int k = 0; k < DIM; k += 16) SGNS_PREFETCH(row + k);
  SGNS_PREFETCH(row + DIM - 1);
}

// A target's gradient from its score before the update, with its loss term added to *loss.
// One exp and one log per target: with e = exp(-|score|) in (0, 1],
// sigmoid(score) = 1/(1+e) or e/(1+e), and -log sigmoid(+-score) = log(1+e) + max(-+score, 0).
__attribute__((always_inline)) inline float sgns_gradient(const float score, const float label,
                                                          const float alpha, float *loss) {
  const float e = exp_nonpositive(score >= 0.0f ? -score : score);
  const float prob = (score >= 0.0f ? 1.0f : e) / (1.0f + e);
  const float signed_score = label > 0.0f ? score : -score;
  *loss += log1p_unit(e) + (signed_score < 0.0f ? -signed_score : 0.0f);
  return (label - prob) * alpha;
}

// One target of a pair: its loss term (from the score before the update), the gradient
// accumulated into neu1e, and the target row's update. Rows go in float8 pieces, then a
// float4 piece and scalars for DIM % 8 (DIM is a constant: the branches fold away).
__attribute__((always_inline)) inline float sgns_target(__global const float *restrict l1,
                                                        __global float *restrict l2,
                                                        const float label, const float alpha,
                                                        float *restrict neu1e) {
  float8 acc0 = (float8)(0.0f), acc1 = (float8)(0.0f);  // two: one chains the FMA latencies
  int k = 0;
  for (; k + 16 <= DIM; k += 16) {
    acc0 += LOAD8(l1 + k) * LOAD8(l2 + k);
    acc1 += LOAD8(l1 + k + 8) * LOAD8(l2 + k + 8);
  }
  if (k + 8 <= DIM) {
    acc0 += LOAD8(l1 + k) * LOAD8(l2 + k);
    k += 8;
  }
  acc0 += acc1;
  float4 acc4 = acc0.lo + acc0.hi;
  if (k + 4 <= DIM) {
    acc4 += LOAD4(l1 + k) * LOAD4(l2 + k);
    k += 4;
  }
  float score = (acc4.x + acc4.y) + (acc4.z + acc4.w);
  for (; k < DIM; ++k) score += l1[k] * l2[k];
  float loss = 0.0f;
  const float g = sgns_gradient(score, label, alpha, &loss);
#if SGNS_ATOMIC_ROWS
  for (k = 0; k < DIM; ++k) {
    neu1e[k] += g * l2[k];
    ROW_ADD(l2 + k, g * l1[k]);
  }
  return loss;
#endif
  for (k = 0; k + 8 <= DIM; k += 8) {
    const float8 v = LOAD8(l2 + k);
    STORE8_PRIVATE(LOAD8_PRIVATE(neu1e + k) + g * v, neu1e + k);
    STORE8(v + g * LOAD8(l1 + k), l2 + k);
  }
  if (k + 4 <= DIM) {
    const float4 v = LOAD4(l2 + k);
    STORE4_PRIVATE(LOAD4_PRIVATE(neu1e + k) + g * v, neu1e + k);
    STORE4(v + g * LOAD4(l1 + k), l2 + k);
    k += 4;
  }
  for (; k < DIM; ++k) {
    const float v = l2[k];
    neu1e[k] += g * v;
    l2[k] = v + g * l1[k];
  }
  return loss;
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
    if (p + 1 < end) {  // the next pair's rows: their misses overlap this pair's arithmetic
      sgns_prefetch_row(syn0 + (size_t)inputs[p + 1] * DIM);
      sgns_prefetch_row(syn1neg + (size_t)outputs[p + 1] * DIM);
      for (int t = 0; t < n_negative; ++t)
        sgns_prefetch_row(syn1neg + (size_t)negatives[(size_t)(p + 1) * n_negative + t] * DIM);
    }
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
      loss += sgns_target(l1, syn1neg + (size_t)target * DIM, label, alpha, neu1e);
    }
    for (int k = 0; k < DIM; ++k) ROW_ADD(l1 + k, neu1e[k]);
  }
  loss_out[worker] = loss;
}

#ifdef NEGATIVE

// ---- sgns_train -------------------------------------------------------------------------
//
// Each work-item walks its sentences as a stream of pairs, kept three pairs deep: pair p+2 is
// drawn (its negative-table slots prefetched), pair p+1 has its negatives looked up (its rows
// prefetched) and pair p is trained. Drawing ahead moves no draw: the stream consumes the RNG
// in the definition's order whatever the update does, so the pairs are exactly the
// sequential ones. A sentence's kept tokens (and their positions, for the learning rate) go
// to the host's scratch arrays at the sentence's own offsets: work-items share no scratch.
// Deeper pipelines (4-8 pairs in a ring) measured no faster on PoCL.

__attribute__((always_inline)) inline ulong splitmix64(ulong *state) {
  ulong z = (*state += 0x9E3779B97F4A7C15UL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
  return z ^ (z >> 31);
}

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
// x % size for x < 2^48 and size < 2^32 without a 64-bit division (tens of cycles, five per
// pair; measured in docs/DESIGN-NOTES.md): the double quotient is off by at most one, which the loops correct
// (they would for any error, only slower). 1/size is loop-invariant and hoisted.
__attribute__((always_inline)) inline uint table_slot(const ulong x, const ulong size) {
  long r = (long)x - (long)((double)x * (1.0 / (double)size)) * (long)size;
  while (r < 0) r += (long)size;
  while (r >= (long)size) r -= (long)size;
  return (uint)r;
}
#else
__attribute__((always_inline)) inline uint table_slot(const ulong x, const ulong size) {
  return (uint)(x % size);
}
#endif

typedef struct {
  ulong rng;
  int sentence, last_sentence;  // the next sentence to load, one past the work-item's last
  int current;                  // the loaded sentence
  int base, n_kept;             // its kept tokens: kept[base .. base + n_kept)
  int centre, centre_word;      // the current centre (index into the kept tokens)
  int j, j_end;                 // its next context, its last
  float alpha;                  // the centre's learning rate
#if SGNS_SHARED_NEGATIVES
  uint slot[NEGATIVE];  // the centre's negative-table slots, for each of its pairs
#endif
} PairStream;

typedef struct {
  int input, output, sentence;
  float alpha;
  uint slot[NEGATIVE];  // negative-table slots, looked up one stage later
} DrawnPair;

typedef struct {
  int input, output, sentence;
  float alpha;
  int negative[NEGATIVE];
} ReadyPair;

// Draw the stream's next pair; false once the work-item's sentences are exhausted (and on
// every later call).
__attribute__((always_inline)) inline bool next_pair(
    PairStream *s, DrawnPair *pair, __global const int *restrict tokens,
    __global const int *restrict bounds, __global const float *restrict keep_prob,
    __global int *restrict kept, __global int *restrict kept_pos, const ulong table_size,
    const uint window, const float alpha_start, const float alpha_slope) {
  for (;;) {
    if (s->j <= s->j_end) {  // the centre's next context
      const int j = s->j++;
      if (j == s->centre) continue;
      pair->input = kept[s->base + j];
      pair->output = s->centre_word;
      pair->alpha = s->alpha;
      pair->sentence = s->current;
#if SGNS_SHARED_NEGATIVES
      for (int k = 0; k < NEGATIVE; ++k) pair->slot[k] = s->slot[k];
#else
      for (int k = 0; k < NEGATIVE; ++k)
        pair->slot[k] = table_slot(splitmix64(&s->rng) >> 16, table_size);
#endif
      return true;
    }
    if (++s->centre < s->n_kept) {  // the next centre: draw its window
      const int b = 1 + (int)((uint)(splitmix64(&s->rng) >> 32) % window);
      s->j = s->centre > b ? s->centre - b : 0;
      s->j_end = s->centre + b < s->n_kept ? s->centre + b : s->n_kept - 1;
      s->centre_word = kept[s->base + s->centre];
      s->alpha = alpha_start + alpha_slope * (float)kept_pos[s->base + s->centre];
#if SGNS_SHARED_NEGATIVES
      for (int k = 0; k < NEGATIVE; ++k)
        s->slot[k] = table_slot(splitmix64(&s->rng) >> 16, table_size);
#endif
      continue;
    }
    if (s->sentence >= s->last_sentence) return false;
    // The next sentence: subsample it into the scratch arrays.
    const int lo = bounds[s->sentence], hi = bounds[s->sentence + 1];
    int n_kept = 0;
    for (int i = lo; i < hi; ++i) {
      const int word = tokens[i];
      const float p = keep_prob[word];
      // keep iff u / 2^24 < p for a 24-bit uniform u: both sides exact in float
      if (p < 1.0f && (float)(uint)(splitmix64(&s->rng) >> 40) >= p * 16777216.0f) continue;
      kept[lo + n_kept] = word;
      kept_pos[lo + n_kept] = i;
      ++n_kept;
    }
    s->current = s->sentence++;
    s->base = lo;
    s->n_kept = n_kept;
    s->centre = -1;
    s->j = 1;
    s->j_end = 0;
  }
}

__attribute__((always_inline)) inline void prefetch_slots(const DrawnPair *pair,
                                                          __global const int *restrict table) {
  for (int k = 0; k < NEGATIVE; ++k) SGNS_PREFETCH(table + pair->slot[k]);
}

__attribute__((always_inline)) inline void look_up(const DrawnPair *drawn, ReadyPair *ready,
                                                   __global const int *restrict table,
                                                   __global const float *restrict syn0,
                                                   __global const float *restrict syn1neg) {
  ready->input = drawn->input;
  ready->output = drawn->output;
  ready->sentence = drawn->sentence;
  ready->alpha = drawn->alpha;
  for (int k = 0; k < NEGATIVE; ++k) ready->negative[k] = table[drawn->slot[k]];
  sgns_prefetch_row(syn0 + (size_t)ready->input * DIM);
  sgns_prefetch_row(syn1neg + (size_t)ready->output * DIM);
  for (int k = 0; k < NEGATIVE; ++k) sgns_prefetch_row(syn1neg + (size_t)ready->negative[k] * DIM);
}

// A pair's targets all at once, when they are distinct rows (the caller checks): a row met
// twice must see its own first update and a negative equal to the output is skipped, so such
// pairs go target by target. The arithmetic is sgns_target's for each target in turn (a
// target's score reads only l1, which changes when the pair ends, and its own row), but in
// two passes over the dimension: every score, then every update. The NEGATIVE + 1 dot
// products then run side by side instead of each waiting for the one before, l1 is read
// once per pass instead of twice per target, and neu1e stays in registers: faster than the
// target-by-target loop on PoCL (measured: docs/word2vec-design.md). Only the order of each
// score's sum differs.
#define TARGETS (NEGATIVE + 1)

__attribute__((always_inline)) inline bool distinct_targets(const int output,
                                                            const int *negative) {
  for (int a = 0; a < NEGATIVE; ++a) {
    if (negative[a] == output) return false;
    for (int b = a + 1; b < NEGATIVE; ++b)
      if (negative[a] == negative[b]) return false;
  }
  return true;
}

// The update pass at dimension k, one piece of TYPE (float8, float4 or float) wide: every
// target's row moves along l1 and adds to neu1e, then l1 moves by neu1e.
#define LOAD1(p) (*(p))
#define STORE1(v, p) (*(p) = (v))
#define SGNS_PAIR_UPDATE(TYPE, LOAD, STORE)              \
  {                                                      \
    const TYPE x = LOAD(l1 + k);                         \
    TYPE neu1e = (TYPE)(0.0f);                           \
    for (int t = 0; t < TARGETS; ++t) {                  \
      const TYPE v = LOAD(row[t] + k);                   \
      neu1e += g[t] * v;                                 \
      STORE(v + g[t] * x, row[t] + k);                   \
    }                                                    \
    STORE(x + neu1e, l1 + k);                            \
  }

__attribute__((always_inline)) inline float sgns_pair(__global float *restrict l1,
                                                      __global float *restrict syn1neg,
                                                      const int output, const int *negative,
                                                      const float alpha) {
  __global float *row[TARGETS];
  row[0] = syn1neg + (size_t)output * DIM;
  for (int t = 1; t < TARGETS; ++t) row[t] = syn1neg + (size_t)negative[t - 1] * DIM;
  float8 acc[TARGETS];
  for (int t = 0; t < TARGETS; ++t) acc[t] = (float8)(0.0f);
  int k = 0;
  for (; k + 8 <= DIM; k += 8) {
    const float8 x = LOAD8(l1 + k);
    for (int t = 0; t < TARGETS; ++t) acc[t] += x * LOAD8(row[t] + k);
  }
  float score[TARGETS];
  for (int t = 0; t < TARGETS; ++t) {
    float4 acc4 = acc[t].lo + acc[t].hi;
    if (k + 4 <= DIM) acc4 += LOAD4(l1 + k) * LOAD4(row[t] + k);
    score[t] = (acc4.x + acc4.y) + (acc4.z + acc4.w);
    for (int j = k + (k + 4 <= DIM ? 4 : 0); j < DIM; ++j) score[t] += l1[j] * row[t][j];
  }
  float g[TARGETS];
  float loss = 0.0f;
  for (int t = 0; t < TARGETS; ++t)
    g[t] = sgns_gradient(score[t], t == 0 ? 1.0f : 0.0f, alpha, &loss);
#if SGNS_ATOMIC_ROWS
  for (k = 0; k < DIM; ++k) {
    const float x = l1[k];
    float neu1e = 0.0f;
    for (int t = 0; t < TARGETS; ++t) {
      neu1e += g[t] * row[t][k];
      ROW_ADD(row[t] + k, g[t] * x);
    }
    ROW_ADD(l1 + k, neu1e);
  }
  return loss;
#endif
  for (k = 0; k + 8 <= DIM; k += 8) SGNS_PAIR_UPDATE(float8, LOAD8, STORE8);
  if (k + 4 <= DIM) {
    SGNS_PAIR_UPDATE(float4, LOAD4, STORE4);
    k += 4;
  }
  for (; k < DIM; ++k) SGNS_PAIR_UPDATE(float, LOAD1, STORE1);
  return loss;
}
#undef SGNS_PAIR_UPDATE

#ifndef SGNS_COUNTS  // 0: the caller needs no update counts (hogwild: nothing is reported)
#define SGNS_COUNTS 1
#endif
#if SGNS_ATOMIC_COUNTS  // several work-items: rows are shared
#define COUNT(counts, row) atomic_inc((counts) + (row))
#else
#define COUNT(counts, row) (++(counts)[row])
#endif

// bounds: sentence s is tokens [bounds[s], bounds[s+1]); groups: work-item w takes sentences
// [groups[w], groups[w+1]). loss_out: one sum per sentence (short float sums; the host adds
// them in float64); pairs_out: pairs trained per work-item.
__kernel void sgns_train(__global float *restrict syn0, __global float *restrict syn1neg,
                         __global const int *restrict tokens, __global const int *restrict bounds,
                         __global const int *restrict groups,
                         __global const float *restrict keep_prob,
                         __global const int *restrict table, const ulong table_size,
                         const int window, const float alpha_start, const float alpha_slope,
                         const ulong seed, __global int *counts0, __global int *counts1,
                         __global int *restrict kept, __global int *restrict kept_pos,
                         __global float *restrict loss_out, __global long *restrict pairs_out) {
  const int worker = get_global_id(0);
  PairStream stream;
  stream.rng = seed ^ ((ulong)worker * 0xD1B54A32D192ED03UL);
  stream.sentence = groups[worker];
  stream.last_sentence = groups[worker + 1];
  stream.current = -1;
  stream.base = stream.n_kept = stream.centre = stream.centre_word = 0;
  stream.j = 1;  // j > j_end: the first call loads a sentence
  stream.j_end = 0;
  stream.alpha = 0.0f;

#define NEXT_PAIR(pair)                                                                       \
  next_pair(&stream, &(pair), tokens, bounds, keep_prob, kept, kept_pos, table_size,          \
            (uint)window, alpha_start, alpha_slope)

  DrawnPair drawn;
  ReadyPair ready, pair;
  bool have_ready = NEXT_PAIR(drawn);
  if (have_ready) look_up(&drawn, &ready, table, syn0, syn1neg);
  bool have_drawn = have_ready && NEXT_PAIR(drawn);
  if (have_drawn) prefetch_slots(&drawn, table);

  float neu1e[DIM];
  float loss = 0.0f;
  int loss_sentence = have_ready ? ready.sentence : 0;
  long n_pairs = 0;
  while (have_ready) {
    pair = ready;
    have_ready = have_drawn;
    if (have_ready) {
      look_up(&drawn, &ready, table, syn0, syn1neg);
      have_drawn = NEXT_PAIR(drawn);
      if (have_drawn) prefetch_slots(&drawn, table);
    }

    if (pair.sentence != loss_sentence) {
      loss_out[loss_sentence] = loss;
      loss = 0.0f;
      loss_sentence = pair.sentence;
    }
    __global float *l1 = syn0 + (size_t)pair.input * DIM;
    if (distinct_targets(pair.output, pair.negative)) {
      loss += sgns_pair(l1, syn1neg, pair.output, pair.negative, pair.alpha);
    } else {  // target by target; a negative equal to the output is skipped
      for (int k = 0; k < DIM; ++k) neu1e[k] = 0.0f;
      loss += sgns_target(l1, syn1neg + (size_t)pair.output * DIM, 1.0f, pair.alpha, neu1e);
      for (int k = 0; k < NEGATIVE; ++k) {
        const int target = pair.negative[k];
        if (target != pair.output)
          loss += sgns_target(l1, syn1neg + (size_t)target * DIM, 0.0f, pair.alpha, neu1e);
      }
      for (int k = 0; k < DIM; ++k) ROW_ADD(l1 + k, neu1e[k]);
    }
#if SGNS_COUNTS
    COUNT(counts1, pair.output);
    for (int k = 0; k < NEGATIVE; ++k)
      if (pair.negative[k] != pair.output) COUNT(counts1, pair.negative[k]);
    COUNT(counts0, pair.input);
#endif
    ++n_pairs;
  }
#undef NEXT_PAIR
  if (n_pairs > 0) loss_out[loss_sentence] = loss;
  pairs_out[worker] = n_pairs;
}

#endif  // NEGATIVE
