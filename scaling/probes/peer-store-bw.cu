// How fast can SMs push attention output into a peer GPU's memory?
//
// A probe, not part of the library. Every CTA of a persistent grid (one per SM) writes
// output tiles of 128 rows x 256 bytes (D=128 bf16) laid out as [tokens][heads][256 B]
// with 8 heads, the layout of flashcore's output, into a buffer on the peer GPU (or on its
// own GPU, for reference), by one of:
//   st    - each thread stores 16-byte chunks from registers (what the COPIES kernels do);
//   bulk  - one thread issues a cp.async.bulk shared->global copy per 256-byte row of a
//           tile staged once in shared memory (what a TMA store of the output would do);
//   ce    - cudaMemcpyAsync of the same number of contiguous bytes (the copy engines).
// Each case is timed alone and with both GPUs writing to each other at once (as the ranks
// of a weak-scaling run do). CUDA events, median of the timed launches.
//
// Build: nvcc -O2 -std=c++17 -arch=sm_90a peer-store-bw.cu -o peer-store-bw
#include <cuda_runtime.h>

#include "probe.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>


constexpr int kRows = 128, kRowBytes = 256, kHeads = 8;
constexpr int kTileBytes = kRows * kRowBytes;  // 32 KB

// Byte offset of row r of tile t: tiles go head-major, 128 tokens each.
__device__ __forceinline__ size_t row_offset(int t, int r, int tiles_per_head) {
  const int head = t / tiles_per_head, tok = (t % tiles_per_head) * kRows + r;
  return ((size_t)tok * kHeads + head) * kRowBytes;
}

__global__ void __launch_bounds__(256) k_st(char *dst, int tiles, int tiles_per_head) {
  const uint4 v = make_uint4(threadIdx.x, blockIdx.x, 7u, 9u);
  for (int t = blockIdx.x; t < tiles; t += gridDim.x)
    for (int i = threadIdx.x; i < kRows * (kRowBytes / 16); i += blockDim.x) {
      const int r = i / (kRowBytes / 16), c = i % (kRowBytes / 16);
      *reinterpret_cast<uint4 *>(dst + row_offset(t, r, tiles_per_head) + c * 16) = v;
    }
}

__global__ void __launch_bounds__(256) k_bulk(char *dst, int tiles, int tiles_per_head) {
  extern __shared__ __align__(128) char tile[];
  for (int i = threadIdx.x; i < kTileBytes / 16; i += blockDim.x)
    reinterpret_cast<uint4 *>(tile)[i] = make_uint4(i, blockIdx.x, 7u, 9u);
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(tile);
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
      for (int r = 0; r < kRows; r++)
        asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;\n" ::"l"(
                         dst + row_offset(t, r, tiles_per_head)),
                     "r"(s + r * kRowBytes), "r"(kRowBytes)
                     : "memory");
      asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
    }
    asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
  }
  __syncthreads();
}

enum Method { ST, BULK, CE };
static const char *kName[] = {"st", "bulk", "ce"};

struct Side {
  int dev;
  cudaStream_t s;
  cudaEvent_t a, b;
  char *dst;  // where this side writes (peer or own memory)
  char *src;  // ce: contiguous source on this side
};

static void launch(Side &x, Method m, int tiles, int sms) {
  const int tph = tiles / kHeads;
  CK(cudaSetDevice(x.dev));
  CK(cudaEventRecord(x.a, x.s));
  if (m == ST) k_st<<<std::min(sms, tiles), 256, 0, x.s>>>(x.dst, tiles, tph);
  else if (m == BULK) k_bulk<<<std::min(sms, tiles), 256, kTileBytes, x.s>>>(x.dst, tiles, tph);
  else CK(cudaMemcpyAsync(x.dst, x.src, (size_t)tiles * kTileBytes, cudaMemcpyDefault, x.s));
  CK(cudaGetLastError());
  CK(cudaEventRecord(x.b, x.s));
}

