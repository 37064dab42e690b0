/* Where a persistent sm90 tile's time goes: runs the forward with the timing probe of branch
 * next/sm90-trace (FC_SM90_TRACE: each consumer warpgroup's thread 0 writes clock64 at 11
 * events of its first 24 tiles) and prints the median of each interval over tiles 2..21.
 *   tile-trace B H S D causal */
#include <cuda_runtime.h>
#include <flashcore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define TT 24
#define NE 12
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static double med(double *v, int n) { qsort(v, n, sizeof *v, cmp); return n ? v[n / 2] : 0; }
int main(int argc, char **argv) {
  int B = atoi(argv[1]), H = atoi(argv[2]), S = atoi(argv[3]), D = atoi(argv[4]), causal = atoi(argv[5]);
  size_t n = (size_t)B * S * H * D;
  uint16_t *h = malloc(2 * n);
  uint64_t x = 88172645463325252ull;
  void *q, *k, *v, *o;
  cudaMalloc(&q, 2 * n); cudaMalloc(&k, 2 * n); cudaMalloc(&v, 2 * n); cudaMalloc(&o, 2 * n);
  void *bufs[3] = {q, k, v};
  for (int t = 0; t < 3; t++) {
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      float f = (float)((x >> 40) * (1.0 / 8388608.0)) - 1.0f;
      uint32_t u; memcpy(&u, &f, 4); h[i] = (uint16_t)(u >> 16);
    }
    cudaMemcpy(bufs[t], h, 2 * n, cudaMemcpyHostToDevice);
  }
  int sms = 0; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  const int C = D == 64 ? 3 : 2;
  size_t tn = (size_t)sms * C * TT * NE;
  unsigned long long *tr; cudaMalloc((void **)&tr, tn * 8); cudaMemset(tr, 0, tn * 8);
  fc_context *ctx; if (fc_context_create(0, &ctx) != FC_SUCCESS) { printf("no context\n"); return 1; }
  fc_tensor tq = fc_tensor_bshd(q, FC_DTYPE_BF16, B, S, H, D), tk = fc_tensor_bshd(k, FC_DTYPE_BF16, B, S, H, D),
            tv = fc_tensor_bshd(v, FC_DTYPE_BF16, B, S, H, D), to = fc_tensor_bshd(o, FC_DTYPE_BF16, B, S, H, D);
  fc_attn_options a = FC_ATTN_OPTIONS_INIT; a.causal = causal;
  cudaStream_t st; cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  float ms[2][21];
  for (int pass = 0; pass < 2; pass++) {  /* 0: trace off, 1: on */
    if (pass) { char hex[32]; snprintf(hex, sizeof hex, "%llx", (unsigned long long)(uintptr_t)tr); setenv("FC_SM90_TRACE", hex, 1); }
    for (int r = -5; r < 21; r++) {
      cudaEventRecord(e0, st);
      if (fc_attention_forward(ctx, &tq, &tk, &tv, &to, NULL, &a, st) != FC_SUCCESS) { printf("forward: %s\n", fc_last_error(ctx)); return 1; }
      cudaEventRecord(e1, st);
      cudaStreamSynchronize(st);
      if (r >= 0) cudaEventElapsedTime(&ms[pass][r], e0, e1);
    }
  }
  double d0[21], d1[21]; for (int i = 0; i < 21; i++) d0[i] = ms[0][i], d1[i] = ms[1][i];
  printf("B=%d H=%d S=%d D=%d causal=%d: %.4f ms without the trace, %.4f with (median of 21)\n", B, H, S, D, causal, med(d0, 21), med(d1, 21));
  unsigned long long *t = malloc(tn * 8);
  cudaMemcpy(t, tr, tn * 8, cudaMemcpyDeviceToHost);
  static const char *name[] = {"tile handed over -> Q ready", "Q ready -> K0 ready", "K0 ready -> first turn",
                               "first turn -> Q K^T(0) done", "Q K^T(0) done -> softmax(0), P packed", "steady loop (all key tiles but the first)",
                               "loop end -> last P V's turn", "last turn -> last P V done", "last P V done -> finish() done",
                               "finish() -> output issued", "output issued -> next tile handed over", "whole tile (handed -> next handed)"};
  int cnt = sms * C * 20; double *v0 = malloc(sizeof(double) * cnt);
  double ghz = 0; { int m = 0; double *g = malloc(sizeof(double) * cnt);
    for (int c = 0; c < sms; c++) for (int w = 0; w < C; w++) {
      unsigned long long *a0 = t + ((size_t)(c * C + w) * TT + 2) * NE, *a1 = t + ((size_t)(c * C + w) * TT + 21) * NE;
      if (a0[0] && a1[0] && a1[11] > a0[11]) g[m++] = (double)(a1[0] - a0[0]) / (double)(a1[11] - a0[11]);
    }
    ghz = med(g, m); }
  printf("SM clock from clock64 / globaltimer: %.3f GHz\n", ghz);
  for (int iv = 0; iv < 12; iv++) {
    int m = 0;
    for (int c = 0; c < sms; c++) for (int w = 0; w < C; w++) for (int kk = 2; kk < 22; kk++) {
      unsigned long long *e = t + ((size_t)(c * C + w) * TT + kk) * NE, *nx = e + NE;
      unsigned long long a0, a1;
      if (iv < 10) a0 = e[iv], a1 = e[iv + 1];
      else if (iv == 10) a0 = e[10], a1 = nx[0];
      else a0 = e[0], a1 = nx[0];
      if (kk == 21 && iv >= 10) continue;
      if (a0 && a1 && a1 >= a0) v0[m++] = (double)(a1 - a0);
    }
    double md = med(v0, m);
    printf("  %-44s %8.0f cycles %7.3f us  (%d samples)\n", name[iv], md, md / (ghz * 1e3), m);
  }
  return 0;
}
