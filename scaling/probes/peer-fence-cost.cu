// What a fence costs a CTA whose stores went to the peer GPU.
//
// A probe, not part of the library. A grid of one CTA per tile (an SM each, held by its
// shared memory, as the sm90 kernels are) writes tiles of 32 KB of output to the peer GPU's
// memory with 16-byte thread stores, then, by mode:
//   none  - exits;
//   gpu   - one thread fences at GPU scope (__threadfence) after the CTA's barrier;
//   sys   - one thread fences at system scope (__threadfence_system), as the COPIES kernels
//           with out_signals do;
//   last  - gpu, then a ticket from a counter in local memory; the CTA that takes the last
//           ticket fences at system scope and adds the grid's rows to a counter on the peer.
// CUDA events, median of the timed launches; both GPUs write to each other at once.
//
// Build: nvcc -O2 -std=c++17 -arch=sm_90a peer-fence-cost.cu -o peer-fence-cost
#include <cuda_runtime.h>

#include "probe.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>


constexpr int kTileBytes = 32 * 1024, kThreads = 384, kSmem = 200 * 1024;
enum Mode { NONE, GPU, SYS, LAST };
static const char *kName[] = {"none", "gpu", "sys", "last"};

__global__ void __launch_bounds__(kThreads) k_tile(char *dst, int mode, unsigned *ticket, unsigned *peer_count,
                                                   int spin) {
  extern __shared__ char smem[];  // held, not used: one CTA an SM
  // Some work before the stores, so CTAs end at different times as attention tiles do.
  long long t0 = clock64();
  while (clock64() - t0 < spin) {
  }
  uint4 *d = reinterpret_cast<uint4 *>(dst + (size_t)blockIdx.x * kTileBytes);
  const uint4 v = make_uint4(blockIdx.x, threadIdx.x, 7u, smem[0] * 0u + 9u);
  for (int i = threadIdx.x; i < kTileBytes / 16; i += blockDim.x) d[i] = v;
  if (mode == NONE) return;
  __syncthreads();
  if (threadIdx.x != 0) return;
  if (mode == SYS) {
    __threadfence_system();
    return;
  }
  __threadfence();
  if (mode == LAST && atomicAdd(ticket, 1u) == gridDim.x - 1) {
    __threadfence_system();
    atomicAdd_system(peer_count, gridDim.x);
    *ticket = 0;
  }
}

int main() {
  if (int e = open_peer_pair()) return e == 1 ? 0 : 1;
  const int ctas = 528;  // 4 waves of 132
  const size_t bytes = (size_t)ctas * kTileBytes;
  char *buf[2];
  unsigned *ticket[2], *count[2];
  cudaStream_t st[2];
  cudaEvent_t a[2], b[2];
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  for (int d = 0; d < 2; d++) {
    CK(cudaSetDevice(d));
    CK(cudaFuncSetAttribute(k_tile, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    CK(cudaMalloc(&buf[d], 2 * bytes));
    CK(cudaMalloc(&ticket[d], 4));
    CK(cudaMalloc(&count[d], 4));
    CK(cudaMemset(ticket[d], 0, 4));
    CK(cudaMemset(count[d], 0, 4));
    CK(cudaStreamCreateWithFlags(&st[d], cudaStreamNonBlocking));
    CK(cudaEventCreate(&a[d]));
    CK(cudaEventCreate(&b[d]));
  }
  printf("# %s: %d CTAs of %d threads, one an SM, each 32 KB of 16-byte stores, then the mode\n", prop.name, ctas,
         kThreads);
  printf("%-6s %-5s %-8s %9s\n", "target", "mode", "spin", "ms");
  for (int target = 0; target < 2; target++)
    for (int spin : {0, 20000})
      for (int m = 0; m < 4; m++) {
        std::vector<float> t;
        for (int r = 0; r < 45; r++) {
          for (int d = 0; d < 2; d++) {
            CK(cudaSetDevice(d));
            CK(cudaDeviceSynchronize());
          }
          for (int d = 0; d < 2; d++) {
            CK(cudaSetDevice(d));
            char *dst = target == 0 ? buf[1 - d] : buf[d] + bytes;
            CK(cudaEventRecord(a[d], st[d]));
            k_tile<<<ctas, kThreads, kSmem, st[d]>>>(dst, m, ticket[d], count[1 - d], spin);
            CK(cudaGetLastError());
            CK(cudaEventRecord(b[d], st[d]));
          }
          float worst = 0;
          for (int d = 0; d < 2; d++) {
            CK(cudaSetDevice(d));
            CK(cudaEventSynchronize(b[d]));
            float ms;
            CK(cudaEventElapsedTime(&ms, a[d], b[d]));
            worst = std::max(worst, ms);
          }
          if (r >= 5) t.push_back(worst);
        }
        std::sort(t.begin(), t.end());
        printf("%-6s %-5s %-8d %9.4f\n", target ? "own" : "peer", kName[m], spin, t[t.size() / 2]);
      }
  unsigned c[2];
  for (int d = 0; d < 2; d++) {
    CK(cudaSetDevice(d));
    CK(cudaMemcpy(&c[d], count[d], 4, cudaMemcpyDeviceToHost));
  }
  printf("# counters: %u and %u (4 x 45 x %d = %d expected from the last-ticket runs)\n", c[0], c[1], ctas, 4 * 45 * ctas);
  return 0;
}
