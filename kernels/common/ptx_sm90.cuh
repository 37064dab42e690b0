// Thin wrappers, one per PTX instruction the sm90 family uses besides wgmma itself (see
// kernels/sm90/wgmma.cuh): mbarriers, the tensor memory accelerator (TMA), the fences between
// the generic and async proxies, warpgroup register reallocation and named barriers.
// Everything here needs sm_90; setmaxnreg needs sm_90a.
#pragma once

#include <stdint.h>

#include "ptx_sm80.cuh"  // smem_addr, pack2, quad reductions

namespace fc {

// ---- mbarrier: a 64-bit shared-memory barrier that counts arrivals and expected bytes ------
__device__ __forceinline__ void mbar_init(uint64_t *bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
}
// Makes the initialisations visible to the async proxy (TMA) before anyone uses them.
__device__ __forceinline__ void mbar_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// One arrival that also announces `bytes` the TMA will deliver in this phase.
__device__ __forceinline__ void mbar_expect_tx(uint64_t *bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t *bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
// The start of an asm block whose instructions only lane 0 of the warp runs (predicate
// `first`), the lane tested inside the asm. A `lane == 0` branch is control flow the compiler
// cannot prove uniform, and placed before a main loop it moved the loop's descriptor
// arithmetic off the uniform datapath.
#define FC_LANE0_ASM_BEGIN    \
  "{\n"                       \
  ".reg .u32 lane;\n"         \
  ".reg .pred first;\n"       \
  "mov.u32 lane, %%laneid;\n" \
  "setp.eq.u32 first, lane, 0;\n"
// A slot handed over through shared memory, taken by lane 0 of the calling warp: it reads the
// slot's 16 bytes and a word beside them (`extra`, into x; the other lanes get zeros) and then
// arrives on the slot's empty barrier. The read and the arrive on one thread:
// compute-sanitizer's racecheck reported every lane reading, then lane 0 arriving after
// __syncwarp, as a hazard against the producer's next write of the slot.
__device__ __forceinline__ int4 take_slot_lane0(const int4 *slot, const int *extra, uint64_t *empty, int &x) {
  int4 v;
  asm volatile(
      FC_LANE0_ASM_BEGIN
      "mov.b32 %0, 0;\n"
      "mov.b32 %1, 0;\n"
      "mov.b32 %2, 0;\n"
      "mov.b32 %3, 0;\n"
      "mov.b32 %4, 0;\n"
      "@first ld.shared.v4.s32 {%0, %1, %2, %3}, [%5];\n"
      "@first ld.shared.s32 %4, [%6];\n"
      "@first mbarrier.arrive.shared::cta.b64 _, [%7];\n"
      "}\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w), "=r"(x)
      : "r"(smem_addr(slot)), "r"(smem_addr(extra)), "r"(smem_addr(empty))
      : "memory");
  return v;
}
// Global-memory flags between CTAs: a load that acquires and a store that releases, at GPU scope.
__device__ __forceinline__ unsigned int ld_acquire_gpu(const unsigned int *p) {
  unsigned int v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_release_gpu(unsigned int *p, unsigned int v) {
  asm volatile("st.release.gpu.global.u32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}
// Lane 0 of the calling warp compares and swaps (relaxed, GPU scope) and gets the old value;
// the other lanes get 0.
__device__ __forceinline__ unsigned int atom_cas_lane0(unsigned int *p, unsigned int cmp, unsigned int v) {
  unsigned int old;
  asm volatile(
      FC_LANE0_ASM_BEGIN
      "mov.b32 %0, 0;\n"
      "@first atom.relaxed.gpu.global.cas.b32 %0, [%1], %2, %3;\n"
      "}\n"
      : "=r"(old)
      : "l"(p), "r"(cmp), "r"(v)
      : "memory");
  return old;
}
// Waits until the phase with parity `parity` has completed.
__device__ __forceinline__ void mbar_wait(uint64_t *bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

// ---- TMA: a 4-D tile (dims innermost first) into shared memory, completing on an mbarrier --
__device__ __forceinline__ void tma_load_4d(void *dst, const void *tensor_map, uint64_t *bar,
                                            int c0, int c1, int c2, int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(tensor_map)), "r"(smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2),
      "r"(c3)
      : "memory");
}
// The same for a 5-D map.
__device__ __forceinline__ void tma_load_5d(void *dst, const void *tensor_map, uint64_t *bar,
                                            int c0, int c1, int c2, int c3, int c4) {
  asm volatile(
      "cp.async.bulk.tensor.5d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%3, %4, %5, %6, %7}], [%2];\n" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(tensor_map)), "r"(smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2),
      "r"(c3), "r"(c4)
      : "memory");
}
// ---- TMA: a 4-D tile from shared memory out to global memory (bulk async-group) ----------
// Elements outside the tensor are not written. Writes to shared memory before it need
// fence_proxy_async() in each writing thread and a barrier; the issuing thread commits the
// group and, before the buffer is written again or the CTA exits, waits for its reads.
__device__ __forceinline__ void tma_store_4d(const void *tensor_map, const void *src, int c0, int c1, int c2,
                                             int c3) {
  asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(tensor_map)),
               "r"(smem_addr(src)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// Waits until this thread's committed bulk stores have read their shared memory.
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
// Waits until this thread's committed bulk stores are complete: their writes are visible to
// this thread, so a release by it (after fence_proxy_async_global()) covers them.
__device__ __forceinline__ void bulk_wait() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
// Fetches the 128-byte tensor map (a kernel parameter) ahead of the first copy.
__device__ __forceinline__ void tma_prefetch_map(const void *tensor_map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(tensor_map))
               : "memory");
}

// ---- proxies, registers, barriers -----------------------------------------------------------
// Ordinary shared-memory writes that the tensor cores or TMA read next need this in each
// writing thread before the barrier that publishes them.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// The same between the async proxy's writes to global memory (completed bulk stores) and
// this thread's generic accesses after it.
__device__ __forceinline__ void fence_proxy_async_global() {
  asm volatile("fence.proxy.async.global;\n" ::: "memory");
}
// Warpgroup register reallocation: producers give registers back, consumers take them.
template <int N> __device__ __forceinline__ void regs_dealloc() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void regs_alloc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
// Barrier among `threads` threads (a multiple of 32) on hardware barrier `id` (1..15; 0 is
// __syncthreads).
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// ---- wgmma shared-memory matrix descriptor, 128-byte swizzle --------------------------------
// The tile is stored as the TMA writes it with CU_TENSOR_MAP_SWIZZLE_128B: rows of 64
// 16-bit elements (128 bytes), 8-row atoms of 1024 bytes (which must be 1024-byte aligned).
// K-major operands (Q, K): stride byte offset = 1024 between 8-row groups; the leading offset
// is unused. MN-major operands (V): leading offset = the distance between 64-column blocks,
// stride offset = 1024 between 8-row groups along K. Offsets are encoded in 16-byte units.
__device__ __forceinline__ uint64_t smem_desc_sw128(const void *tile, uint32_t lead_bytes) {
  const uint64_t addr = smem_addr(tile);
  return ((addr & 0x3FFFF) >> 4) | ((uint64_t)((lead_bytes & 0x3FFFF) >> 4) << 16) |
         ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

// The descriptor of the same tile `bytes` further on: the start address is the low 14 bits
// in 16-byte units, and an address that stays inside shared memory (< 256 KB) never carries
// out of them. One 64-bit descriptor per warpgroup then serves every k-step as an immediate
// add, where a descriptor per k-step held 2 registers each.
__device__ __forceinline__ uint64_t desc_advance(uint64_t desc, uint32_t bytes) { return desc + (bytes >> 4); }

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses to an accumulator across an async wgmma region.
__device__ __forceinline__ void reg_fence(float &r) { asm volatile("" : "+f"(r)::"memory"); }
__device__ __forceinline__ void reg_fence(uint32_t &r) { asm volatile("" : "+r"(r)::"memory"); }

}  // namespace fc