int main() {
  if (int e = open_peer_pair()) return e == 1 ? 0 : 1;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const int sms = prop.multiProcessorCount;
  const int max_tiles = 16 * 132;  // tiles a multiple of 8 heads
  const size_t bytes = (size_t)max_tiles * kTileBytes;
  Side side[2];
  char *own[2];
  for (int d = 0; d < 2; d++) {
    CK(cudaSetDevice(d));
    CK(cudaFuncSetAttribute(k_bulk, cudaFuncAttributeMaxDynamicSharedMemorySize, kTileBytes));
    CK(cudaMalloc(&own[d], 2 * bytes));  // [0, bytes): the peer writes here; then a local target
    CK(cudaMalloc(&side[d].src, bytes));
    CK(cudaMemset(side[d].src, 1, bytes));
    CK(cudaStreamCreateWithFlags(&side[d].s, cudaStreamNonBlocking));
    CK(cudaEventCreate(&side[d].a));
    CK(cudaEventCreate(&side[d].b));
    side[d].dev = d;
  }
  printf("# %s, %d SMs; tiles of 128 rows x 256 B at a stride of 8 rows (32 KB a tile)\n", prop.name, sms);
  printf("%-5s %-6s %-10s %7s %9s %9s %9s\n", "how", "target", "mode", "tiles", "MB", "ms", "GB/s");
  const int tile_counts[] = {128, 264, 1056, 2112};  // 1 (4 SMs idle), 2, 8, 16 tiles an SM
  const int reps = 40, warm = 5;
  for (int target = 0; target < 2; target++)  // 0: peer, 1: own memory
    for (int m = 0; m < 3; m++)
      for (int both = 0; both < 2; both++)
        for (int tiles : tile_counts) {
          for (int d = 0; d < 2; d++) side[d].dst = target == 0 ? own[1 - d] : own[d] + bytes;
          std::vector<float> t;
          for (int r = 0; r < warm + reps; r++) {
            for (int d = 0; d < 2; d++) {
              CK(cudaSetDevice(d));
              CK(cudaDeviceSynchronize());
            }
            launch(side[0], (Method)m, tiles, sms);
            if (both) launch(side[1], (Method)m, tiles, sms);
            float ms = 0, ms1 = 0;
            CK(cudaSetDevice(0));
            CK(cudaEventSynchronize(side[0].b));
            CK(cudaEventElapsedTime(&ms, side[0].a, side[0].b));
            if (both) {
              CK(cudaSetDevice(1));
              CK(cudaEventSynchronize(side[1].b));
              CK(cudaEventElapsedTime(&ms1, side[1].a, side[1].b));
              ms = std::max(ms, ms1);
            }
            if (r >= warm) t.push_back(ms);
          }
          std::sort(t.begin(), t.end());
          const double med = t[t.size() / 2], mb = (double)tiles * kTileBytes / 1e6;
          printf("%-5s %-6s %-10s %7d %9.2f %9.4f %9.1f\n", kName[m], target ? "own" : "peer",
                 both ? "both-ways" : "one-way", tiles, mb, med, mb / 1e3 / (med / 1e3));
        }
  // Check that both kernels wrote every row: the peer's buffer after the bulk kernel.
  {
    const int tiles = 2112;
    std::vector<uint4> h((size_t)tiles * kTileBytes / 16);
    for (int m = 0; m < 2; m++) {
      CK(cudaSetDevice(1));
      CK(cudaMemset(own[1], 0, bytes));
      CK(cudaDeviceSynchronize());
      side[0].dst = own[1];
      launch(side[0], (Method)m, tiles, sms);
      CK(cudaSetDevice(0));
      CK(cudaStreamSynchronize(side[0].s));
      CK(cudaSetDevice(1));
      CK(cudaMemcpy(h.data(), own[1], h.size() * 16, cudaMemcpyDeviceToHost));
      size_t zero = 0;
      for (const uint4 &v : h) zero += (v.z != 7u || v.w != 9u);
      printf("# check %s: %zu of %zu chunks not written\n", kName[m], zero, h.size());
      if (zero) return 1;
    }
  }
  return 0;
}
