// Row operations of word2vec's exchange (Backend.add_scaled_rows, subtract_rows and
// apply_rows in base.py, whose numpy versions are the reference) on rows of DIM floats:
// work-item w takes rows w, w + workers, ... of the n (the host runs one work-item, see
// ROW_WORKERS). One pass over each row, where numpy makes several over all of them. They
// must give the reference's values bit for bit, so this file is built without
// -cl-fast-relaxed-math and with contraction off: no a + b * c fused into one rounding
// where numpy rounds twice.
#pragma OPENCL FP_CONTRACT OFF

// dst[rows[j]] += src[j] * scale[j] (SCALED) or += src[j]; the new row is also written
// to src[j].
__kernel void add_scaled_rows(__global float *restrict dst, __global const int *restrict rows,
                              __global float *restrict src,
                              __global const float *restrict scale, const uint n) {
  for (size_t j = get_global_id(0); j < n; j += get_global_size(0)) {
    __global float *d = dst + (size_t)rows[j] * DIM;
    __global float *s = src + j * DIM;
#if SCALED
    const float w = scale[j];
    for (int k = 0; k < DIM; ++k) s[k] = d[k] = d[k] + s[k] * w;
#else
    for (int k = 0; k < DIM; ++k) s[k] = d[k] = d[k] + s[k];
#endif
  }
}

// out[j] = a[rows[j]] - b[rows[j]]
__kernel void subtract_rows(__global float *restrict out, __global const float *restrict a,
                            __global const float *restrict b, __global const int *restrict rows,
                            const uint n) {
  for (size_t j = get_global_id(0); j < n; j += get_global_size(0)) {
    const size_t r = (size_t)rows[j] * DIM;
    for (int k = 0; k < DIM; ++k) out[j * DIM + k] = a[r + k] - b[r + k];
  }
}

// base[rows[j]] = values[j]; matrix[rows[j]] = values[j], plus the row's own change
// (matrix - base, before the call) where pending[rows[j]] != 0 (PENDING).
__kernel void apply_rows(__global float *restrict matrix, __global float *restrict base,
                         __global const int *restrict rows,
                         __global const float *restrict values,
                         __global const int *restrict pending, const uint n) {
  for (size_t j = get_global_id(0); j < n; j += get_global_size(0)) {
    const size_t r = (size_t)rows[j] * DIM;
    __global const float *v = values + j * DIM;
#if PENDING
    if (pending[rows[j]]) {
      for (int k = 0; k < DIM; ++k) {
        const float own = matrix[r + k] - base[r + k];
        matrix[r + k] = v[k] + own;
        base[r + k] = v[k];
      }
      continue;
    }
#endif
    for (int k = 0; k < DIM; ++k) matrix[r + k] = base[r + k] = v[k];
  }
}
