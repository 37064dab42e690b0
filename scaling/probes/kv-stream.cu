// How fast can the GPU stream a GQA decode's K and V, and how fast through sm90's TMA ring?
//
// A probe, not part of the library. On one H200 the folded decode (B x H=32, Hk=8, 8192 keys,
// D=128) read its K and V at 4.0-4.14 TB/s where cuDNN read them at 4.47; halving the
// products changed nothing (scaling/results/history/session-27933b9/, call 2), so the stream
// itself was in question. This reads the same tensors, K and V of B x 8192 x 8 x D bf16 in
// BSHD (a key's row of one KV head, 8 rows apart), in several ways, and prints each one's
// median TB/s over `reps` runs (CUDA events). What it found (session-8474796/, calls 1 and
// 6): the library's maps promoted L2 fills by 256 bytes, and with 128 bytes or none the TMA
// ring reads as fast as plain loads in order; the exact softmax's maps have 128 since.
//   ld-flat        every 16 bytes of K and V by plain loads, grid-stride (reads alone);
//   ld-rows        one CTA a (sequence, KV head) as the decode's tiles: its 8192 keys' 256
//                  bytes of K and V by plain 16-byte loads, 4 a thread in flight;
//   ld-heads       the same over BHSD memory (a KV head's keys one contiguous run, as
//                  scaling/sdpa_peers.py gives PyTorch);
//   tma S R        one CTA a (sequence, KV head): one thread issues K and V boxes of R keys x
//                  64 columns (two a tensor) into a ring of S stages, as the sm90 kernel does,
//                  and 4 warps wait for each stage and release it, no arithmetic; as many
//                  CTAs an SM as the shared memory holds (printed);
//   tma-bhsd S R   the same over BHSD memory;
//   tma-ef S R     the same (BSHD) with an L2 evict-first hint on every copy;
//   tma/P S R      P CTAs a (sequence, KV head), each streaming 8192 / P of its keys;
//   tma-pN, -p128  the maps' L2 promotion none or 128 bytes (the library's K/V maps had 256);
//   tma-w S R      one box of R keys x 128 columns a tensor (no swizzle) instead of two;
//   bulk-bhsd S R  BHSD memory by one plain bulk copy (cp.async.bulk, no tensor map) of R rows
//                  contiguous bytes a tensor and tile.
// (scaling/results/history/session-27933b9/, call 5, ran the first four kinds of ring on an H200.)
// Build (from the repository root):
//   nvcc -O2 -std=c++17 -arch=sm_90a -Ic/include scaling/probes/kv-stream.cu -o build/kv-stream
// Run: build/kv-stream [batch] [reps] [head dim: 128 (default) or 64]
// At D=64 the modes are ld-flat and the rings (each key's row of a KV head is 128 bytes, 1 KB
// from the next; one 64-column box a tile), without ld-rows, ld-heads and tma-w.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include "probe.h"
#include "../../kernels/common/ptx_sm90.cuh"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int kKeys = 8192, kHeads = 8, kDim = 128, kRowBytes = kDim * 2;  // ld-rows, ld-heads: D=128

// A value the loads feed, stored only where it can never match, so no load is dropped.
__device__ __forceinline__ void keep(uint32_t acc, uint32_t *sink) {
  if (acc == 0x9e3779b9u) sink[threadIdx.x] = acc;
}

__global__ void ld_flat(const uint4 *k, const uint4 *v, size_t n, uint32_t *sink) {
  uint32_t acc = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const uint4 a = __ldcs(k + i), b = __ldcs(v + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w;
  }
  keep(acc, sink);
}

