/* temporary probe driver: runs one problem with the trace variant and prints its trace */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "flashcore.h"
int main(int argc, char **argv) {
  int64_t B = atoi(argv[1]), S = atoi(argv[2]), H = atoi(argv[3]), D = atoi(argv[4]);
  fc_context *ctx;
  if (fc_context_create(0, &ctx)) return 1;
  size_t n = (size_t)(B * S * H * D);
  uint16_t *h = malloc(2 * n);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) { x ^= x << 13, x ^= x >> 7, x ^= x << 17; h[i] = (uint16_t)(0x3c00 | (x & 0x3ff)) ^ (uint16_t)((x >> 20) & 0x8000); }
  void *q, *k, *v, *o; float *lse;
  cudaMalloc(&q, 2 * n); cudaMalloc(&k, 2 * n); cudaMalloc(&v, 2 * n); cudaMalloc(&o, 2 * n);
  cudaMalloc((void **)&lse, 4 * (size_t)(B * S * H));
  cudaMemcpy(q, h, 2 * n, cudaMemcpyHostToDevice); cudaMemcpy(k, h, 2 * n, cudaMemcpyHostToDevice); cudaMemcpy(v, h, 2 * n, cudaMemcpyHostToDevice);
  fc_tensor tq = fc_tensor_bshd(q, FC_DTYPE_BF16, B, S, H, D), tk = fc_tensor_bshd(k, FC_DTYPE_BF16, B, S, H, D);
  fc_tensor tv = fc_tensor_bshd(v, FC_DTYPE_BF16, B, S, H, D), to = fc_tensor_bshd(o, FC_DTYPE_BF16, B, S, H, D);
  fc_tensor tl = fc_tensor_bshd(lse, FC_DTYPE_F32, B, S, H, 1);
  for (int r = 0; r < 20; r++) {
    cudaMemset(lse, 0, 4 * (size_t)(B * S * H));
    if (fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, NULL, NULL)) { printf("%s\n", fc_last_error(ctx)); return 1; }
  }
  cudaDeviceSynchronize();
  unsigned *t = malloc(4 * 132 * 8 * 4);
  cudaMemcpy(t, lse, 4 * 132 * 8 * 4, cudaMemcpyDeviceToHost);
  unsigned t0 = 0xffffffffu, tend = 0;
  for (int c = 0; c < 132; c++) if (t[c * 32] && t[c * 32] < t0) t0 = t[c * 32];
  for (int c = 0; c < 132; c++) {
    printf("cta %3d:", c);
    for (int i = 0; i < 8; i++) {
      unsigned *e = t + (c * 8 + i) * 4;
      if (!e[0]) break;
      if (e[2] - t0 > tend) tend = e[2] - t0;
      if (e[3] & 0x80000000u) printf(" [W%u %u %u %u]", e[3] & 0xffff, e[0] - t0, e[1] - t0, e[2] - t0);
      else printf(" [P a%u n%u c%u %s %u %u %u]", e[3] & 1023, (e[3] >> 10) & 1023, e[3] >> 20, (e[2] & 1) ? "wr" : "mg", e[0] - t0, e[1] - t0, e[2] - t0);
    }
    printf("\n");
  }
  printf("end %u ns\n", tend);
  return 0;
}
