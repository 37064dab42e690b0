// What does storing a copy of the output cost the attention launch itself?
//
// A probe, not part of the library. flashcore-scale's storing launches (out_copies into the
// peer's window) end 2-3% of the attention later than the plain launch, besides their last
// tiles' crossing (scaling/results/history/weak-tokens-sweep-h100x2/). This times one
// attention launch on GPU 0 (bf16, D=128, causal, 8 heads) four ways, in rounds interleaved:
//   none   - no copy;
//   local  - a copy into a second buffer on GPU 0;
//   peer   - a copy into a buffer on GPU 1 (peer access), GPU 1 idle;
//   both   - as peer, while GPU 1 runs the same launch storing into GPU 0 at the same time
//            (the two ranks of a weak-scaling run);
//   peer2  - two copies into two buffers on GPU 1 (twice the bytes over the link), GPU 1 idle.
// CUDA events on GPU 0's stream, median of the timed launches of each way (each timed launch
// follows an untimed one of the same way, as in flashcore-scale).
// With HOLD seconds (> 0), each way instead runs back to back for that long, its launches timed
// from one second in to its end by two events, and prints its wall-clock window
// ("hold WAY start T0 end T1 ms X"), so that nvidia-smi's log of power and SM clock can be
// matched to each way (is a copy's cost the SM clock the power cap takes, or cycles?).
//
// Build (from the repository root, after the library):
//   nvcc -O2 -std=c++17 -arch=sm_90a -Ic/include scaling/probes/copies-cost.cu -Lbuild -lflashcore \
//     -o build/copies-cost
// Run: LD_LIBRARY_PATH=build build/copies-cost B S [rounds] [HOLD]
// (scripts/copies-cost.sh runs it in hold mode with nvidia-smi's log and summarises.)
// On one GPU only none and local run (not in hold mode).
#include <cuda_runtime.h>
#include <flashcore.h>

#include "probe.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sys/time.h>
#include <vector>

namespace {

constexpr int kHeads = 8, kDim = 128, kReps = 20;

struct Rank {
  fc_context *ctx = nullptr;
  cudaStream_t st = nullptr;
  void *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr, *local = nullptr;
  void *peer_dst = nullptr;   // a buffer on the other GPU, written by this rank's copies
  void *peer_dst2 = nullptr;  // a second one (peer2)
};

double wall() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return tv.tv_sec + 1e-6 * tv.tv_usec;
}

void fill(void *p, size_t elems, uint32_t seed) {
  std::vector<uint16_t> h(elems);
  uint32_t x = seed | 1u;
  for (auto &e : h) {  // bf16 of either sign, magnitudes 0.125 to 0.5
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    e = (uint16_t)(((x >> 16) & 0x8000u) | (0x3E00u + ((x >> 8) & 0x1FFu)));
  }
  CK(cudaMemcpy(p, h.data(), elems * 2, cudaMemcpyHostToDevice));
}