// blockIdx.x = b * kHeads + hk; 256 threads: 16 keys of 16 lanes each a step, 4 steps unrolled.
__global__ void __launch_bounds__(256) ld_rows(const uint4 *k, const uint4 *v, uint32_t *sink) {
  const int b = blockIdx.x / kHeads, hk = blockIdx.x % kHeads;
  const int lane16 = threadIdx.x % 16, key0 = threadIdx.x / 16;
  const size_t row_stride = (size_t)kHeads * kRowBytes / 16;  // in uint4
  const size_t base = (size_t)b * kKeys * row_stride + (size_t)hk * kRowBytes / 16 + lane16;
  uint32_t acc = 0;
  for (int s = key0; s < kKeys; s += 64) {
    uint4 a[4], c[4];
#pragma unroll
    for (int j = 0; j < 4; j++) a[j] = __ldcs(k + base + (size_t)(s + 16 * j) * row_stride);
#pragma unroll
    for (int j = 0; j < 4; j++) c[j] = __ldcs(v + base + (size_t)(s + 16 * j) * row_stride);
#pragma unroll
    for (int j = 0; j < 4; j++) acc ^= a[j].x ^ a[j].w ^ c[j].y ^ c[j].z;
  }
  keep(acc, sink);
}

// ld_rows over BHSD memory: a head's 8192 keys are 2 MB in one run.
__global__ void __launch_bounds__(256) ld_heads(const uint4 *k, const uint4 *v, uint32_t *sink) {
  const size_t base = (size_t)blockIdx.x * kKeys * kRowBytes / 16;  // blockIdx.x = b * kHeads + hk
  const size_t n = (size_t)kKeys * kRowBytes / 16;
  uint32_t acc = 0;
  for (size_t i = threadIdx.x; i < n; i += 4 * 256) {
    uint4 a[4], c[4];
#pragma unroll
    for (int j = 0; j < 4; j++) a[j] = __ldcs(k + base + i + 256 * j);
#pragma unroll
    for (int j = 0; j < 4; j++) c[j] = __ldcs(v + base + i + 256 * j);
#pragma unroll
    for (int j = 0; j < 4; j++) acc ^= a[j].x ^ a[j].w ^ c[j].y ^ c[j].z;
  }
  keep(acc, sink);
}

// tma_load_4d with an L2 cache policy (createpolicy's 64-bit value).
__device__ __forceinline__ void tma_load_4d_hint(void *dst, const void *map, uint64_t *bar, int c0, int c1, int c2,
                                                 int c3, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1, {%3, %4, %5, %6}], [%2], %7;\n" ::"r"(fc::smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(fc::smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "l"(policy)
      : "memory");
}

// A plain bulk copy of `bytes` contiguous bytes into shared memory, completing on `bar`.
__device__ __forceinline__ void bulk_load(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   fc::smem_addr(dst)),
               "l"(src), "r"(bytes), "r"(fc::smem_addr(bar))
               : "memory");
}

