// MLlib's document vectors (documents.py, whose numpy version is the reference): row r of
// out is the mean of table's rows ids[offsets[r]] .. ids[offsets[r + 1] - 1], each float
// widened to double and added in token order, exactly as MLlib's transform adds them (its
// axpy into a double vector, then a multiply by 1 / length): its values bit for bit. One
// pass over the gathered floats, where numpy gathers them into a buffer and reads it again.
// Work-item w takes rows w, w + workers, ... (the host runs one work-item: one core per
// Spark task). Built without -cl-fast-relaxed-math, contraction off, for that exactness.
#pragma OPENCL FP_CONTRACT OFF
#pragma OPENCL EXTENSION cl_khr_fp64 : enable

__kernel void document_means(__global double *restrict out,
                             __global const float *restrict table,
                             __global const int *restrict ids,
                             __global const long *restrict offsets, const uint n) {
  for (size_t r = get_global_id(0); r < n; r += get_global_size(0)) {
    double sum[DIM];
    for (int k = 0; k < DIM; ++k) sum[k] = 0.0;
    const long first = offsets[r], end = offsets[r + 1];
    for (long j = first; j < end; ++j) {
      __global const float *v = table + (size_t)ids[j] * DIM;
      for (int k = 0; k < DIM; ++k) sum[k] += (double)v[k];
    }
    const double scale = end > first ? 1.0 / (double)(end - first) : 0.0;
    for (int k = 0; k < DIM; ++k) out[r * DIM + k] = sum[k] * scale;
  }
}
