// C = A @ B on packed, padded operands; one work-item computes an MR x NR block of C.
//
// The host packs op(A) into row panels laid out [panel][k][MR] and op(B) into column panels
// laid out [panel][k][NR] (zero padded), so the inner loop reads both operands contiguously
// and handles transposes and ragged edges for free. Each step of k is MR broadcasts of A and
// two float8 loads of B feeding 12 float8 accumulators: the register-blocked microkernel of
// BLIS-style GEMM, which LLVM (PoCL) compiles to AVX2 FMAs with accumulators in registers.
//
// Note for PoCL: builtins such as fma/mad/vload8 are out-of-line calls there and force the
// accumulators to the stack, so the loop uses plain `*`/`+` (contracted to FMA under
// -cl-fast-relaxed-math) and aligned vector pointer casts (host buffers are 128-byte aligned).

#define MR 6
#define NR 16

__kernel void gemm_packed(const int K, __global const float *restrict a_packed,
                          __global const float *restrict b_packed, __global float *restrict c,
                          const int ldc) {
  const int col_panel = get_global_id(0);
  const int row_panel = get_global_id(1);
  const __global float *a = a_packed + (size_t)row_panel * K * MR;
  const __global float8 *b = (const __global float8 *)(b_packed + (size_t)col_panel * K * NR);

  float8 acc[2 * MR];
#pragma unroll
  for (int r = 0; r < 2 * MR; ++r) acc[r] = 0.0f;

  for (int k = 0; k < K; ++k) {
    const float8 b0 = b[2 * k], b1 = b[2 * k + 1];
#pragma unroll
    for (int r = 0; r < MR; ++r) {
      const float8 a_rk = (float8)(a[k * MR + r]);
      acc[2 * r] += a_rk * b0;
      acc[2 * r + 1] += a_rk * b1;
    }
  }

#pragma unroll
  for (int r = 0; r < MR; ++r) {
    __global float8 *c_row = (__global float8 *)(c + (size_t)(row_panel * MR + r) * ldc
                                                   + col_panel * NR);
    c_row[0] = acc[2 * r];
    c_row[1] = acc[2 * r + 1];
  }
}
