// Elementwise and row-wise kernels: bias + activation, activation derivatives, the LSTM cell
// (forward and backward over one timestep) and fused softmax + cross-entropy.
// Matrices are row-major float32; 2-D kernels use get_global_id(0) for the column (the
// contiguous axis, so PoCL vectorises across work-items) and get_global_id(1) for the row.
// Row-wise sums accumulate in double.

#define ACT_LINEAR 0
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3

inline float sigmoid_f(const float x) {
  // Split by sign so exp never overflows.
  if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
  const float e = exp(x);
  return e / (1.0f + e);
}

inline float activate(const float x, const int activation) {
  switch (activation) {
    case ACT_SIGMOID: return sigmoid_f(x);
    case ACT_TANH: return tanh(x);
    case ACT_RELU: return fmax(x, 0.0f);
    default: return x;
  }
}

__kernel void bias_activation(__global const float *z, __global const float *bias,
                              const int use_bias, const int activation, const int n,
                              __global float *y) {
  const int col = get_global_id(0), row = get_global_id(1);
  const size_t at = (size_t)row * n + col;
  y[at] = activate(z[at] + (use_bias ? bias[col] : 0.0f), activation);
}

__kernel void bias_softmax(__global const float *z, __global const float *bias,
                           const int use_bias, const int n, __global float *y) {
  const int row = get_global_id(0);
  const __global float *z_row = z + (size_t)row * n;
  __global float *y_row = y + (size_t)row * n;
  float peak = -INFINITY;
  for (int j = 0; j < n; ++j) {
    y_row[j] = z_row[j] + (use_bias ? bias[j] : 0.0f);
    peak = fmax(peak, y_row[j]);
  }
  double total = 0.0;
  for (int j = 0; j < n; ++j) {
    y_row[j] = exp(y_row[j] - peak);
    total += y_row[j];
  }
  const float scale = (float)(1.0 / total);
  for (int j = 0; j < n; ++j) y_row[j] *= scale;
}

__kernel void activation_backward(__global const float *grad_out, __global const float *y,
                                  const int activation, __global float *grad_in) {
  const size_t at = get_global_id(0);
  const float g = grad_out[at], v = y[at];
  float d;
  switch (activation) {
    case ACT_SIGMOID: d = g * v * (1.0f - v); break;
    case ACT_TANH: d = g * (1.0f - v * v); break;
    case ACT_RELU: d = v > 0.0f ? g : 0.0f; break;
    default: d = g;
  }
  grad_in[at] = d;
}

__kernel void softmax_backward(__global const float *grad_out, __global const float *y,
                               const int n, __global float *grad_in) {
  const size_t base = (size_t)get_global_id(0) * n;
  double dot = 0.0;
  for (int j = 0; j < n; ++j) dot += grad_out[base + j] * y[base + j];
  const float s = (float)dot;
  for (int j = 0; j < n; ++j) grad_in[base + j] = y[base + j] * (grad_out[base + j] - s);
}

// z: (B, 4H) pre-activations [i, f, g, o]; c_prev, h, c: (B, H); gates: (B, 4H) activated.
__kernel void lstm_cell_forward(__global const float *z, __global const float *c_prev,
                                const int H, __global float *h, __global float *c,
                                __global float *gates) {
  const int j = get_global_id(0), b = get_global_id(1);
  const size_t zb = (size_t)b * 4 * H, cb = (size_t)b * H + j;
  const float i = sigmoid_f(z[zb + j]);
  const float f = sigmoid_f(z[zb + H + j]);
  const float g = tanh(z[zb + 2 * H + j]);
  const float o = sigmoid_f(z[zb + 3 * H + j]);
  const float c_new = f * c_prev[cb] + i * g;
  gates[zb + j] = i;
  gates[zb + H + j] = f;
  gates[zb + 2 * H + j] = g;
  gates[zb + 3 * H + j] = o;
  c[cb] = c_new;
  h[cb] = o * tanh(c_new);
}

__kernel void lstm_cell_backward(__global const float *dh, __global const float *dc,
                                 __global const float *c_prev, __global const float *c,
                                 __global const float *gates, const int H,
                                 __global float *dz, __global float *dc_prev) {
  const int j = get_global_id(0), b = get_global_id(1);
  const size_t zb = (size_t)b * 4 * H, cb = (size_t)b * H + j;
  const float i = gates[zb + j], f = gates[zb + H + j];
  const float g = gates[zb + 2 * H + j], o = gates[zb + 3 * H + j];
  const float tanh_c = tanh(c[cb]);
  const float dh_j = dh[cb];
  const float dc_total = dc[cb] + dh_j * o * (1.0f - tanh_c * tanh_c);
  dz[zb + j] = dc_total * g * i * (1.0f - i);
  dz[zb + H + j] = dc_total * c_prev[cb] * f * (1.0f - f);
  dz[zb + 2 * H + j] = dc_total * i * (1.0f - g * g);
  dz[zb + 3 * H + j] = dh_j * tanh_c * o * (1.0f - o);
  dc_prev[cb] = dc_total * f;
}

// One work-item per row: losses[row] = logsumexp(logits) - logits[label];
// dlogits = softmax(logits) - onehot(label).
__kernel void softmax_cross_entropy(__global const float *logits, __global const int *labels,
                                    const int V, __global float *losses,
                                    __global float *dlogits) {
  const int row = get_global_id(0);
  const __global float *x = logits + (size_t)row * V;
  __global float *d = dlogits + (size_t)row * V;
  float peak = -INFINITY;
  for (int j = 0; j < V; ++j) peak = fmax(peak, x[j]);
  double total = 0.0;
  for (int j = 0; j < V; ++j) {
    d[j] = exp(x[j] - peak);
    total += d[j];
  }
  const float scale = (float)(1.0 / total);
  for (int j = 0; j < V; ++j) d[j] *= scale;
  const int label = labels[row];
  losses[row] = (float)(log(total) - (double)(x[label] - peak));
  d[label] -= 1.0f;
}
