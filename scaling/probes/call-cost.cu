// What does one fc_attention_forward call cost the calling thread?
//
// A probe, not part of the library. Each call validates its arguments (the memory kind and GPU
// of every pointer, the stream's GPU), selects a kernel and enqueues it; this measures that
// host time, not the GPU's. For each of four calls (B=1, H=8, Sq=Sk=128, D=128, bf16, so the
// kernel is short) it enqueues `calls` calls back to back on the stream and times the loop
// with the host clock, after a warm-up and with the queue drained before each round; the
// median over `rounds` rounds of the time per call is printed:
//   null         - the legacy default stream (NULL);
//   stream       - a stream of the context's GPU;
//   varlen       - the same rows as one variable-length batch of one sequence, on that stream;
//   decode       - Sq = 1, H = 8, Hk = 2 (a GQA decode, folded into rows), on that stream.
// Run it against two builds of the library (LD_LIBRARY_PATH) to compare their host cost.
//
// Build (from the repository root, after the library):
//   nvcc -O2 -std=c++17 -arch=sm_90a -Ic/include scaling/probes/call-cost.cu -Lbuild -lflashcore \
//     -o build/call-cost
// Run: LD_LIBRARY_PATH=build build/call-cost [calls] [rounds]
#include <cuda_runtime.h>
#include <flashcore.h>

#include "probe.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int64_t kS = 128, kH = 8, kD = 128;

struct Call {
  const char *name;
  fc_tensor q, k, v, o;
  fc_attn_options opts;
  cudaStream_t stream;
};

double per_call_us(fc_context *ctx, Call &c, int calls) {
  CK(cudaDeviceSynchronize());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; i++) {
    const fc_status st = fc_attention_forward(ctx, &c.q, &c.k, &c.v, &c.o, nullptr, &c.opts, c.stream);
    if (st != FC_SUCCESS) {
      fprintf(stderr, "%s: %s: %s\n", c.name, fc_status_string(st), fc_last_error(ctx));
      exit(1);
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  CK(cudaDeviceSynchronize());
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / calls;
}

}  // namespace

int main(int argc, char **argv) {
  const int calls = argc > 1 ? atoi(argv[1]) : 200, rounds = argc > 2 ? atoi(argv[2]) : 15;
  if (calls < 1 || calls > 100000 || rounds < 1 || rounds > 1000) {
    fprintf(stderr, "usage: call-cost [calls 1..100000] [rounds 1..1000]\n");
    return 2;
  }
  fc_context *ctx = nullptr;
  if (fc_context_create(0, &ctx) != FC_SUCCESS) {
    fprintf(stderr, "fc_context_create(0): %s\n", fc_last_error(nullptr));
    return 1;
  }
  const size_t n = (size_t)(kS * kH * kD);
  std::vector<uint16_t> host(n);
  uint64_t s = 88172645463325252ull;
  for (auto &x : host) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    x = (uint16_t)(0x3c00 | (s & 0x3ff));
  }
  void *q, *k, *v, *o;
  int32_t *cu;
  CK(cudaMalloc(&q, 2 * n));
  CK(cudaMalloc(&k, 2 * n));
  CK(cudaMalloc(&v, 2 * n));
  CK(cudaMalloc(&o, 2 * n));
  CK(cudaMalloc((void **)&cu, 2 * sizeof(int32_t)));
  for (void *p : {q, k, v}) CK(cudaMemcpy(p, host.data(), 2 * n, cudaMemcpyHostToDevice));
  const int32_t offsets[2] = {0, (int32_t)kS};
  CK(cudaMemcpy(cu, offsets, sizeof offsets, cudaMemcpyHostToDevice));
  cudaStream_t stream;
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  std::vector<Call> list;
  const fc_tensor t = fc_tensor_bshd(q, FC_DTYPE_BF16, 1, kS, kH, kD);
  Call plain{"null", t, fc_tensor_bshd(k, FC_DTYPE_BF16, 1, kS, kH, kD), fc_tensor_bshd(v, FC_DTYPE_BF16, 1, kS, kH, kD),
             fc_tensor_bshd(o, FC_DTYPE_BF16, 1, kS, kH, kD), FC_ATTN_OPTIONS_INIT, nullptr};
  plain.opts.causal = 1;
  list.push_back(plain);
  plain.name = "stream", plain.stream = stream;
  list.push_back(plain);
  Call varlen = plain;
  varlen.name = "varlen";
  varlen.opts.cu_seqlens_q = cu, varlen.opts.cu_seqlens_k = cu, varlen.opts.num_seqs = 1, varlen.opts.max_seqlen_q = kS;
  list.push_back(varlen);
  Call decode = plain;
  decode.name = "decode";
  decode.q = fc_tensor_bshd(q, FC_DTYPE_BF16, 1, 1, kH, kD);
  decode.o = fc_tensor_bshd(o, FC_DTYPE_BF16, 1, 1, kH, kD);
  decode.k = fc_tensor_bshd(k, FC_DTYPE_BF16, 1, kS, 2, kD);
  decode.v = fc_tensor_bshd(v, FC_DTYPE_BF16, 1, kS, 2, kD);
  decode.opts.causal = 0;
  list.push_back(decode);

  printf("host time per fc_attention_forward call, us (median of %d rounds of %d calls; %s)\n", rounds, calls,
         fc_version_string());
  for (Call &c : list) {
    per_call_us(ctx, c, calls);  // warm-up: kernels loaded, pools set up
    std::vector<double> us;
    for (int r = 0; r < rounds; r++) us.push_back(per_call_us(ctx, c, calls));
    std::sort(us.begin(), us.end());
    printf("%-8s %8.2f  (min %.2f, max %.2f)\n", c.name, us[us.size() / 2], us.front(), us.back());
  }
  CK(cudaStreamDestroy(stream));
  for (void *p : {q, k, v, o, (void *)cu}) CK(cudaFree(p));
  fc_context_destroy(ctx);
  return 0;
}