// 160 threads: warp 0 lane 0 produces, warps 1-4 consume. Dynamic shared memory: the ring of
// S stages of K and V (R x 256 bytes each), 1024-byte aligned, then the barriers. `parts` CTAs
// share a (sequence, KV head), blockIdx.x = (b * kHeads + hk) * parts + part, each streaming
// kKeys / parts keys; evict_first: every copy carries an L2 evict-first policy; boxes: copies a
// tensor and tile of 64 columns each (dim / 64), or wide: one box of all 128; k_flat, v_flat: when
// set, BHSD memory read by plain bulk copies instead of the maps; row_bytes: 2 x the head dim.
__global__ void __launch_bounds__(160) tma_ring(const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv,
                                                int stages, int rows, int parts, int evict_first, int boxes, int wide,
                                                const unsigned char *k_flat, const unsigned char *v_flat, int row_bytes,
                                                uint32_t *sink) {
  extern __shared__ unsigned char raw[];
  unsigned char *ring = raw + ((1024 - (fc::smem_addr(raw) & 1023)) & 1023);
  const int tile_bytes = rows * row_bytes;  // one tensor's tile
  uint64_t *full = reinterpret_cast<uint64_t *>(ring + (size_t)stages * 2 * tile_bytes);
  uint64_t *empty = full + stages;
  if (threadIdx.x == 0) {
    for (int i = 0; i < stages; i++) fc::mbar_init(&full[i], 1), fc::mbar_init(&empty[i], 4);
    fc::mbar_init_fence();
  }
  __syncthreads();
  const int pair = blockIdx.x / parts, part = blockIdx.x % parts;
  const int b = pair / kHeads, hk = pair % kHeads;
  const int keys = kKeys / parts, first = part * keys;
  const int tiles = (keys + rows - 1) / rows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (warp == 0) {
    if (lane != 0) return;
    fc::tma_prefetch_map(&tk);
    fc::tma_prefetch_map(&tv);
    uint64_t policy = 0;
    if (evict_first) asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    for (int it = 0; it < tiles; it++) {
      const int st = it % stages;
      if (it >= stages) fc::mbar_wait(&empty[st], ((it / stages) & 1) ^ 1);
      fc::mbar_expect_tx(&full[st], 2 * tile_bytes);
      unsigned char *kt = ring + (size_t)st * 2 * tile_bytes, *vt = kt + tile_bytes;
      const int row = first + it * rows;
      if (k_flat) {
        const size_t off = ((size_t)pair * kKeys + row) * row_bytes;
        bulk_load(kt, k_flat + off, tile_bytes, &full[st]);
        bulk_load(vt, v_flat + off, tile_bytes, &full[st]);
        continue;
      }
      if (wide) {
        fc::tma_load_4d(kt, &tk, &full[st], 0, row, hk, b);
        fc::tma_load_4d(vt, &tv, &full[st], 0, row, hk, b);
        continue;
      }
      for (int c = 0; c < boxes; c++) {
        if (evict_first) {
          tma_load_4d_hint(kt + c * rows * 128, &tk, &full[st], c * 64, row, hk, b, policy);
          tma_load_4d_hint(vt + c * rows * 128, &tv, &full[st], c * 64, row, hk, b, policy);
        } else {
          fc::tma_load_4d(kt + c * rows * 128, &tk, &full[st], c * 64, row, hk, b);
          fc::tma_load_4d(vt + c * rows * 128, &tv, &full[st], c * 64, row, hk, b);
        }
      }
    }
    return;
  }
  uint32_t acc = 0;
  for (int it = 0; it < tiles; it++) {
    const int st = it % stages;
    fc::mbar_wait(&full[st], (it / stages) & 1);
    acc ^= reinterpret_cast<const uint32_t *>(ring + (size_t)st * 2 * tile_bytes)[threadIdx.x];
    __syncwarp();
    if (lane == 0) fc::mbar_arrive(&empty[st]);
  }
  keep(acc, sink);
}

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  void *fn = nullptr;
  cudaDriverEntryPointQueryResult q;
  CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q));
  if (q != cudaDriverEntryPointSuccess || !fn) {
    fprintf(stderr, "no cuTensorMapEncodeTiled\n");
    exit(1);
  }
  return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
}

// The library's map of K or V: dims head_dim, keys, heads, batch; boxes of 64 x rows, 128-byte
// swizzle. bhsd: the tensor is [batch, heads, keys, head_dim] memory; promo: the L2 promotion;
// wide: boxes of all 128 columns, no swizzle.
// A map the driver refuses is reported and left zero (its mode is then skipped).
CUtensorMap kv_map(void *ptr, int batch, int dim, int rows, bool bhsd, CUtensorMapL2promotion promo, bool wide,
                   bool *ok) {
  CUtensorMap m;
  const cuuint64_t row_bytes = 2 * (cuuint64_t)dim;
  cuuint64_t dims[4] = {(cuuint64_t)dim, kKeys, kHeads, (cuuint64_t)batch};
  cuuint64_t strides[3] = {kHeads * row_bytes, row_bytes, kKeys * kHeads * row_bytes};
  if (bhsd) strides[0] = row_bytes, strides[1] = kKeys * row_bytes;
  cuuint32_t box[4] = {wide ? 128u : 64u, (cuuint32_t)rows, 1, 1}, es[4] = {1, 1, 1, 1};
  CUresult r = encoder()(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, ptr, dims, strides, box, es,
                         CU_TENSOR_MAP_INTERLEAVE_NONE, wide ? CU_TENSOR_MAP_SWIZZLE_NONE : CU_TENSOR_MAP_SWIZZLE_128B,
                         promo, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    fprintf(stderr, "cuTensorMapEncodeTiled: CUresult %d (rows %d%s)\n", (int)r, rows, wide ? ", wide" : "");
    *ok = false;
  }
  return m;
}