void launch(Rank &r, int64_t B, int64_t S, void *copy, void *copy2 = nullptr) {
  fc_tensor q = fc_tensor_bshd(r.q, FC_DTYPE_BF16, B, S, kHeads, kDim);
  fc_tensor k = fc_tensor_bshd(r.k, FC_DTYPE_BF16, B, S, kHeads, kDim);
  fc_tensor v = fc_tensor_bshd(r.v, FC_DTYPE_BF16, B, S, kHeads, kDim);
  fc_tensor o = fc_tensor_bshd(r.out, FC_DTYPE_BF16, B, S, kHeads, kDim);
  fc_attn_options opt = FC_ATTN_OPTIONS_INIT;
  opt.causal = 1;
  void *copies[2] = {copy, copy2};
  if (copy) opt.out_copies = copies, opt.num_out_copies = copy2 ? 2 : 1;
  if (fc_attention_forward(r.ctx, &q, &k, &v, &o, nullptr, &opt, r.st) != FC_SUCCESS) {
    fprintf(stderr, "fc_attention_forward: %s\n", fc_last_error(r.ctx));
    exit(1);
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s B S [rounds] [HOLD]\n", argv[0]);
    return 2;
  }
  const int64_t B = atoll(argv[1]), S = atoll(argv[2]);
  const int rounds = argc > 3 ? atoi(argv[3]) : 3;
  const double hold = argc > 4 ? atof(argv[4]) : 0.0;
  if (B < 1 || S < 1 || rounds < 1 || !(hold >= 0.0) || hold > 60.0) {
    fprintf(stderr, "B, S and rounds must be positive, HOLD 0 to 60 seconds\n");
    return 2;
  }
  // One GPU: none and local only (the ways that need no peer).
  int gpus = 0;
  CK(cudaGetDeviceCount(&gpus));
  const bool pair = gpus >= 2;
  if (pair) {
    if (int rc = open_peer_pair()) return rc;
  } else if (gpus < 1 || hold > 0) {
    printf(gpus < 1 ? "needs a GPU\n" : "hold mode needs 2 GPUs\n");
    return 1;
  }
  const size_t elems = (size_t)(B * S * kHeads * kDim);
  Rank rk[2];
  for (int d = 0; d < (pair ? 2 : 1); d++) {
    CK(cudaSetDevice(d));
    if (fc_context_create(d, &rk[d].ctx) != FC_SUCCESS) {
      fprintf(stderr, "fc_context_create(%d): %s\n", d, fc_last_error(nullptr));
      return 1;
    }
    CK(cudaStreamCreateWithFlags(&rk[d].st, cudaStreamNonBlocking));
    for (void **p : {&rk[d].q, &rk[d].k, &rk[d].v, &rk[d].out, &rk[d].local, &rk[d].peer_dst, &rk[d].peer_dst2})
      CK(cudaMalloc(p, elems * 2));
    fill(rk[d].q, elems, 11u + d), fill(rk[d].k, elems, 22u + d), fill(rk[d].v, elems, 33u + d);
  }
  // rank d's copies go into the buffer allocated on the other GPU
  void *to_peer[2] = {rk[1].peer_dst, rk[0].peer_dst};
  const int kWays = pair ? 5 : 2;
  const char *names[5] = {"none", "local", "peer", "both", "peer2"};
  std::vector<float> t[5];
  std::vector<cudaEvent_t> ev(2 * kReps);
  CK(cudaSetDevice(0));
  for (auto &e : ev) CK(cudaEventCreate(&e));
  // about 200 launches of warm-up on both GPUs
  for (int i = 0; i < 200; i++) {
    CK(cudaSetDevice(0));
    launch(rk[0], B, S, nullptr);
    if (!pair) continue;
    CK(cudaSetDevice(1));
    launch(rk[1], B, S, nullptr);
  }
  for (int d = 0; d < (pair ? 2 : 1); d++) {
    CK(cudaSetDevice(d));
    CK(cudaDeviceSynchronize());
  }
  if (hold > 0) {
    char bus[2][32];
    for (int d = 0; d < 2; d++) CK(cudaDeviceGetPCIBusId(bus[d], sizeof bus[d], d));
    printf("B=%lld S=%lld H=%d D=%d causal, hold %.1f s a way, GPU 0 %s, GPU 1 %s\n", (long long)B,
           (long long)S, kHeads, kDim, hold, bus[0], bus[1]);
    cudaEvent_t e0, e1, mark[16];
    CK(cudaSetDevice(0));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (auto &m : mark) CK(cudaEventCreateWithFlags(&m, cudaEventDisableTiming));
    for (int round = 0; round < rounds; round++)
      for (int way = 0; way < kWays; way++) {
        void *copy = way == 0 ? nullptr : way == 1 ? rk[0].local : to_peer[0];
        void *copy2 = way == 4 ? rk[1].peer_dst2 : nullptr;
        const double t0 = wall();
        long n = 0, n0 = -1;
        bool marked = false;
        while (wall() - t0 < hold) {
          if (way == 3) {
            CK(cudaSetDevice(1));
            launch(rk[1], B, S, to_peer[1]);
          }
          CK(cudaSetDevice(0));
          if (!marked && wall() - t0 >= 1.0) {
            CK(cudaEventRecord(e0, rk[0].st));
            marked = true, n0 = n;
          }
          launch(rk[0], B, S, copy, copy2);
          // Keep the host 8 launches ahead on GPU 0, never further, with no gap on the GPU.
          CK(cudaEventRecord(mark[n % 16], rk[0].st));
          if (n >= 8) CK(cudaEventSynchronize(mark[(n - 8) % 16]));
          n++;
        }
        CK(cudaSetDevice(0));
        CK(cudaEventRecord(e1, rk[0].st));
        CK(cudaStreamSynchronize(rk[0].st));
        const double t1 = wall();
        float ms = 0;
        if (marked) CK(cudaEventElapsedTime(&ms, e0, e1));
        CK(cudaSetDevice(1));
        CK(cudaDeviceSynchronize());
        printf("hold %-6s start %.3f end %.3f launches %ld ms %.4f\n", names[way], t0, t1, n,
               marked && n > n0 ? ms / (double)(n - n0) : 0.0);
        fflush(stdout);
      }
    return 0;
  }
  // Each way's launches go back to back (no host wait between them), as in a sustained run.
  for (int round = 0; round < rounds; round++)
    for (int way = 0; way < kWays; way++) {
      void *copy = way == 0 ? nullptr : way == 1 ? rk[0].local : to_peer[0];
      void *copy2 = way == 4 ? rk[1].peer_dst2 : nullptr;
      for (int rep = 0; rep < kReps; rep++)
        for (int timed = 0; timed < 2; timed++) {
          if (way == 3) {
            CK(cudaSetDevice(1));
            launch(rk[1], B, S, to_peer[1]);
          }
          CK(cudaSetDevice(0));
          if (timed) CK(cudaEventRecord(ev[2 * rep], rk[0].st));
          launch(rk[0], B, S, copy, copy2);
          if (timed) CK(cudaEventRecord(ev[2 * rep + 1], rk[0].st));
        }
      CK(cudaSetDevice(0));
      CK(cudaStreamSynchronize(rk[0].st));
      for (int rep = 0; rep < kReps; rep++) {
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, ev[2 * rep], ev[2 * rep + 1]));
        t[way].push_back(ms);
      }
      if (!pair) continue;
      CK(cudaSetDevice(1));
      CK(cudaDeviceSynchronize());
    }
  printf("B=%lld S=%lld H=%d D=%d causal, GPU 0, median of %d launches a way (%d rounds of %d)\n",
         (long long)B, (long long)S, kHeads, kDim, rounds * kReps, rounds, kReps);
  std::sort(t[0].begin(), t[0].end());
  const double base = t[0][t[0].size() / 2];
  for (int way = 0; way < kWays; way++) {
    std::sort(t[way].begin(), t[way].end());
    const double med = t[way][t[way].size() / 2];
    printf("%-6s %.4f ms  %+.2f%%  (min %.4f, max %.4f)\n", names[way], med, 100 * (med / base - 1),
           t[way].front(), t[way].back());
  }
  return 0;
}