template <typename F> double median_tbps(F launch, double bytes, int reps) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < 2; i++) launch();
  CK(cudaGetLastError());
  std::vector<double> t;
  for (int i = 0; i < reps; i++) {
    CK(cudaEventRecord(a));
    launch();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  CK(cudaGetLastError());
  std::sort(t.begin(), t.end());
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  return bytes / (t[t.size() / 2] * 1e-3) / 1e12;
}

}  // namespace

int main(int argc, char **argv) {
  const int batch = argc > 1 ? atoi(argv[1]) : 64, reps = argc > 2 ? atoi(argv[2]) : 20;
  const int dim = argc > 3 ? atoi(argv[3]) : kDim, row_bytes = 2 * dim;
  if (batch < 1 || batch > 256 || reps < 1 || (dim != 64 && dim != 128)) {
    fprintf(stderr, "usage: kv-stream [batch 1..256] [reps >= 1] [head dim 64 or 128]\n");
    return 2;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const size_t tensor = (size_t)batch * kKeys * kHeads * row_bytes;
  const double bytes = 2.0 * (double)tensor;
  void *k = nullptr, *v = nullptr;
  uint32_t *sink = nullptr;
  CK(cudaMalloc(&k, tensor));
  CK(cudaMalloc(&v, tensor));
  CK(cudaMalloc(&sink, 1024 * sizeof(uint32_t)));
  CK(cudaMemset(k, 1, tensor));
  CK(cudaMemset(v, 2, tensor));
  printf("# %s, %d SMs; K and V of B=%d x %d keys x %d KV heads x D=%d bf16 (%.2f GB read), median of %d\n",
         prop.name, prop.multiProcessorCount, batch, kKeys, kHeads, dim, bytes / 1e9, reps);
  printf("%-20s %8s %8s\n", "mode", "TB/s", "CTAs/SM");
  const int ctas = batch * kHeads;
  const size_t n16 = tensor / 16;
  printf("%-20s %8.3f %8s\n", "ld-flat",
         median_tbps([&] { ld_flat<<<prop.multiProcessorCount * 8, 256>>>((const uint4 *)k, (const uint4 *)v, n16, sink); },
                     bytes, reps),
         "8");
  int occ = 0;
  if (dim == kDim) {
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, ld_rows, 256, 0));
    printf("%-20s %8.3f %8d\n", "ld-rows",
           median_tbps([&] { ld_rows<<<ctas, 256>>>((const uint4 *)k, (const uint4 *)v, sink); }, bytes, reps), occ);
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, ld_heads, 256, 0));
    printf("%-20s %8.3f %8d\n", "ld-heads",
           median_tbps([&] { ld_heads<<<ctas, 256>>>((const uint4 *)k, (const uint4 *)v, sink); }, bytes, reps), occ);
  }
  // stages, keys a tile, CTAs a (sequence, KV head), BHSD memory, evict-first, L2 promotion
  // (0: 256 bytes, 1: none, 2: 128 bytes), kind (0: two swizzled boxes, 1: one wide box, 2: bulk)
  const int rings[][7] = {{2, 176, 1, 0, 0, 0, 0}, {2, 128, 1, 0, 0, 0, 0}, {3, 128, 1, 0, 0, 0, 0}, {4, 128, 1, 0, 0, 0, 0},
                          {2, 64, 1, 0, 0, 0, 0},  {4, 64, 1, 0, 0, 0, 0},  {6, 64, 1, 0, 0, 0, 0},  {8, 64, 1, 0, 0, 0, 0},
                          {4, 32, 1, 0, 0, 0, 0},  {8, 32, 1, 0, 0, 0, 0},  {2, 176, 1, 1, 0, 0, 0}, {4, 64, 1, 1, 0, 0, 0},
                          {2, 176, 1, 0, 1, 0, 0}, {4, 64, 1, 0, 1, 0, 0},  {2, 64, 2, 0, 0, 0, 0},  {2, 64, 4, 0, 0, 0, 0},
                          {3, 32, 4, 0, 0, 0, 0},  {2, 64, 4, 1, 0, 0, 0},  {2, 176, 1, 0, 0, 1, 0}, {2, 176, 1, 0, 0, 2, 0},
                          {4, 64, 1, 0, 0, 1, 0},  {2, 176, 1, 1, 0, 1, 0}, {2, 176, 1, 0, 0, 0, 1}, {4, 64, 1, 0, 0, 0, 1},
                          {2, 176, 1, 1, 0, 0, 2}, {4, 64, 1, 1, 0, 0, 2},  {8, 32, 1, 1, 0, 0, 2},  {2, 64, 4, 1, 0, 0, 2},
                          {2, 128, 1, 0, 0, 2, 0}, {4, 128, 1, 0, 0, 2, 0}, {6, 128, 1, 0, 0, 2, 0}, {2, 128, 1, 0, 0, 1, 0},
                          {2, 128, 1, 1, 0, 2, 0}, {4, 256, 1, 0, 0, 2, 0}, {2, 128, 2, 0, 0, 2, 0}, {4, 64, 1, 0, 0, 2, 0}};
  const CUtensorMapL2promotion promos[3] = {CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                                            CU_TENSOR_MAP_L2_PROMOTION_L2_128B};
  const char *promo_names[3] = {"", "-pN", "-p128"};
  for (const auto &cfg : rings) {
    const int stages = cfg[0], rows = cfg[1], parts = cfg[2], bhsd = cfg[3], ef = cfg[4], promo = cfg[5], kind = cfg[6];
    const int smem = stages * 2 * rows * row_bytes + 2 * stages * 8 + 1024;
    if (smem > (int)prop.sharedMemPerBlockOptin || (kind == 1 && dim != 128)) continue;
    CK(cudaFuncSetAttribute(tma_ring, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, tma_ring, 160, smem));
    bool ok = true;
    const CUtensorMap tk = kv_map(k, batch, dim, rows, bhsd, promos[promo], kind == 1, &ok),
                      tv = kv_map(v, batch, dim, rows, bhsd, promos[promo], kind == 1, &ok);
    if (!ok) continue;
    const unsigned char *kf = kind == 2 ? (const unsigned char *)k : nullptr, *vf = kind == 2 ? (const unsigned char *)v : nullptr;
    char name[40], split[8] = "";
    if (parts > 1) snprintf(split, sizeof split, "/%d", parts);
    snprintf(name, sizeof name, "%s%s%s%s%s %d x %d", kind == 2 ? "bulk" : kind == 1 ? "tma-w" : "tma",
             bhsd ? "-bhsd" : "", ef ? "-ef" : "", promo_names[promo], split, stages, rows);
    printf("%-20s %8.3f %8d\n", name,
           median_tbps([&] {
             tma_ring<<<ctas * parts, 160, smem>>>(tk, tv, stages, rows, parts, ef, dim / 64, kind == 1, kf, vf, row_bytes, sink);
           },
                       bytes, reps),
           occ);
  }
  CK(cudaFree(k));
  CK(cudaFree(v));
  CK(cudaFree(sink));
  return 0;
}
